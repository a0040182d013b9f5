//! Transport-wide congestion control, sending side: every packet to a subscriber carries the
//! subscriber's next transport-wide sequence number, and its send time and size are kept, so
//! that the subscriber's feedback (which packets arrived, and when) can be matched to what was
//! sent: each status becomes a report (sent when, arrived when, how big) for the subscriber's
//! bandwidth estimate.

use rtc::interceptor::PacketReport;
use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, SymbolTypeTcc, TransportLayerCc,
};
use std::time::{Duration, Instant};

/// Packets remembered: several feedback intervals at any sensible rate per subscriber.
pub const HISTORY: usize = 2048;

/// One packet sent, as remembered for its feedback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentPacket {
    /// Its transport-wide sequence number.
    pub seq: u16,
    /// Its size on the wire.
    pub size: u16,
    /// When it was sent, in microseconds since the numbering started.
    pub at_us: u64,
    /// Whether a feedback has reported on it.
    pub reported: bool,
}

/// What the feedback has told, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackCounters {
    /// Transport-wide feedback packets read.
    pub feedbacks: u64,
    /// Packets a feedback reported as received.
    pub reported_received: u64,
    /// Packets a feedback reported as not received (they may still arrive later).
    pub reported_lost: u64,
    /// Statuses about packets that were not sent, or not recently: ignored.
    pub unknown: u64,
}

/// The numbering and send history of one subscriber's transport.
pub struct TransportSeq {
    next: u16,
    /// How many times the numbering wrapped, for the reports' ever-growing ids.
    wraps: u64,
    epoch: Instant,
    history: Vec<SentPacket>,
    counters: FeedbackCounters,
    /// The reports of the latest feedback, kept to reuse their room.
    reports: Vec<PacketReport>,
}

/// A TWCC reference time tick (the feedback's base arrival time counts these).
const REFERENCE_TICK_US: u64 = 64_000;

impl TransportSeq {
    /// Numbering from zero, its clock starting at `now`.
    pub fn new(now: Instant) -> TransportSeq {
        TransportSeq {
            next: 0,
            wraps: 0,
            epoch: now,
            history: vec![SentPacket::default(); HISTORY],
            counters: FeedbackCounters::default(),
            reports: Vec::with_capacity(HISTORY),
        }
    }

    /// The number of the next packet, which is then remembered as sent at `now` with `size`
    /// bytes.
    pub fn stamp(&mut self, now: Instant, size: usize) -> u16 {
        let seq = self.next;
        self.next = seq.wrapping_add(1);
        if self.next == 0 {
            self.wraps += 1;
        }
        self.history[usize::from(seq) % HISTORY] = SentPacket {
            seq,
            size: u16::try_from(size).unwrap_or(u16::MAX),
            at_us: micros(now.saturating_duration_since(self.epoch)),
            reported: false,
        };
        seq
    }

    /// The remembered packet numbered `seq`, if it is recent enough to be remembered.
    pub fn sent(&self, seq: u16) -> Option<&SentPacket> {
        let p = &self.history[usize::from(seq) % HISTORY];
        (p.seq == seq && self.is_recent(seq)).then_some(p)
    }

    /// Whether `seq` was sent, among the last [`HISTORY`] packets.
    fn is_recent(&self, seq: u16) -> bool {
        let behind = self.next.wrapping_sub(seq);
        behind >= 1 && usize::from(behind) <= HISTORY
    }

    /// Reads a feedback: each status about a recent packet is counted once, and becomes a
    /// report, in send order, which the returned slice holds until the next feedback.
    /// Statuses beyond the history are not looked at, so a feedback that claims 65,535
    /// statuses costs no more than one that claims [`HISTORY`].
    pub fn handle_feedback(&mut self, fb: &TransportLayerCc) -> &[PacketReport] {
        self.counters.feedbacks += 1;
        self.reports.clear();
        let count = usize::from(fb.packet_status_count).min(HISTORY);
        let mut arrival_us = i64::from(fb.reference_time) * REFERENCE_TICK_US as i64;
        let mut deltas = fb.recv_deltas.iter();
        for (i, received) in statuses(fb).take(count).enumerate() {
            let arrival = if received {
                arrival_us += deltas.next().map_or(0, |d| d.delta);
                Some(Duration::from_micros(arrival_us.max(0) as u64))
            } else {
                None
            };
            let seq = fb.base_sequence_number.wrapping_add(i as u16);
            if !self.is_recent(seq) {
                self.counters.unknown += 1;
                continue;
            }
            let p = &mut self.history[usize::from(seq) % HISTORY];
            if p.seq != seq {
                self.counters.unknown += 1;
                continue;
            }
            // A packet reported lost and then received is counted once each way: the
            // counters say what the feedback said.
            if received {
                self.counters.reported_received += 1;
            } else if !p.reported {
                self.counters.reported_lost += 1;
            }
            p.reported = true;
            // Numbers above the next one were sent before the last wrap.
            let wraps = self.wraps - u64::from(seq >= self.next && self.wraps > 0);
            self.reports.push(PacketReport {
                ssrc: 0,
                id: (wraps << 16) | u64::from(seq),
                rtp_sequence_number: 0,
                is_twcc: true,
                twcc_sequence_number: seq,
                size: usize::from(p.size),
                arrived: received,
                departure: self.epoch + Duration::from_micros(p.at_us),
                arrival,
                ecn: Ecn::default(),
            });
        }
        self.reports.sort_unstable_by_key(|r| r.id);
        &self.reports
    }

