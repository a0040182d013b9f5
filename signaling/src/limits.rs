//! Per-socket rate limits: token buckets, one per kind of event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the server pings each client.
pub const PING_INTERVAL: Duration = Duration::from_secs(3);
/// How long a client has to answer a ping before it is dropped.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a live client may go without reading: past this the heartbeat drops it.
pub const STALL: Duration = Duration::from_secs(PING_INTERVAL.as_secs() + PING_TIMEOUT.as_secs());
/// Messages the server itself sends unasked (mode changes, SFU offers, removal, shutdown)
/// that may be waiting for one client at once, with room to spare.
const SERVER_MESSAGES: usize = 64;

/// Packets one socket's send buffer holds: everything the documented rates let reach one
/// member of a full room while it goes [`STALL`] without reading, bursts included. A client
/// that falls further behind than that is not keeping up with the call, and is disconnected
/// (it reconnects and rejoins) rather than sent a partial view of it.
pub fn send_buffer_packets(max_room_size: usize) -> usize {
    let others = max_room_size.saturating_sub(1);
    // From each other member: its chat, typing and media-state, and its joins and leaves.
    let fan_in =
        others * (Kind::Chat.in_stall() + Kind::Typing.in_stall() + Kind::Membership.in_stall());
    // From the one peer of a P2P pair: its signals.
    let signals = Kind::Signaling.in_stall();
    // The acks of the member's own requests, at its own rates.
    let acks = Kind::Chat.in_stall()
        + Kind::Typing.in_stall()
        + Kind::Membership.in_stall()
        + Kind::Signaling.in_stall();
    fan_in + signals + acks + SERVER_MESSAGES
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does at start: each
/// client holds a socket, and the common soft limit of 1,024 would refuse users long before
/// the machine runs short. Returns the soft limit before and after.
pub fn raise_open_files() -> nix::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((soft, getrlimit(Resource::RLIMIT_NOFILE)?.0))
}

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `chat`: 10 per second.
    Chat,
    /// `typing` and `media-state`: 10 per second.
    Typing,
    /// `join` and `leave`: 5 per second, bursts of 10.
    Membership,
    /// Offers, answers, candidates and P2P signals: 100 per second, bursts of 200.
    Signaling,
    /// Bytes of P2P signals, which the server holds for their receiver: 512 KiB per second,
    /// bursts of 1 MiB. Real signals are a few KiB; this bounds what one pair can make the
    /// server buffer.
    SignalBytes,
}

impl Kind {
    /// (tokens per second, burst).
    fn rate(self) -> (f64, f64) {
        match self {
            Kind::Chat => (10.0, 10.0),
            Kind::Typing => (10.0, 10.0),
            Kind::Membership => (5.0, 10.0),
            Kind::Signaling => (100.0, 200.0),
            Kind::SignalBytes => (512.0 * 1024.0, 1024.0 * 1024.0),
        }
    }

    /// The most this bucket lets through in [`STALL`], starting full.
    fn in_stall(self) -> usize {
        let (rate, burst) = self.rate();
        (burst + rate * STALL.as_secs_f64()).ceil() as usize
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets of every connected socket.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<(String, Kind), Bucket>>,
}

impl RateLimits {
    /// Takes one token; `false` when the socket is over its rate.
    pub fn allow(&self, socket: &str, kind: Kind, now: Instant) -> bool {
        self.allow_n(socket, kind, 1.0, now)
    }

    /// Takes `n` tokens (bytes, say); `false`, taking none, when the socket is over its rate.
    pub fn allow_n(&self, socket: &str, kind: Kind, n: f64, now: Instant) -> bool {
        let (rate, burst) = kind.rate();
        // Never poisoned: nothing panics while the map is held.
        let mut map = self.buckets.lock().expect("rate-limit lock poisoned");
        let b = map.entry((socket.to_owned(), kind)).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= n {
            b.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Forgets a disconnected socket.
    pub fn forget(&self, socket: &str) {
        let mut map = self.buckets.lock().expect("rate-limit lock poisoned");
        map.retain(|(s, _), _| s != socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills() {
        let l = RateLimits::default();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(l.allow("s", Kind::Chat, t0));
        }
        assert!(!l.allow("s", Kind::Chat, t0));
        assert!(l.allow("other", Kind::Chat, t0), "buckets are per socket");
        assert!(l.allow("s", Kind::Chat, t0 + Duration::from_millis(100)));
        assert!(!l.allow("s", Kind::Chat, t0 + Duration::from_millis(100)));
        l.forget("s");
        assert!(l.allow("s", Kind::Chat, t0 + Duration::from_millis(100)));
    }

    #[test]
    fn byte_buckets_take_sizes() {
        let l = RateLimits::default();
        let t0 = Instant::now();
        assert!(l.allow_n("s", Kind::SignalBytes, 1024.0 * 1024.0, t0));
        assert!(!l.allow_n("s", Kind::SignalBytes, 1.0, t0));
        let later = t0 + Duration::from_millis(125);
        assert!(!l.allow_n("s", Kind::SignalBytes, 65.0 * 1024.0, later));
        assert!(l.allow_n("s", Kind::SignalBytes, 64.0 * 1024.0, later));
    }

    #[test]
    fn the_send_buffer_covers_a_full_room_for_a_stall() {
        // 15 others at chat 10/s, typing 10/s and joins 5/s, one P2P peer at 100/s, own acks:
        // each with its burst, over 6 s.
        assert_eq!(
            send_buffer_packets(16),
            15 * (70 + 70 + 40) + 800 + 980 + 64
        );
        assert!(send_buffer_packets(2) < send_buffer_packets(16));
    }
}
