//! Feedback from subscribers: keyframe requests go to the publisher, NACKs are answered from
//! the track's retransmission cache, transport-wide feedback goes to the send path, and
//! receiver reports give the round-trip time.

use super::Sfu;
use crate::core::ids::SessionId;
use crate::core::stats::{ntp_time, rtt_from_report};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use std::time::Instant;

impl Sfu {
    /// RTCP addressed to one of the session's local tracks (`local_track`). Feedback about
    /// what the session publishes (sender reports and the like) needs no action here.
    pub(super) fn on_rtcp(
        &mut self,
        id: SessionId,
        local_track: &str,
        packets: &[Box<dyn rtc::rtcp::Packet>],
        now: Instant,
    ) {
        self.note_rtt(id, packets, now);
        for fb in packets
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<TransportLayerCc>())
        {
            self.sendpath.handle_feedback(id, fb, now);
        }
        let Some(tid) = self
            .sessions
            .get(id)
            .and_then(|s| s.subscription_of(local_track))
        else {
            return;
        };
        for packet in packets {
            let any = packet.as_any();
            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                self.request_keyframe_for(id, tid, now);
            } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                let seqs = nack.nacks.iter().flat_map(|pair| *pair);
                self.tracks
                    .retransmit(id, tid, seqs, now, &mut self.sendpath);
            }
        }
    }

    /// Keeps the session's latest round-trip time from the receiver reports it sends about
    /// our sender reports.
    fn note_rtt(&mut self, id: SessionId, packets: &[Box<dyn rtc::rtcp::Packet>], now: Instant) {
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
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        for r in reports {
            if let Some(rtt) = rtt_from_report(now_ntp, r.last_sender_report, r.delay) {
                s.rtt = Some(rtt);
            }
        }
    }
}
