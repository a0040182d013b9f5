//! Where the SFU's own offers to one session stand, and when a refused one is made again.
//!
//! The SFU offers when tracks come and go in the room. A client may fail the answer step:
//! its answer does not parse, is too large, or never comes at all. The session must not be
//! left waiting for an answer that will never come, which would hide every later track from
//! that member. A refused offer is therefore withdrawn and made again, fresh, after a backoff
//! that grows with each failure in a row, so that a client that keeps failing costs little;
//! an offer left unanswered for [`ANSWER_TIMEOUT`] (longer after each failure) is made again
//! too, and so is one that could not even be made.
//!
//! Exchanges are numbered, so that a part of the session can wait until one that began after
//! some change has completed (an m-section freed for reuse, say).

use std::time::{Duration, Instant};

/// The first wait before an offer is made again after a refusal; it doubles per refusal.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The longest wait between two offers while answers keep being refused.
pub const MAX_RETRY: Duration = Duration::from_secs(8);
/// How long an offer waits for its answer before it is made again, after no failure; it
/// doubles with each failure in a row, up to eight times as long.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The SFU's side of the offer/answer exchange with one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfferState {
    /// No offer of the SFU's is in flight.
    #[default]
    Idle,
    /// An offer is waiting for the client's answer; it is made again at `deadline`.
    Outstanding {
        /// When to give up waiting.
        deadline: Instant,
    },
    /// The last offer failed (refused, or not made); a fresh one replaces it at `retry_at`.
    Refused {
        /// When to offer again.
        retry_at: Instant,
    },
}

/// The offer state, the count of failures in a row behind the backoff, and the numbering of
/// exchanges.
#[derive(Debug, Default)]
pub struct Offers {
    state: OfferState,
    failures: u32,
    /// Exchanges begun, either side offering.
    begun: u64,
    /// The number of the exchange our outstanding or refused offer began.
    ours: u64,
    /// The number of the latest exchange to have completed.
    completed: u64,
}

impl Offers {
    /// The current state.
    pub fn state(&self) -> OfferState {
        self.state
    }

    /// Whether the SFU's side holds a local offer (one outstanding, or refused and not yet
    /// replaced): a client offer now is glare, and ours gives way.
    pub fn holds_local_offer(&self) -> bool {
        self.state != OfferState::Idle
    }

    /// Whether an answer is awaited.
    pub fn awaits_answer(&self) -> bool {
        matches!(self.state, OfferState::Outstanding { .. })
    }

    /// The number the next exchange to begin will have.
    pub fn next_exchange(&self) -> u64 {
        self.begun + 1
    }

    /// The number of the latest exchange to have completed: every exchange that began up to
    /// it has been applied by both sides or abandoned.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Whether an offer may be made at `now`: none is outstanding, or the outstanding one
    /// went unanswered too long, or a failed one's wait is over. `needed` says whether
    /// anything changed since the last exchange; an offer is made again whether or not it did.
    pub fn may_offer(&self, needed: bool, now: Instant) -> bool {
        match self.state {
            OfferState::Idle => needed,
            OfferState::Outstanding { deadline } => now >= deadline,
            OfferState::Refused { retry_at } => now >= retry_at,
        }
    }

    /// An offer was made at `now`. One made because the last went unanswered counts that
    /// one as a failure.
    pub fn handle_offered(&mut self, now: Instant) {
        if self.awaits_answer() {
            self.failures = self.failures.saturating_add(1);
        }
        self.begun += 1;
        self.ours = self.begun;
        let timeout = ANSWER_TIMEOUT.saturating_mul(1 << self.failures.min(3));
        self.state = OfferState::Outstanding {
            deadline: now + timeout,
        };
    }

    /// The client's answer was applied.
    pub fn handle_answered(&mut self) {
        self.state = OfferState::Idle;
        self.failures = 0;
        self.completed = self.ours;
    }

    /// Our offer gave way to the client's (glare): nothing is in flight any more.
    pub fn handle_withdrawn(&mut self) {
        self.state = OfferState::Idle;
    }

    /// A client offer was applied and answered: an exchange begun and completed at once. An
    /// offer of ours still held has given way to it (glare) and is withdrawn.
    pub fn handle_client_offer(&mut self) {
        self.state = OfferState::Idle;
        self.begun += 1;
        self.completed = self.begun;
    }

    /// The client's answer was refused. Returns the wait before the fresh offer, or `None`
    /// when no answer was awaited (the refusal changes nothing then).
    pub fn handle_refused(&mut self, now: Instant) -> Option<Duration> {
        if !self.awaits_answer() {
            return None;
        }
        Some(self.retry_later(now))
    }

