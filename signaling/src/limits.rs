//! Per-socket rate limits: token buckets, one per kind of event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

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
}

impl Kind {
    /// (tokens per second, burst).
    fn rate(self) -> (f64, f64) {
        match self {
            Kind::Chat => (10.0, 10.0),
            Kind::Typing => (10.0, 10.0),
            Kind::Membership => (5.0, 10.0),
            Kind::Signaling => (100.0, 200.0),
        }
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
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
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
}
