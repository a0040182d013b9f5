//! DownTrack: one subscriber's view of a published Track.

use crate::core::forwarder::{Decision, DropReason, Forwarder, PacketInfo};
use crate::core::ids::SessionId;
use crate::core::resend::ResendGuard;
use crate::core::sendpath::OutHeader;
use crate::core::stats::{BitrateMeter, DownTrackCounters};
use crate::core::vp8::Vp8Munger;
use std::time::Instant;

/// A DownTrack's handle: an index, so that the media path finds it without hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DownTrackKey(pub(crate) usize);

/// What the subscriber's session agreed for a DownTrack's m-section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The payload type of the forwarded codec.
    pub payload_type: u8,
    /// The id of the transport-wide sequence number extension, if negotiated.
    pub twcc_ext: Option<u8>,
}

/// A subscription: the subscriber's session, and the Forwarder that numbers what it sends.
pub struct DownTrack {
    pub(crate) session: SessionId,
    /// The sequence/timestamp rewriting state.
    pub(crate) forwarder: Forwarder,
    /// What the subscriber negotiated; unknown until the exchange that gives this DownTrack
    /// its sending m-section has completed.
    pub(crate) out: Option<Negotiated>,
    pub(crate) counters: DownTrackCounters,
    pub(crate) bitrate: BitrateMeter,
    /// Holds back repeated NACK answers.
    pub(crate) resend: ResendGuard,
    /// The subscriber does not show this video: nothing is sent until it does.
    pub(crate) hidden: bool,
    /// The layer of the track it forwards now, once one has started.
    pub(crate) layer: Option<usize>,
    /// The layer the allocator chose; forwarding moves to it on its next keyframe.
    pub(crate) target: usize,
    /// The VP8 picture numbering it sends, for a VP8 track.
    pub(crate) vp8: Option<Vp8Munger>,
}

impl DownTrack {
    /// Starts it again after a pause: from the next keyframe, numbered on from the last
    /// packet and picture sent.
    pub(crate) fn resume(&mut self) {
        self.forwarder.reassign();
        if let Some(m) = &mut self.vp8 {
            m.reassign();
        }
    }

    /// Whether a packet of layer `layer` is this subscriber's: of the layer it forwards, or
    /// of the one it is moving to.
    pub(crate) fn takes_layer(&self, layer: usize) -> bool {
        self.layer == Some(layer) || self.target == layer
    }
}

/// One subscriber's share of forwarding a packet: its forwarder's decision, and the header
/// it gets, with payload type `pt`. A drop is counted on `counters` and returned; what is sent
/// is for the caller to count once it is sent. Public so that the allocation test and the
/// benchmarks exercise this very function.
pub fn forward_to(
    forwarder: &mut Forwarder,
    counters: &mut DownTrackCounters,
    info: &PacketInfo,
    marker: bool,
    pt: u8,
    now: Instant,
) -> Result<OutHeader, DropReason> {
    match forwarder.forward(info, now) {
        Decision::Drop(reason) => {
            counters.record_drop(reason);
            Err(reason)
        }
        Decision::Forward(rw) => Ok(OutHeader {
            ssrc: rw.ssrc,
            seq: rw.seq,
            timestamp: rw.timestamp,
            payload_type: pt,
            marker,
        }),
    }
}
