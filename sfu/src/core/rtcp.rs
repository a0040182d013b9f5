//! Feedback from subscribers: keyframe requests go to the publisher, NACKs are answered from
//! the track's retransmission cache.

use crate::core::PKey;
use crate::core::forward::rewritten;
use crate::core::sfu::Sfu;
use crate::core::stats::{ntp_time, rtt_from_report};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use std::time::Instant;

impl Sfu {
    /// RTCP addressed to one of the session's local tracks (`track_id`). Feedback about what
    /// the session publishes (sender reports and the like) needs no action here.
    pub(crate) fn on_rtcp(
        &mut self,
        key: PKey,
        track_id: &str,
        packets: &[Box<dyn rtc::rtcp::Packet>],
        now: Instant,
    ) {
        self.note_rtt(key, packets, now);
        let Some(&tid) = self
            .participants
            .get(&key)
            .and_then(|p| p.by_local_track.get(track_id))
        else {
            return;
        };
        for packet in packets {
            let any = packet.as_any();
            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                self.request_keyframe(tid, now);
            } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                self.answer_nack(key, tid, nack, now);
            }
        }
    }

    /// Keeps the session's latest round-trip time from the receiver reports it sends about
    /// our sender reports.
    fn note_rtt(&mut self, key: PKey, packets: &[Box<dyn rtc::rtcp::Packet>], now: Instant) {
        let mut reports = packets
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<ReceiverReport>())
            .flat_map(|rr| &rr.reports)
            .peekable();
        // Most feedback (PLI, NACK) carries no report: no clock reading for it.
        if reports.peek().is_none() {
            return;
        }
        let now_ntp = ntp_time(self.config.wall_clock(now));
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        for r in reports {
            if let Some(rtt) = rtt_from_report(now_ntp, r.last_sender_report, r.delay) {
                p.rtt = Some(rtt);
            }
        }
    }

    fn answer_nack(
        &mut self,
        key: PKey,
        tid: crate::core::ids::TrackId,
        nack: &TransportLayerNack,
        now: Instant,
    ) {
        let (Some(p), Some(track)) = (self.participants.get_mut(&key), self.tracks.get_mut(&tid))
        else {
            return;
        };
        let Some(dt) = p.downtracks.get_mut(&tid) else {
            return;
        };
        let Some(pt) = dt.out_pt else {
            return;
        };
        for pair in &nack.nacks {
            for out_seq in *pair {
                track.counters.nacks += 1;
                let Some((src_ssrc, src_seq)) = dt.forwarder.source_seq(out_seq) else {
                    continue;
                };
                let Some(orig) = track.cache.get(src_seq, now) else {
                    continue;
                };
                if orig.header.ssrc != src_ssrc {
                    continue;
                }
                let ts = dt.forwarder.out_timestamp(orig.header.timestamp);
                let out = rewritten(orig, pt, dt.forwarder.out_ssrc(), out_seq, ts);
                if let Some(mut sender) = p.pc.rtp_sender(dt.sender_id())
                    && sender.write_rtp(now, out).is_ok()
                {
                    track.counters.retransmits += 1;
                }
            }
        }
        self.push_transmits(key);
    }
}
