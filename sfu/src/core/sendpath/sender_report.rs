//! RTCP sender reports for a DownTrack (RFC 3550 §6.4.1): the NTP and RTP timestamps of one
//! instant, which receivers use to synchronise audio with video, and the packets and payload
//! octets sent, which give their statistics (`remote-outbound-rtp` in a browser).
//!
//! The RTP timestamp of "now" is extrapolated from the newest timestamp forwarded and when
//! its packet arrived, at the codec's clock rate, as mediasoup and LiveKit do: every
//! DownTrack of one publisher's audio and video gets the same error, so lip sync holds.

use rtc::rtcp::sender_report::SenderReport;
use std::time::Instant;

/// What a DownTrack has sent, for its sender reports.
#[derive(Debug, Clone)]
pub struct SenderClock {
    clock_rate: u32,
    /// The newest RTP timestamp sent, and when its first packet was.
    newest: Option<(u32, Instant)>,
    packets: u32,
    octets: u32,
}

impl SenderClock {
    /// A clock for a stream whose timestamps run at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> SenderClock {
        SenderClock {
            clock_rate: clock_rate.max(1),
            newest: None,
            packets: 0,
            octets: 0,
        }
    }

    /// Notes a packet sent at `now` with RTP timestamp `ts` and `payload_len` payload octets;
    /// retransmissions count too, as RFC 3550 counts every packet sent.
    pub fn on_sent(&mut self, ts: u32, payload_len: usize, now: Instant) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self
            .octets
            .wrapping_add(u32::try_from(payload_len).unwrap_or(u32::MAX));
        let newer = match self.newest {
            None => true,
            // Later in RTP time (modulo wrap), so later in media time.
            Some((newest, _)) => (ts.wrapping_sub(newest) as i32) > 0,
        };
        if newer {
            self.newest = Some((ts, now));
        }
    }

    /// The report of stream `ssrc` at `now`, whose wall-clock time in NTP format is `ntp`;
    /// `None` until something has been sent.
    pub fn report(&self, ssrc: u32, now: Instant, ntp: u64) -> Option<SenderReport> {
        let (ts, at) = self.newest?;
        let elapsed = now.saturating_duration_since(at);
        let ticks = elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000;
        Some(SenderReport {
            ssrc,
            ntp_time: ntp,
            // RTP time is modulo 2^32: the truncation is the wrap.
            rtp_time: ts.wrapping_add(ticks as u32),
            packet_count: self.packets,
            octet_count: self.octets,
            ..Default::default()
        })
    }

    /// Packets sent.
    pub fn packets(&self) -> u32 {
        self.packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn nothing_is_reported_before_the_first_packet() {
        let c = SenderClock::new(90_000);
        assert!(c.report(1, Instant::now(), 0).is_none());
    }

    #[test]
    fn the_rtp_time_of_now_runs_on_from_the_newest_packet() {
        let t0 = Instant::now();
        let mut c = SenderClock::new(90_000);
        c.on_sent(1_000, 100, t0);
        c.on_sent(1_000, 100, t0 + Duration::from_millis(5)); // same frame, later packet
        c.on_sent(500, 100, t0 + Duration::from_millis(6)); // a retransmission
        let sr = c.report(7, t0 + Duration::from_millis(100), 42).unwrap();
        assert_eq!(sr.ssrc, 7);
        assert_eq!(sr.ntp_time, 42);
        assert_eq!(sr.rtp_time, 1_000 + 9_000);
        assert_eq!((sr.packet_count, sr.octet_count), (3, 300));
    }

    #[test]
    fn timestamps_wrap() {
        let t0 = Instant::now();
        let mut c = SenderClock::new(48_000);
        c.on_sent(u32::MAX - 10, 10, t0);
        c.on_sent(950, 10, t0 + Duration::from_millis(20));
        let sr = c.report(1, t0 + Duration::from_millis(40), 0).unwrap();
        assert_eq!(sr.rtp_time, 950 + 960);
    }
}
