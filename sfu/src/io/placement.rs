//! Which worker holds each room and each participant.
//!
//! A room lives on one worker for its whole life: from its first member's join until its
//! last member leaves. A new room goes to the worker with the least load, counted in
//! subscriptions (DownTracks), not rooms: one room of 50 weighs more than ten rooms of 2.
//! A room that has only just been placed has no DownTracks yet, while its members
//! negotiate; it counts as the subscriptions it will have, each member receiving audio and
//! video from every other, so that rooms created together still spread out.

use crate::core::ids::{ParticipantId, RoomId, SessionId};
use std::collections::HashMap;

/// Subscriptions a room of `n` is expected to have: audio and video from every other member.
fn expected_downtracks(n: usize) -> usize {
    2 * n * n.saturating_sub(1)
}

#[derive(Debug)]
struct RoomPlace {
    worker: usize,
    members: usize,
}

#[derive(Debug)]
struct Member {
    worker: usize,
    room: RoomId,
    session: Option<SessionId>,
}

/// Where a participant went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    pub worker: usize,
    /// False when the participant was placed already (its join will be refused).
    pub new: bool,
}

/// The placement of every room and participant of a pool.
#[derive(Debug)]
pub(crate) struct Placement {
    workers: usize,
    rooms: HashMap<RoomId, RoomPlace>,
    members: HashMap<ParticipantId, Member>,
}

impl Placement {
    pub(crate) fn new(workers: usize) -> Placement {
        Placement {
            workers: workers.max(1),
            rooms: HashMap::new(),
            members: HashMap::new(),
        }
    }

    /// Places `participant` in `room`: on the room's worker, or, for a new room, on the
    /// least loaded one. `downtracks[w]` is what worker `w` reports forwarding to.
    pub(crate) fn handle_join(
        &mut self,
        room: &RoomId,
        participant: &ParticipantId,
        downtracks: &[usize],
    ) -> Placed {
        if let Some(m) = self.members.get(participant) {
            return Placed {
                worker: m.worker,
                new: false,
            };
        }
        let worker = match self.rooms.get(room) {
            Some(r) => r.worker,
            None => self.least_loaded(downtracks),
        };
        let place = self
            .rooms
            .entry(room.clone())
            .or_insert(RoomPlace { worker, members: 0 });
        place.members += 1;
        self.members.insert(
            participant.clone(),
            Member {
                worker,
                room: room.clone(),
                session: None,
            },
        );
        Placed { worker, new: true }
    }

    /// The participant's session on its worker is up.
    pub(crate) fn handle_session(&mut self, participant: &ParticipantId, session: SessionId) {
        if let Some(m) = self.members.get_mut(participant) {
            m.session = Some(session);
        }
    }

    /// The participant left (or its join failed): returns the worker it was on. A room
    /// whose last member left is forgotten, and may be placed anew.
    pub(crate) fn handle_leave(&mut self, participant: &ParticipantId) -> Option<usize> {
        let m = self.members.remove(participant)?;
        if let Some(r) = self.rooms.get_mut(&m.room) {
            r.members -= 1;
            if r.members == 0 {
                self.rooms.remove(&m.room);
            }
        }
        Some(m.worker)
    }

    /// Worker `worker` failed and lost its state: its rooms and members are forgotten.
    /// Returns the members whose sessions were up, to be told.
    pub(crate) fn handle_failure(&mut self, worker: usize) -> Vec<(ParticipantId, SessionId)> {
        self.rooms.retain(|_, r| r.worker != worker);
        let mut lost = Vec::new();
        self.members.retain(|p, m| {
            if m.worker != worker {
                return true;
            }
            if let Some(s) = m.session {
                lost.push((p.clone(), s));
            }
            false
        });
        lost.sort();
        lost
    }

    /// The worker of a participant.
    pub(crate) fn worker_of(&self, participant: &ParticipantId) -> Option<usize> {
        self.members.get(participant).map(|m| m.worker)
    }

    /// The worker of a room.
    pub(crate) fn room_worker(&self, room: &RoomId) -> Option<usize> {
        self.rooms.get(room).map(|r| r.worker)
    }

