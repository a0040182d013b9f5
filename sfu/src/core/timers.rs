//! Timers: the next instant each session or track needs the core, kept in a deadline heap, so
//! that a wake-up costs O(log n) in the number of timers rather than a question to every
//! session. A timer is set again whenever what it belongs to may have changed; a stale entry
//! of the heap is skipped when it comes up.

use crate::core::ids::{SessionId, TrackId};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// What a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerOf {
    /// A session's WebRTC stack or negotiation.
    Session(SessionId),
    /// A track's coalesced keyframe request.
    Track(TrackId),
    /// A session's sender reports.
    Reports(SessionId),
    /// The next choice of every subscriber's layers.
    Allocate,
}

/// Every timer of one SFU.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerOf)>>,
    current: HashMap<TimerOf, Instant>,
}

impl Timers {
    /// Sets `of`'s timer to `at`, or clears it.
    pub(crate) fn set(&mut self, of: TimerOf, at: Option<Instant>) {
        match at {
            Some(at) => {
                if self.current.insert(of, at) != Some(at) {
                    self.heap.push(Reverse((at, of)));
                }
            }
            None => {
                self.current.remove(&of);
            }
        }
    }

    /// Whether `of` has a timer set.
    pub(crate) fn is_set(&self, of: TimerOf) -> bool {
        self.current.contains_key(&of)
    }

    /// Takes the next timer due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerOf> {
        while let Some(&Reverse((at, of))) = self.heap.peek() {
            if self.current.get(&of) != Some(&at) {
                self.heap.pop();
                continue;
            }
            if at > now {
                return None;
            }
            self.heap.pop();
            self.current.remove(&of);
            return Some(of);
        }
        None
    }

    /// The earliest timer.
    pub(crate) fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, of))) = self.heap.peek() {
            if self.current.get(&of) == Some(&at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Timers set.
    pub(crate) fn len(&self) -> usize {
        self.current.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_latest_setting_wins_and_due_timers_come_in_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let (a, b, c) = (
            TimerOf::Session(SessionId(1)),
            TimerOf::Session(SessionId(2)),
            TimerOf::Track(TrackId(3)),
        );
        let mut t = Timers::default();
        t.set(a, Some(t0 + ms(30)));
        t.set(b, Some(t0 + ms(10)));
        t.set(c, Some(t0 + ms(20)));
        t.set(a, Some(t0 + ms(5))); // moved earlier
        t.set(c, None); // cleared
        assert_eq!(t.next(), Some(t0 + ms(5)));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(t.pop_due(t0 + ms(40)), Some(a));
        assert_eq!(t.pop_due(t0 + ms(40)), Some(b));
        assert_eq!(
            t.pop_due(t0 + ms(40)),
            None,
            "the cleared and stale ones are skipped"
        );
        assert_eq!(t.len(), 0);
        assert_eq!(t.next(), None);
    }
}