    /// An offer could not be made (the WebRTC stack refused): it is tried again later, not
    /// at every wake-up.
    pub fn handle_offer_failed(&mut self, now: Instant) -> Duration {
        self.retry_later(now)
    }

    fn retry_later(&mut self, now: Instant) -> Duration {
        let wait = FIRST_RETRY
            .saturating_mul(1u32 << self.failures.min(16))
            .min(MAX_RETRY);
        self.failures = self.failures.saturating_add(1);
        self.state = OfferState::Refused {
            retry_at: now + wait,
        };
        wait
    }

    /// When an offer is due again: after a failure's wait, or when an answer is overdue.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            OfferState::Idle => None,
            OfferState::Outstanding { deadline } => Some(deadline),
            OfferState::Refused { retry_at } => Some(retry_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_schedules_a_fresh_offer_with_a_growing_backoff() {
        let t0 = Instant::now();
        let mut o = Offers::default();
        assert!(o.may_offer(true, t0) && !o.may_offer(false, t0));
        o.handle_offered(t0);
        assert!(!o.may_offer(true, t0), "one offer at a time");
        assert!(o.awaits_answer() && o.holds_local_offer());

        let w1 = o.handle_refused(t0).unwrap();
        assert_eq!(w1, FIRST_RETRY);
        assert_eq!(o.poll_timeout(), Some(t0 + w1));
        assert!(!o.may_offer(true, t0), "not before the wait is over");
        assert!(o.holds_local_offer() && !o.awaits_answer());
        assert!(
            o.may_offer(false, t0 + w1),
            "made again even if nothing else changed"
        );
        // A second refusal of the fresh offer waits twice as long; an answer in a row resets.
        o.handle_offered(t0);
        assert_eq!(o.handle_refused(t0).unwrap(), FIRST_RETRY * 2);
        for _ in 0..10 {
            o.handle_offered(t0);
            o.handle_refused(t0);
        }
        o.handle_offered(t0);
        assert_eq!(o.handle_refused(t0).unwrap(), MAX_RETRY);
        o.handle_offered(t0);
        o.handle_answered();
        assert_eq!(o.state(), OfferState::Idle);
        assert_eq!(o.poll_timeout(), None);
        o.handle_offered(t0);
        assert_eq!(o.handle_refused(t0).unwrap(), FIRST_RETRY);
    }

    #[test]
    fn a_refusal_without_an_outstanding_offer_changes_nothing() {
        let mut o = Offers::default();
        assert_eq!(o.handle_refused(Instant::now()), None);
        assert_eq!(o.state(), OfferState::Idle);
    }

    #[test]
    fn an_unanswered_offer_is_made_again_later_each_time() {
        let t0 = Instant::now();
        let mut o = Offers::default();
        o.handle_offered(t0);
        assert_eq!(o.poll_timeout(), Some(t0 + ANSWER_TIMEOUT));
        assert!(!o.may_offer(false, t0 + ANSWER_TIMEOUT - Duration::from_millis(1)));
        let t1 = t0 + ANSWER_TIMEOUT;
        assert!(o.may_offer(false, t1));
        o.handle_offered(t1);
        assert_eq!(o.poll_timeout(), Some(t1 + ANSWER_TIMEOUT * 2));
    }

    #[test]
    fn an_offer_that_cannot_be_made_waits_before_the_next_try() {
        let t0 = Instant::now();
        let mut o = Offers::default();
        assert_eq!(o.handle_offer_failed(t0), FIRST_RETRY);
        assert!(!o.may_offer(true, t0), "no retry at every wake-up");
        assert!(o.may_offer(false, t0 + FIRST_RETRY));
        assert_eq!(o.handle_offer_failed(t0), FIRST_RETRY * 2);
    }

    #[test]
    fn exchanges_are_numbered_and_complete_in_order() {
        let t0 = Instant::now();
        let mut o = Offers::default();
        let freed_at = o.next_exchange();
        o.handle_offered(t0);
        assert!(o.completed() < freed_at, "begun, not completed");
        o.handle_answered();
        assert!(o.completed() >= freed_at);
        // Something changes while an offer is out: only a later exchange carries it.
        o.handle_offered(t0);
        let changed_at = o.next_exchange();
        o.handle_answered();
        assert!(
            o.completed() < changed_at,
            "the answered offer predates the change"
        );
        o.handle_client_offer();
        assert!(o.completed() >= changed_at, "a client offer carries it");
    }
}
