//! Errors the media plane reports to its caller.

use crate::core::ids::{ParticipantId, RoomId};

/// What went wrong with a command from the signaling layer.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The participant id is already in use.
    #[error("participant {0} already exists")]
    ParticipantExists(ParticipantId),
    /// No participant with that id.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    /// No room with that name.
    #[error("unknown room {0}")]
    UnknownRoom(RoomId),
    /// The session description could not be parsed or applied.
    #[error("bad session description: {0}")]
    BadSdp(String),
    /// The ICE candidate could not be parsed or applied.
    #[error("bad ICE candidate: {0}")]
    BadCandidate(String),
    /// The session description is larger than the SFU accepts.
    #[error("session description too large ({0} bytes)")]
    SdpTooLarge(usize),
    /// The WebRTC stack refused an operation.
    #[error("webrtc: {0}")]
    Rtc(String),
    /// The media worker has stopped.
    #[error("the media worker is not running")]
    WorkerGone,
}

impl SfuError {
    /// A stable, machine-readable code for the error, for signaling acks.
    pub fn code(&self) -> &'static str {
        match self {
            SfuError::ParticipantExists(_) => "participant-exists",
            SfuError::UnknownParticipant(_) => "unknown-participant",
            SfuError::UnknownRoom(_) => "unknown-room",
            SfuError::BadSdp(_) => "bad-sdp",
            SfuError::BadCandidate(_) => "bad-candidate",
            SfuError::SdpTooLarge(_) => "sdp-too-large",
            SfuError::Rtc(_) => "webrtc-error",
            SfuError::WorkerGone => "sfu-unavailable",
        }
    }
}

/// Converts any error of the WebRTC stack into [`SfuError::Rtc`].
pub(crate) fn rtc_err(e: impl std::fmt::Display) -> SfuError {
    SfuError::Rtc(e.to_string())
}
