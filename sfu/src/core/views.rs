//! Views: which members' video each subscriber shows. A subscriber whose tile of a member is
//! hidden (scrolled away, a minimised tab) is sent none of that member's video; the choice
//! outlives the member's tracks, so that a republished camera stays hidden too.

use crate::core::ids::{ParticipantId, SessionId};
use std::collections::{HashMap, HashSet};

/// The (subscriber, publisher) pairs whose video is not shown, and the size of the tiles
/// that are.
#[derive(Default)]
pub(crate) struct Views {
    hidden: HashSet<(SessionId, ParticipantId)>,
    tiles: HashMap<(SessionId, ParticipantId), (u16, u16)>,
}

impl Views {
    /// Records the size, in device pixels, of the tile `subscriber` shows `publisher` in.
    pub(crate) fn set_tile(
        &mut self,
        subscriber: SessionId,
        publisher: &ParticipantId,
        size: (u16, u16),
    ) {
        self.tiles.insert((subscriber, publisher.clone()), size);
    }

    /// The size of the tile `subscriber` shows `publisher` in, if it said.
    pub(crate) fn tile(
        &self,
        subscriber: SessionId,
        publisher: &ParticipantId,
    ) -> Option<(u16, u16)> {
        self.tiles.get(&(subscriber, publisher.clone())).copied()
    }

    /// Records whether `subscriber` shows `publisher`'s video; whether that changed.
    pub(crate) fn set(
        &mut self,
        subscriber: SessionId,
        publisher: &ParticipantId,
        visible: bool,
    ) -> bool {
        if visible {
            self.hidden.remove(&(subscriber, publisher.clone()))
        } else {
            self.hidden.insert((subscriber, publisher.clone()))
        }
    }

    /// Whether `subscriber` hides `publisher`'s video.
    pub(crate) fn hides(&self, subscriber: SessionId, publisher: &ParticipantId) -> bool {
        self.hidden.contains(&(subscriber, publisher.clone()))
    }

    /// Forgets a session that has gone, as subscriber.
    pub(crate) fn forget(&mut self, subscriber: SessionId) {
        self.hidden.retain(|(s, _)| *s != subscriber);
        self.tiles.retain(|(s, _), _| *s != subscriber);
    }

    /// Pairs recorded, for the leak checks of the stats.
    pub(crate) fn len(&self) -> usize {
        self.hidden.len() + self.tiles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_is_kept_per_pair_until_the_subscriber_goes() {
        let mut v = Views::default();
        let (bob, cat) = (ParticipantId::from("bob"), ParticipantId::from("cat"));
        assert!(!v.hides(SessionId(1), &bob));
        assert!(v.set(SessionId(1), &bob, false));
        assert!(!v.set(SessionId(1), &bob, false), "no change");
        assert!(v.hides(SessionId(1), &bob));
        assert!(!v.hides(SessionId(2), &bob));
        assert!(!v.hides(SessionId(1), &cat));
        v.set(SessionId(2), &cat, false);
        v.set_tile(SessionId(1), &cat, (320, 180));
        assert_eq!(v.tile(SessionId(1), &cat), Some((320, 180)));
        assert_eq!(v.tile(SessionId(2), &cat), None);
        v.forget(SessionId(1));
        assert_eq!(v.tile(SessionId(1), &cat), None);
        assert!(!v.hides(SessionId(1), &bob));
        assert!(v.hides(SessionId(2), &cat));
        assert!(v.set(SessionId(2), &cat, true));
        assert_eq!(v.len(), 0);
    }
}
