//! DownTrack: one subscriber's view of a published Track.

use crate::core::forwarder::Forwarder;
use crate::core::ids::TrackId;
use crate::core::stats::DownTrackCounters;
use rtc::rtp_transceiver::RTCRtpSenderId;

/// A subscription: the sender in the subscriber's session and the Forwarder that feeds it.
pub struct DownTrack {
    /// The published track this forwards.
    pub track: TrackId,
    pub(crate) sender_id: RTCRtpSenderId,
    /// Id of the local track in the subscriber's session (how RTCP from it is addressed).
    pub(crate) local_track_id: String,
    /// The sequence/timestamp rewriting state.
    pub forwarder: Forwarder,
    /// The payload type the subscriber negotiated for the codec; unknown until its answer.
    pub(crate) out_pt: Option<u8>,
    /// Live counters.
    pub counters: DownTrackCounters,
}
