//! The per-track retransmission cache that answers NACKs.
//!
//! A ring indexed by sequence number, sized to the stream: storing a packet moves it into a
//! slot, so the hot path allocates nothing once the ring has grown to the stream's rate.
//! Packets older than the maximum age are released as the ring goes round, so a low-rate
//! track does not pin a whole ring of payloads.

use bytes::Bytes;
use std::time::{Duration, Instant};

/// What a retransmission needs of a packet: the fields its rewritten header comes from, and
/// the payload, shared with whatever else holds it. A fifth of an rtc packet's size, so an
/// empty ring costs 144 kB per video track rather than 280 kB.
#[derive(Debug, Clone)]
pub struct CachedPacket {
    /// The publisher's SSRC, so that a packet of an earlier source is not sent as this one.
    pub ssrc: u32,
    /// The publisher's timestamp.
    pub timestamp: u32,
    /// The marker bit.
    pub marker: bool,
    /// The payload.
    pub payload: Bytes,
}

impl CachedPacket {
    /// Takes what a retransmission needs of `pkt`.
    pub fn of(pkt: rtc::rtp::Packet) -> CachedPacket {
        CachedPacket {
            ssrc: pkt.header.ssrc,
            timestamp: pkt.header.timestamp,
            marker: pkt.header.marker,
            payload: pkt.payload,
        }
    }
}

/// Recently received packets of one track, by sequence number.
#[derive(Debug)]
pub struct RetransmitCache<T> {
    slots: Vec<Option<Slot<T>>>,
    max_slots: usize,
    max_age: Duration,
    /// Where the sweep for expired packets continues.
    sweep: usize,
}

#[derive(Debug)]
struct Slot<T> {
    seq: u16,
    at: Instant,
    item: T,
}

impl<T> RetransmitCache<T> {
    /// At most enough slots for one second of 2,000 packets/s (about 16 Mbit/s of video),
    /// kept up to two seconds: more than the one second a NACK round trip needs.
    pub const DEFAULT_SLOTS: usize = 2048;
    /// How long a packet stays eligible for retransmission.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2);
    /// Slots a new ring starts with: two seconds of a 128 packets/s stream. It doubles when
    /// the stream is faster, so a camera's track does not pay for a screen share's ring.
    const FIRST_SLOTS: usize = 256;

    /// A cache of up to `slots` packets (rounded up to a power of two), each kept at most
    /// `max_age`.
    pub fn new(slots: usize, max_age: Duration) -> Self {
        let max = slots.clamp(1, 1 << 15).next_power_of_two();
        RetransmitCache {
            slots: (0..Self::FIRST_SLOTS.min(max)).map(|_| None).collect(),
            max_slots: max,
            max_age,
            sweep: 0,
        }
    }

    fn index(&self, seq: u16) -> usize {
        seq as usize & (self.slots.len() - 1)
    }

    /// Stores a packet, replacing whatever shared its slot, and releases up to two expired
    /// ones: the sweep moves faster than the inserts, so it keeps up with the oldest packet.
    /// A packet that would push out one still young enough to be asked for doubles the ring
    /// first, up to its largest size: the only allocation, while a stream speeds up.
    pub fn insert(&mut self, seq: u16, now: Instant, item: T) {
        while self.slots.len() < self.max_slots
            && self.slots[self.index(seq)].as_ref().is_some_and(|s| {
                s.seq != seq && now.saturating_duration_since(s.at) <= self.max_age
            })
        {
            self.grow();
        }
        let i = self.index(seq);
        self.slots[i] = Some(Slot { seq, at: now, item });
        let mask = self.slots.len() - 1;
        for _ in 0..2 {
            let j = self.sweep;
            match &self.slots[j] {
                Some(s) if now.saturating_duration_since(s.at) > self.max_age => {
                    self.slots[j] = None;
                }
                None => {}
                _ => break,
            }
            self.sweep = (j + 1) & mask;
        }
    }

