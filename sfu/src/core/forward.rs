//! The media path: each publisher packet to every DownTrack, and keyframe requests upstream.

use crate::core::PKey;
use crate::core::forwarder::{Decision, DropReason, Forwarder, PacketInfo};
use crate::core::ids::TrackId;
use crate::core::participant::TransportState;
use crate::core::sfu::{Sfu, flush};
use crate::core::stats::DownTrackCounters;
use crate::core::track::Kind;
use rtc::shared::marshal::MarshalSize;
use std::time::Instant;
use tracing::debug;

impl Sfu {
    pub(crate) fn on_rtp(&mut self, key: PKey, pkt: rtc::rtp::Packet, now: Instant) {
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let Some(&tid) = p.by_ssrc.get(&pkt.header.ssrc) else {
            self.ingress.unknown_ssrc += 1;
            return;
        };
        let Some(track) = self.tracks.get_mut(&tid) else {
            return;
        };
        let len = pkt.header.marshal_size() + pkt.payload.len();
        track.record_incoming(pkt.header.sequence_number, len, now);
        let info = PacketInfo::of(&pkt, track.codec);
        let mut want_keyframe = false;
        if !track.forwarding {
            for sub in &track.subscribers {
                if let Some(dt) = self
                    .participants
                    .get_mut(sub)
                    .and_then(|sp| sp.downtracks.get_mut(&tid))
                {
                    dt.counters.dropped[DropReason::Paused.index()] += 1;
                }
            }
            track.cache.insert(pkt.header.sequence_number, now, pkt);
            return;
        }
        for sub in &track.subscribers {
            let Some(sp) = self.participants.get_mut(sub) else {
                continue;
            };
            let Some(dt) = sp.downtracks.get_mut(&tid) else {
                continue;
            };
            let Some(pt) = dt.out_pt.filter(|_| sp.state == TransportState::Connected) else {
                dt.counters.dropped[DropReason::NotNegotiated.index()] += 1;
                continue;
            };
            match forward_to(&mut dt.forwarder, &mut dt.counters, &pkt, &info, pt, now) {
                Err(reason) => want_keyframe |= reason == DropReason::WaitingForKeyframe,
                Ok(out) => {
                    let sent = out.payload.len() + 12;
                    let ok = sp
                        .pc
                        .rtp_sender(dt.sender_id())
                        .is_some_and(|mut sender| sender.write_rtp(now, out).is_ok());
                    if ok {
                        dt.counters.record_sent(sent, now);
                    } else {
                        dt.counters.dropped[DropReason::SendFailed.index()] += 1;
                    }
                    flush(&mut sp.pc, &mut self.transmits);
                }
            }
        }
        track.cache.insert(pkt.header.sequence_number, now, pkt);
        if want_keyframe {
            self.request_keyframe(tid, now);
        }
    }

    /// Asks the track's publisher for a keyframe, at most once per interval.
    pub(crate) fn request_keyframe(&mut self, tid: TrackId, now: Instant) {
        let due = self
            .tracks
            .get_mut(&tid)
            .is_some_and(|t| t.kind == Kind::Video && t.keyframes.handle_request(now));
        if due {
            self.send_pli(tid, now);
        }
    }

    pub(crate) fn send_pli(&mut self, tid: TrackId, now: Instant) {
        let Some(track) = self.tracks.get_mut(&tid) else {
            return;
        };
        let Some(p) = self.participants.get_mut(&track.owner) else {
            return;
        };
        track.counters.plis += 1;
        debug!(track = %tid, ssrc = track.ssrc, "PLI to the publisher");
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: track.ssrc,
        };
        if let Some(mut receiver) = p.pc.rtp_receiver(track.receiver_id)
            && let Err(e) = receiver.write_rtcp(now, vec![Box::new(pli)])
        {
            debug!(participant = %p.id, "PLI: {e}");
        }
        flush(&mut p.pc, &mut self.transmits);
    }

    pub(crate) fn push_transmits(&mut self, key: PKey) {
        if let Some(p) = self.participants.get_mut(&key) {
            flush(&mut p.pc, &mut self.transmits);
        }
    }
}

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
            counters.dropped[reason.index()] += 1;
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
