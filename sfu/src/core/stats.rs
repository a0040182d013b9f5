//! The media plane's counters, each declared once: live on tracks and DownTracks, summed into
//! tallies for rooms and the whole SFU, and serialized as they are in the admin reports.

use crate::core::forwarder::DropReason;
use serde::Serialize;
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrackCounters {
    /// RTP packets received from the publisher.
    pub packets: u64,
    /// RTP bytes (header and payload) received from the publisher.
    pub bytes: u64,
    /// Packets the publisher's sequence numbers show as missing.
    pub packets_lost: u64,
    /// Packets subscribers NACKed.
    pub nacks: u64,
    /// NACKed packets re-sent from the cache.
    pub retransmits: u64,
    /// Keyframe requests (PLI) sent to the publisher.
    pub plis: u64,
}

/// Packets not forwarded, by reason; serialized as a map from reason name to count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops([u64; DropReason::ALL.len()]);

impl Drops {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }

    /// Drops for one reason.
    pub fn of(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Drops by reason name.
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (r.as_str(), self.of(*r)))
    }

    fn add(&mut self, o: &Drops) {
        for (sum, n) in self.0.iter_mut().zip(o.0) {
            *sum += n;
        }
    }
}

impl Serialize for Drops {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.by_reason())
    }
}

/// Counters of a subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownTrackCounters {
    /// RTP packets sent to the subscriber.
    pub packets: u64,
    /// RTP bytes sent to the subscriber.
    pub bytes: u64,
    /// Packets not sent, all reasons.
    pub packets_dropped: u64,
    /// Packets not sent, by reason.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub dropped: Drops,
    /// Moves from one simulcast layer to another.
    pub layer_switches: u64,
}

impl DownTrackCounters {
    /// Counts a packet of `bytes` sent to the subscriber.
    pub fn record_sent(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    /// Counts a packet not sent.
    pub fn record_drop(&mut self, reason: DropReason) {
        self.packets_dropped += 1;
        self.dropped.count(reason);
    }
}

/// Sums of track and DownTrack counters: of a room, or of the whole SFU including sessions
/// that have left (so that Prometheus counters never go backwards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP bytes received from publishers.
    pub bytes_in: u64,
    /// Packets the publishers' sequence numbers show as missing.
    pub packets_lost: u64,
    /// Packets subscribers NACKed.
    pub nacks: u64,
    /// NACKed packets re-sent from the cache.
    pub retransmits: u64,
    /// Keyframe requests sent to publishers.
    pub plis: u64,
    /// RTP packets forwarded to subscribers.
    pub packets_out: u64,
    /// RTP bytes forwarded to subscribers.
    pub bytes_out: u64,
    /// Packets not forwarded, all reasons.
    pub packets_dropped: u64,
    /// Packets not forwarded, by reason.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub dropped: Drops,
    /// Moves of subscribers from one simulcast layer to another.
    pub layer_switches: u64,
}

impl Tally {
    /// Adds a published track's counters.
    pub fn add_track(&mut self, c: &TrackCounters) {
        self.packets_in += c.packets;
        self.bytes_in += c.bytes;
        self.packets_lost += c.packets_lost;
        self.nacks += c.nacks;
        self.retransmits += c.retransmits;
        self.plis += c.plis;
    }

    /// Adds a subscription's counters.
    pub fn add_downtrack(&mut self, c: &DownTrackCounters) {
        self.packets_out += c.packets;
        self.bytes_out += c.bytes;
        self.packets_dropped += c.packets_dropped;
        self.dropped.add(&c.dropped);
        self.layer_switches += c.layer_switches;
    }

    /// Adds another tally.
    pub fn add(&mut self, o: &Tally) {
        self.packets_in += o.packets_in;
        self.bytes_in += o.bytes_in;
        self.packets_lost += o.packets_lost;
        self.nacks += o.nacks;
        self.retransmits += o.retransmits;
        self.plis += o.plis;
        self.packets_out += o.packets_out;
        self.bytes_out += o.bytes_out;
        self.packets_dropped += o.packets_dropped;
        self.dropped.add(&o.dropped);
        self.layer_switches += o.layer_switches;
    }
}

