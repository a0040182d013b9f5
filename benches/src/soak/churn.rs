//! What the soak does next to its rooms: a member joins, leaves, or is killed. Pure, with its
//! own random source, so that the policy is tested without a server.

use rand::{RngExt, SeedableRng, rngs::SmallRng};

/// One change to one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new member joins room `.0` and publishes.
    Join(usize),
    /// Member `.1` of room `.0` leaves as a closed tab does.
    Leave(usize, usize),
    /// Member `.1` of room `.0` vanishes without a goodbye.
    Kill(usize, usize),
}

/// Picks changes that keep every room between `min` and `max` members, around a target size.
pub struct Churn {
    rng: SmallRng,
    min: usize,
    max: usize,
}

impl Churn {
    /// Rooms of about `size` members; `seed` makes a run repeatable.
    pub fn new(size: usize, seed: u64) -> Churn {
        Churn {
            rng: SmallRng::seed_from_u64(seed),
            min: size.saturating_sub(2).max(1),
            max: size + 1,
        }
    }

    /// The next change, given each room's member count now. One in five departures is a
    /// kill: the case that only timeouts clean up.
    pub fn next(&mut self, sizes: &[usize]) -> Option<Action> {
        if sizes.is_empty() {
            return None;
        }
        let room = self.rng.random_range(0..sizes.len());
        let n = sizes[room];
        let join = n <= self.min || (n < self.max && self.rng.random_bool(0.5));
        if join {
            return Some(Action::Join(room));
        }
        let who = self.rng.random_range(0..n);
        Some(if self.rng.random_bool(0.2) {
            Action::Kill(room, who)
        } else {
            Action::Leave(room, who)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies actions to counts, as the soak does to rooms.
    fn apply(sizes: &mut [usize], a: Action) {
        match a {
            Action::Join(r) => sizes[r] += 1,
            Action::Leave(r, i) | Action::Kill(r, i) => {
                assert!(i < sizes[r], "member {i} of a room of {}", sizes[r]);
                sizes[r] -= 1;
            }
        }
    }

    #[test]
    fn rooms_stay_within_bounds_and_every_kind_of_change_happens() {
        let mut churn = Churn::new(5, 7);
        let mut sizes = vec![5, 5, 5, 5];
        let (mut joins, mut leaves, mut kills) = (0, 0, 0);
        for _ in 0..10_000 {
            let a = churn.next(&sizes).unwrap();
            match a {
                Action::Join(_) => joins += 1,
                Action::Leave(..) => leaves += 1,
                Action::Kill(..) => kills += 1,
            }
            apply(&mut sizes, a);
            assert!(sizes.iter().all(|&n| (3..=6).contains(&n)), "{sizes:?}");
        }
        assert!(
            joins > 3000 && leaves > 2000 && kills > 400,
            "{joins} {leaves} {kills}"
        );
    }

    #[test]
    fn an_empty_room_only_gains_members() {
        let mut churn = Churn::new(5, 1);
        for _ in 0..100 {
            assert_eq!(churn.next(&[0]), Some(Action::Join(0)));
        }
        assert_eq!(churn.next(&[]), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let run = |seed| {
            let mut c = Churn::new(5, seed);
            (0..50).map(|_| c.next(&[4, 5, 6])).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