    /// The worker with the least load: the larger of its reported DownTracks and those its
    /// rooms are expected to have; then the fewest members; then the lowest index.
    fn least_loaded(&self, downtracks: &[usize]) -> usize {
        let mut expected = vec![0usize; self.workers];
        let mut members = vec![0usize; self.workers];
        for r in self.rooms.values() {
            expected[r.worker] += expected_downtracks(r.members);
            members[r.worker] += r.members;
        }
        (0..self.workers)
            .min_by_key(|&w| {
                let reported = downtracks.get(w).copied().unwrap_or(0);
                (reported.max(expected[w]), members[w], w)
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(p: &mut Placement, room: &str, who: &str, loads: &[usize]) -> Placed {
        p.handle_join(&RoomId::from(room), &ParticipantId::from(who), loads)
    }

    #[test]
    fn a_room_stays_on_its_worker() {
        let mut p = Placement::new(2);
        let a = join(&mut p, "a", "ann", &[0, 0]);
        assert_eq!(
            a,
            Placed {
                worker: 0,
                new: true
            }
        );
        // However loaded its worker becomes, the room's members follow it.
        assert_eq!(join(&mut p, "a", "al", &[900, 0]).worker, 0);
        assert_eq!(p.room_worker(&RoomId::from("a")), Some(0));
        assert_eq!(p.worker_of(&ParticipantId::from("al")), Some(0));
    }

    #[test]
    fn new_rooms_go_where_the_subscriptions_are_fewest() {
        let mut p = Placement::new(2);
        for who in ["a1", "a2", "a3", "a4", "a5"] {
            join(&mut p, "big", who, &[0, 0]);
        }
        // Two rooms of two on worker 1 weigh less than one room of five on worker 0.
        for (room, who) in [("x", "x1"), ("x", "x2"), ("y", "y1"), ("y", "y2")] {
            assert_eq!(join(&mut p, room, who, &[0, 0]).worker, 1, "{room}/{who}");
        }
        // Reported DownTracks count when they exceed the expectation.
        assert_eq!(join(&mut p, "z", "z1", &[0, 500]).worker, 0);
    }

    #[test]
    fn rooms_created_together_spread_out() {
        let mut p = Placement::new(2);
        let mut on = [0, 0];
        for r in 0..20 {
            for m in 0..5 {
                let placed = join(&mut p, &format!("r{r}"), &format!("r{r}m{m}"), &[0, 0]);
                if m == 0 {
                    on[placed.worker] += 1;
                }
            }
        }
        assert_eq!(on, [10, 10]);
    }

    #[test]
    fn the_last_leave_frees_the_room() {
        let mut p = Placement::new(2);
        join(&mut p, "a", "ann", &[0, 0]);
        join(&mut p, "a", "al", &[0, 0]);
        assert_eq!(p.handle_leave(&ParticipantId::from("ann")), Some(0));
        assert_eq!(p.room_worker(&RoomId::from("a")), Some(0));
        assert_eq!(p.handle_leave(&ParticipantId::from("al")), Some(0));
        assert_eq!(p.room_worker(&RoomId::from("a")), None);
        assert_eq!(p.handle_leave(&ParticipantId::from("al")), None);
        // Placed again, on whichever worker is lighter now.
        assert_eq!(join(&mut p, "a", "ann", &[10, 0]).worker, 1);
    }

    #[test]
    fn a_second_join_keeps_the_first_place() {
        let mut p = Placement::new(2);
        join(&mut p, "a", "ann", &[0, 0]);
        let again = join(&mut p, "b", "ann", &[0, 0]);
        assert_eq!(
            again,
            Placed {
                worker: 0,
                new: false
            }
        );
        assert_eq!(p.room_worker(&RoomId::from("b")), None);
    }

    #[test]
    fn a_failure_forgets_the_workers_rooms_and_names_its_members() {
        let mut p = Placement::new(2);
        join(&mut p, "a", "ann", &[0, 0]);
        join(&mut p, "b", "bob", &[0, 0]);
        join(&mut p, "a", "al", &[0, 0]);
        p.handle_session(&ParticipantId::from("ann"), SessionId(1));
        p.handle_session(&ParticipantId::from("bob"), SessionId(2));
        let lost = p.handle_failure(0);
        assert_eq!(lost, vec![(ParticipantId::from("ann"), SessionId(1))]);
        assert_eq!(p.room_worker(&RoomId::from("a")), None);
        assert_eq!(p.worker_of(&ParticipantId::from("al")), None);
        assert_eq!(p.worker_of(&ParticipantId::from("bob")), Some(1));
    }
}
