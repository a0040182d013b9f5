//! Keyframe requests to a publisher, debounced: pure, handed the time.

use std::time::{Duration, Instant};

/// Keyframe requests (PLI) to one publisher's track, at most one per interval.
///
/// Requests arriving inside the interval are coalesced into one that is sent when the interval
/// ends, so that a subscriber asking just after another still gets its keyframe.
#[derive(Debug)]
pub struct KeyframeRequester {
    interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeRequester {
    /// The interval that the product promises: one request per track every 500 ms at most.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

    /// A requester that sends at most one request per `interval`.
    pub fn new(interval: Duration) -> Self {
        KeyframeRequester {
            interval,
            last_sent: None,
            pending: false,
        }
    }

    /// Records a request. Returns `true` when a PLI should be sent now.
    pub fn handle_request(&mut self, now: Instant) -> bool {
        if self.may_send(now) {
            self.last_sent = Some(now);
            self.pending = false;
            true
        } else {
            self.pending = true;
            false
        }
    }

    /// Returns `true` when a coalesced request is due now.
    pub fn poll_due(&mut self, now: Instant) -> bool {
        if self.pending && self.may_send(now) {
            self.last_sent = Some(now);
            self.pending = false;
            true
        } else {
            false
        }
    }

    /// When a coalesced request becomes due, if one is waiting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.pending, self.last_sent) {
            (true, Some(t)) => Some(t + self.interval),
            _ => None,
        }
    }

    /// A keyframe arrived: it answers every request made before it, so none is pending.
    pub fn handle_keyframe(&mut self) {
        self.pending = false;
    }

    fn may_send(&self, now: Instant) -> bool {
        self.last_sent
            .is_none_or(|t| now.saturating_duration_since(t) >= self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_sends_once_per_interval_and_coalesces() {
        let t0 = Instant::now();
        let mut k = KeyframeRequester::new(Duration::from_millis(500));
        assert!(k.handle_request(t0));
        assert!(!k.handle_request(t0 + Duration::from_millis(100)));
        assert!(!k.handle_request(t0 + Duration::from_millis(200)));
        assert_eq!(k.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        assert!(!k.poll_due(t0 + Duration::from_millis(499)));
        assert!(k.poll_due(t0 + Duration::from_millis(500)));
        // The coalesced one was sent; nothing is pending.
        assert!(!k.poll_due(t0 + Duration::from_millis(2000)));
        assert_eq!(k.poll_timeout(), None);
        assert!(k.handle_request(t0 + Duration::from_millis(1000)));
        // A keyframe that arrives answers a request still waiting.
        assert!(!k.handle_request(t0 + Duration::from_millis(1100)));
        k.handle_keyframe();
        assert_eq!(k.poll_timeout(), None);
        assert!(!k.poll_due(t0 + Duration::from_millis(1500)));
    }
}
