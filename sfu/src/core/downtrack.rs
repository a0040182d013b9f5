//! DownTrack: one subscriber's view of a published Track.

use crate::core::forwarder::Forwarder;
use crate::core::ids::SessionId;
use crate::core::stats::{BitrateMeter, DownTrackCounters};

/// A DownTrack's handle: an index, so that the media path finds it without hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DownTrackKey(pub(crate) usize);

/// A subscription: the subscriber's session, and the Forwarder that numbers what it sends.
pub struct DownTrack {
    pub(crate) session: SessionId,
    /// The sequence/timestamp rewriting state.
    pub(crate) forwarder: Forwarder,
    /// The payload type the subscriber negotiated for the codec; unknown until the exchange
    /// that gives this DownTrack its sending m-section has completed.
    pub(crate) out_pt: Option<u8>,
    pub(crate) counters: DownTrackCounters,
    pub(crate) bitrate: BitrateMeter,
}

use crate::core::forwarder::{Decision, DropReason, PacketInfo};
use std::time::Instant;

/// One subscriber's share of forwarding a packet: its forwarder's decision, and the packet
/// under the header it gets, with payload type `pt`. A drop is counted on `counters` and
/// returned; what is sent is for the caller to count once it is sent. Public so that the
/// allocation test exercises this very function.
pub fn forward_to(
    forwarder: &mut Forwarder,
    counters: &mut DownTrackCounters,
    pkt: &rtc::rtp::Packet,
    info: &PacketInfo,
    pt: u8,
    now: Instant,
) -> Result<rtc::rtp::Packet, DropReason> {
    match forwarder.forward(info, now) {
        Decision::Drop(reason) => {
            counters.record_drop(reason);
            Err(reason)
        }
        Decision::Forward(rw) => Ok(rewritten(pkt, pt, rw.ssrc, rw.seq, rw.timestamp)),
    }
}

/// The packet as one subscriber receives it: the shared payload under a rewritten header.
/// Header extensions are not forwarded, since their ids are negotiated per session.
/// Public so that the allocation test and the benchmarks exercise this very function.
pub fn rewritten(
    pkt: &rtc::rtp::Packet,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            padding: false,
            extension: false,
            marker: pkt.header.marker,
            payload_type,
            sequence_number: seq,
            timestamp,
            ssrc,
            csrc: Vec::new(),
            extension_profile: 0,
            extensions: Vec::new(),
            extensions_padding: 0,
        },
        payload: pkt.payload.clone(),
    }
}