    /// Doubles the ring. Each packet moves to the slot its sequence number picks in the
    /// larger ring; two packets from distinct slots never meet in one.
    fn grow(&mut self) {
        let larger = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, (0..larger).map(|_| None).collect());
        for s in old.into_iter().flatten() {
            let i = self.index(s.seq);
            self.slots[i] = Some(s);
        }
        self.sweep = 0;
    }

    /// Slots allocated.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Packets held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The packet with this sequence number, if it is still held and not too old.
    pub fn get(&self, seq: u16, now: Instant) -> Option<&T> {
        match &self.slots[self.index(seq)] {
            Some(s) if s.seq == seq && now.saturating_duration_since(s.at) <= self.max_age => {
                Some(&s.item)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_recent_packets_and_forgets_overwritten_or_old_ones() {
        let t0 = Instant::now();
        let mut c = RetransmitCache::new(4, Duration::from_secs(1));
        for s in 10..14u16 {
            c.insert(s, t0, s * 2);
        }
        assert_eq!(c.get(12, t0), Some(&24));
        // Overwritten by seq 14, which shares the slot of 10.
        c.insert(14, t0, 28);
        assert_eq!(c.get(10, t0), None);
        assert_eq!(c.get(14, t0), Some(&28));
        // Too old.
        assert_eq!(c.get(12, t0 + Duration::from_millis(1001)), None);
        // Never stored.
        assert_eq!(c.get(99, t0), None);
    }

    #[test]
    fn releases_expired_packets_as_it_goes() {
        let t0 = Instant::now();
        let mut c: RetransmitCache<u32> = RetransmitCache::new(2048, Duration::from_secs(2));
        // 30 s of video at 114 packets/s: about 3,400 packets through 2,048 slots.
        let every = Duration::from_micros(1_000_000 / 114);
        for i in 0..3420u32 {
            c.insert(i as u16, t0 + every * i, i);
        }
        // About two seconds' worth stay held, not the whole ring.
        let held = c.len();
        assert!((220..=300).contains(&held), "held {held}");
        let now = t0 + every * 3419;
        assert_eq!(c.get(3419, now), Some(&3419));
        assert_eq!(c.get(3419 - 200, now), Some(&(3419 - 200)));
    }

    #[test]
    fn the_ring_grows_only_as_far_as_the_stream_needs() {
        let t0 = Instant::now();
        let new = || -> RetransmitCache<u32> {
            RetransmitCache::new(
                RetransmitCache::<u32>::DEFAULT_SLOTS,
                RetransmitCache::<u32>::DEFAULT_MAX_AGE,
            )
        };
        // 10 s of a camera at 114 packets/s: two seconds fit the first ring.
        let mut camera = new();
        let every = Duration::from_micros(1_000_000 / 114);
        for i in 0..1140u32 {
            camera.insert(i as u16, t0 + every * i, i);
        }
        assert_eq!(camera.capacity(), 256);
        // A screen share at 900 packets/s doubles it, to what two seconds of it need.
        let mut share = new();
        let every = Duration::from_micros(1_000_000 / 900);
        for i in 0..9000u32 {
            share.insert(i as u16, t0 + every * i, i);
        }
        assert_eq!(share.capacity(), 2048);
        let now = t0 + every * 8999;
        assert_eq!(share.get(8999 - 1500, now), Some(&(8999 - 1500)));
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let t0 = Instant::now();
        let mut c = RetransmitCache::new(8, Duration::from_secs(1));
        c.insert(65535, t0, 'a');
        c.insert(0, t0, 'b');
        assert_eq!(c.get(65535, t0), Some(&'a'));
        assert_eq!(c.get(0, t0), Some(&'b'));
    }

    #[test]
    fn holds_a_second_of_high_rate_video() {
        let t0 = Instant::now();
        let mut c: RetransmitCache<u16> = RetransmitCache::new(
            RetransmitCache::<u16>::DEFAULT_SLOTS,
            RetransmitCache::<u16>::DEFAULT_MAX_AGE,
        );
        // 1,500 packets in one second, starting near the wrap.
        let start = 65000u16;
        for i in 0..1500u16 {
            let at = t0 + Duration::from_micros(i as u64 * 666);
            c.insert(start.wrapping_add(i), at, i);
        }
        let now = t0 + Duration::from_secs(1);
        assert_eq!(c.get(start, now), Some(&0));
        assert_eq!(c.get(start.wrapping_add(1499), now), Some(&1499));
    }
}
