//! DownTrack: one subscriber's view of a published Track.

use crate::core::forwarder::Forwarder;
use crate::core::ids::TrackId;
use crate::core::stats::DownTrackCounters;
use crate::core::track::Kind;
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverId};

/// A subscription: the sender in the subscriber's session and the Forwarder that feeds it.
pub struct DownTrack {
    /// The published track this forwards.
    pub track: TrackId,
    pub(crate) transceiver: RTCRtpTransceiverId,
    /// Id of the local track in the subscriber's session (how RTCP from it is addressed).
    pub(crate) local_track_id: String,
    /// The sequence/timestamp rewriting state.
    pub forwarder: Forwarder,
    /// The payload type the subscriber negotiated for the codec; unknown until the exchange
    /// that gives this DownTrack its sending m-section has completed.
    pub(crate) out_pt: Option<u8>,
    /// Live counters.
    pub counters: DownTrackCounters,
}

impl DownTrack {
    pub(crate) fn sender_id(&self) -> RTCRtpSenderId {
        RTCRtpSenderId::from(self.transceiver)
    }
}

/// The sending m-section of a subscription that ended, kept for the next subscription of the
/// same kind. The m-section goes inactive in the next exchange and, once that exchange is
/// done, carries the next track (RFC 8829 lets a session recycle an m-section): a session's
/// SDP then stays proportional to the tracks live now, however many came and went. The
/// Forwarder stays with it, so that the subscriber sees one continuous SSRC, sequence and
/// timestamp space on the m-section.
pub(crate) struct FreeSender {
    pub(crate) transceiver: RTCRtpTransceiverId,
    pub(crate) kind: Kind,
    pub(crate) forwarder: Forwarder,
    /// The first exchange that can have made the m-section inactive: the one that begins
    /// after it was freed.
    pub(crate) usable_from: u64,
}