    /// What the feedback read so far reported.
    pub fn counters(&self) -> FeedbackCounters {
        self.counters
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The feedback's statuses in order: whether each packet from the base number on arrived.
fn statuses(fb: &TransportLayerCc) -> impl Iterator<Item = bool> + '_ {
    fb.packet_chunks.iter().flat_map(|chunk| {
        let (symbol, run, list): (Option<SymbolTypeTcc>, usize, &[SymbolTypeTcc]) = match chunk {
            PacketStatusChunk::RunLengthChunk(c) => {
                (Some(c.packet_status_symbol), usize::from(c.run_length), &[])
            }
            PacketStatusChunk::StatusVectorChunk(c) => (None, 0, &c.symbol_list[..]),
        };
        let run = std::iter::repeat_n(symbol, run).flatten();
        run.chain(list.iter().copied()).map(is_received)
    })
}

fn is_received(s: SymbolTypeTcc) -> bool {
    !matches!(s, SymbolTypeTcc::PacketNotReceived)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
        RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk, SymbolSizeTypeTcc,
    };

    fn run(symbol: SymbolTypeTcc, n: u16) -> PacketStatusChunk {
        PacketStatusChunk::RunLengthChunk(RunLengthChunk {
            type_tcc: StatusChunkTypeTcc::RunLengthChunk,
            packet_status_symbol: symbol,
            run_length: n,
        })
    }

    fn feedback(base: u16, count: u16, chunks: Vec<PacketStatusChunk>) -> TransportLayerCc {
        TransportLayerCc {
            base_sequence_number: base,
            packet_status_count: count,
            packet_chunks: chunks,
            ..Default::default()
        }
    }

    #[test]
    fn numbers_wrap_and_the_history_remembers_the_recent_ones() {
        let t0 = Instant::now();
        let mut t = TransportSeq::new(t0);
        for i in 0..70_000u32 {
            t.stamp(t0 + Duration::from_micros(u64::from(i)), 1200);
        }
        // 70,000 packets: the next number has wrapped to 4,464.
        let last = (70_000u32 - 1) as u16;
        let p = t.sent(last).unwrap();
        assert_eq!(p.at_us, 69_999);
        assert!(t.sent(last.wrapping_add(1)).is_none(), "not sent yet");
        assert!(
            t.sent(last.wrapping_sub(HISTORY as u16)).is_none(),
            "forgotten"
        );
    }

    #[test]
    fn feedback_counts_what_arrived_and_what_did_not() {
        let t0 = Instant::now();
        let mut t = TransportSeq::new(t0);
        for _ in 0..20 {
            t.stamp(t0, 100);
        }
        let vector = PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
            type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
            symbol_size: SymbolSizeTypeTcc::TwoBit,
            symbol_list: vec![
                SymbolTypeTcc::PacketNotReceived,
                SymbolTypeTcc::PacketReceivedLargeDelta,
            ],
        });
        t.handle_feedback(&feedback(
            0,
            12,
            vec![run(SymbolTypeTcc::PacketReceivedSmallDelta, 10), vector],
        ));
        let c = t.counters();
        assert_eq!(
            (c.reported_received, c.reported_lost, c.unknown),
            (11, 1, 0)
        );
        // The late one arrives after all.
        t.handle_feedback(&feedback(
            10,
            1,
            vec![run(SymbolTypeTcc::PacketReceivedSmallDelta, 1)],
        ));
        let c = t.counters();
        assert_eq!(
            (c.feedbacks, c.reported_received, c.reported_lost),
            (2, 12, 1)
        );
    }

    #[test]
    fn statuses_about_packets_never_sent_are_ignored_and_bounded() {
        let t0 = Instant::now();
        let mut t = TransportSeq::new(t0);
        t.stamp(t0, 100);
        let chunks = (0..20)
            .map(|_| run(SymbolTypeTcc::PacketReceivedSmallDelta, 8191))
            .collect();
        t.handle_feedback(&feedback(0, u16::MAX, chunks));
        let c = t.counters();
        assert_eq!(c.reported_received, 1);
        assert_eq!(c.unknown, HISTORY as u64 - 1, "bounded by the history");
        // A feedback whose status count exceeds its chunks reads only what is there.
        t.handle_feedback(&feedback(40_000, 500, vec![]));
        assert_eq!(t.counters().unknown, HISTORY as u64 - 1);
    }
}