/// Round-trip time from a reception report about our sender reports (RFC 3550, 6.4.1):
/// `now` minus the report's LSR and DLSR, all in the middle 32 bits of NTP time.
/// `None` when the peer has not received a sender report yet, or the result is absurd.
pub fn rtt_from_report(now_ntp: u64, last_sender_report: u32, delay: u32) -> Option<Duration> {
    if last_sender_report == 0 {
        return None;
    }
    let now_mid = (now_ntp >> 16) as u32;
    let rtt = now_mid
        .wrapping_sub(last_sender_report)
        .checked_sub(delay)
        .filter(|&r| r < 65536 * 60)?;
    Some(Duration::from_nanos(u64::from(rtt) * 1_000_000_000 / 65536))
}

/// A wall-clock time as a 64-bit NTP timestamp, converted as rtc converts the times in its
/// sender reports.
pub fn ntp_time(t: std::time::SystemTime) -> u64 {
    let since_unix = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    rtc::shared::time::SystemInstant::unix2ntp(since_unix)
}

/// Packets the SFU could not attribute to any session, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Tracks not published because the participant may not publish their kind.
    pub tracks_refused: u64,
}

impl IngressCounters {
    /// Adds another worker's counters to these.
    pub fn add(&mut self, o: &IngressCounters) {
        self.datagrams += o.datagrams;
        self.garbage += o.garbage;
        self.bad_stun += o.bad_stun;
        self.unknown_ufrag += o.unknown_ufrag;
        self.bad_credentials += o.bad_credentials;
        self.unknown_source += o.unknown_source;
        self.unknown_ssrc += o.unknown_ssrc;
        self.rejected += o.rejected;
        self.tracks_refused += o.tracks_refused;
    }

    /// Every drop counter, by reason name (all but `datagrams`).
    pub fn drops(&self) -> [(&'static str, u64); 7] {
        [
            ("garbage", self.garbage),
            ("bad_stun", self.bad_stun),
            ("unknown_ufrag", self.unknown_ufrag),
            ("bad_credentials", self.bad_credentials),
            ("unknown_source", self.unknown_source),
            ("unknown_ssrc", self.unknown_ssrc),
            ("rejected", self.rejected),
        ]
    }
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

    #[test]
    fn rtt_from_reception_report() {
        let sent = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let lsr = (ntp_time(sent) >> 16) as u32;
        // The peer held the report 100 ms; it came back 130 ms after we sent it.
        let delay = 65536 / 10;
        let now = ntp_time(sent + Duration::from_millis(130));
        let rtt = rtt_from_report(now, lsr, delay).unwrap();
        assert!((29..=31).contains(&rtt.as_millis()), "{rtt:?}");
        // No sender report seen yet, and a delay longer than the elapsed time.
        assert_eq!(rtt_from_report(now, 0, delay), None);
        assert_eq!(rtt_from_report(now, lsr, 65536), None);
    }

    #[test]
    fn tally_sums_counters() {
        let mut t = Tally::default();
        let mut d = DownTrackCounters::default();
        d.record_sent(10);
        d.record_drop(DropReason::Stale);
        d.record_drop(DropReason::Stale);
        t.add_downtrack(&d);
        t.add_downtrack(&d);
        t.add_track(&TrackCounters {
            packets: 5,
            nacks: 1,
            ..Default::default()
        });
        assert_eq!((t.packets_out, t.packets_dropped, t.packets_in), (2, 4, 5));
        assert_eq!(t.dropped.of(DropReason::Stale), 4);
        let mut all = Tally::default();
        all.add(&t);
        assert_eq!(all, t);
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json["dropped"]["stale"], 4);
        assert_eq!(json["nacks"], 1);
    }
}
