//! Live counters of the media plane, read by the admin API through snapshots.

use crate::core::forwarder::DropReason;
use std::time::{Duration, Instant};

/// Bits per second over the last full window of one second.
#[derive(Debug, Clone, Default)]
pub struct BitrateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    bps: u64,
}

impl BitrateMeter {
    const WINDOW: Duration = Duration::from_secs(1);

    /// Counts `bytes` seen at `now`.
    pub fn record(&mut self, bytes: usize, now: Instant) {
        self.roll(now);
        self.bytes += bytes as u64;
    }

    /// The bitrate of the last complete window, or 0 when the stream went quiet.
    pub fn bps(&self, now: Instant) -> u64 {
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < 2 * Self::WINDOW => self.bps,
            _ => 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        match self.window_start {
            None => self.window_start = Some(now),
            Some(start) => {
                let elapsed = now.saturating_duration_since(start);
                if elapsed >= Self::WINDOW {
                    self.bps = if elapsed < 2 * Self::WINDOW {
                        self.bytes * 8 * 1000 / elapsed.as_millis().max(1) as u64
                    } else {
                        0
                    };
                    self.bytes = 0;
                    self.window_start = Some(now);
                }
            }
        }
    }
}

/// Counters of a published track.
#[derive(Debug, Clone, Default)]
pub struct TrackCounters {
    /// RTP packets received from the publisher.
    pub packets: u64,
    /// RTP bytes (header and payload) received from the publisher.
    pub bytes: u64,
    /// Packets the publisher's sequence numbers show as missing.
    pub packets_lost: u64,
    /// NACKed packets asked for by subscribers.
    pub nacks: u64,
    /// NACKed packets that were re-sent from the cache.
    pub retransmits: u64,
    /// Keyframe requests (PLI) sent to the publisher.
    pub plis: u64,
    /// Incoming bitrate.
    pub bitrate: BitrateMeter,
}

/// Counters of a subscription.
#[derive(Debug, Clone, Default)]
pub struct DownTrackCounters {
    /// RTP packets sent to the subscriber.
    pub packets: u64,
    /// RTP bytes sent to the subscriber.
    pub bytes: u64,
    /// Drops by reason, indexed by [`DropReason::index`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Outgoing bitrate.
    pub bitrate: BitrateMeter,
}

impl DownTrackCounters {
    /// All drops, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// Packets the SFU could not attribute to any session, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngressCounters {
    /// Datagrams received on the media socket.
    pub datagrams: u64,
    /// Datagrams that are neither STUN, DTLS, RTP nor RTCP.
    pub garbage: u64,
    /// STUN that is malformed or carries no usable USERNAME.
    pub bad_stun: u64,
    /// STUN whose username names no session.
    pub unknown_ufrag: u64,
    /// STUN whose MESSAGE-INTEGRITY does not match the session's password.
    pub bad_credentials: u64,
    /// Non-STUN datagrams from an address no session has verified.
    pub unknown_source: u64,
    /// RTP whose SSRC no track of the sending session owns.
    pub unknown_ssrc: u64,
    /// Datagrams a session's WebRTC stack rejected (bad DTLS, SRTP auth failure…).
    pub rejected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_over_one_second_windows() {
        let t0 = Instant::now();
        let mut m = BitrateMeter::default();
        for i in 0..100u64 {
            m.record(1250, t0 + Duration::from_millis(i * 10));
        }
        m.record(0, t0 + Duration::from_millis(1000));
        // 100 × 1250 bytes in one second: 1 Mbit/s.
        assert_eq!(m.bps(t0 + Duration::from_millis(1000)), 1_000_000);
        // Quiet for a long time: zero.
        assert_eq!(m.bps(t0 + Duration::from_secs(5)), 0);
    }
}
