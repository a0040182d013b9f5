//! Room membership, chat history, and the P2P/SFU mode policy.
//!
//! Synchronous and IO-free: handlers call it under one short lock and act on what it returns
//! (whom to tell what), so the policy is unit-tested without sockets.

use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// How a room's media flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Browser to browser; the server forwards nothing.
    P2p,
    /// Through the SFU.
    Sfu,
}

/// A member as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Participant id (the Socket.IO socket id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its join token withholds a right (publishing, receiving), which the server can
    /// enforce only on media through the SFU: its room never goes peer to peer.
    #[serde(skip)]
    pub restricted: bool,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// Increasing within the room.
    pub id: u64,
    /// Sender's participant id.
    pub from: String,
    /// Sender's display name.
    pub name: String,
    /// The text.
    pub text: String,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
}

/// A change of a room's mode, to announce to its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeSwitch {
    /// The room.
    pub room: String,
    /// The new mode.
    pub mode: Mode,
    /// Why, for the `mode` event.
    pub reason: &'static str,
    /// The room's count of mode changes, this one included: timers started for this switch
    /// check it to learn whether a later switch overtook them.
    pub seq: u64,
}

/// A room as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// The room's name.
    pub name: String,
    /// Its mode.
    pub mode: Mode,
    /// Its members, in joining order.
    pub members: Vec<Member>,
}

/// Room and member counts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomCounts {
    /// Rooms.
    pub rooms: usize,
    /// Rooms in P2P mode.
    pub p2p: usize,
    /// Rooms in SFU mode.
    pub sfu: usize,
    /// Members of all rooms.
    pub members: usize,
}

/// The policy's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Most members per room.
    pub max_room_size: usize,
    /// Whether rooms of two may use P2P at all.
    pub p2p_allowed: bool,
}

/// How many chat messages a room keeps for late joiners.
pub const CHAT_HISTORY: usize = 100;

struct Room {
    members: Vec<Member>,
    mode: Mode,
    chat: VecDeque<ChatMessage>,
    next_chat_id: u64,
    /// A P2P pair reported that its ICE failed: this membership stays on the SFU.
    p2p_failed: bool,
    /// Bumped on every membership change, so a hold-down timer started earlier can tell
    /// that the room changed under it.
    generation: u64,
    /// Members that reported their P2P media flowing after a switch back to P2P.
    p2p_ready: HashSet<String>,
    /// Mode changes so far.
    switches: u64,
}

impl Room {
    fn view(&self, name: &str) -> RoomView {
        RoomView {
            name: name.to_owned(),
            mode: self.mode,
            members: self.members.clone(),
        }
    }

    /// Changes the mode, and says so for the members.
    fn switch(&mut self, room: &str, mode: Mode, reason: &'static str) -> ModeSwitch {
        self.mode = mode;
        self.switches += 1;
        ModeSwitch {
            room: room.to_owned(),
            mode,
            reason,
            seq: self.switches,
        }
    }

    fn desired_mode(&self, policy: &Policy) -> Mode {
        if !policy.p2p_allowed
            || self.p2p_failed
            || self.members.len() >= 3
            || self.members.iter().any(|m| m.restricted)
        {
            Mode::Sfu
        } else {
            Mode::P2p
        }
    }
}

/// What joining produced.
#[derive(Debug)]
pub struct Joined {
    /// The other members.
    pub peers: Vec<Member>,
    /// The room's mode now.
    pub mode: Mode,
    /// The last messages.
    pub chat_history: Vec<ChatMessage>,
    /// The room moved to the SFU because of this join.
    pub switch: Option<ModeSwitch>,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The room has `max_room_size` members.
    #[error("the room is full")]
    RoomFull,
    /// This socket is already in a room.
    #[error("already in a room; leave it first")]
    AlreadyJoined,
}

/// What leaving produced.
#[derive(Debug)]
pub struct Left {
    /// The room left.
    pub room: String,
    /// The member that left.
    pub member: Member,
    /// Start a hold-down timer with this generation: the room may return to P2P.
    pub hold_down: Option<u64>,
    /// The room is now empty and gone.
    pub emptied: bool,
}

/// Every room and which room each socket is in.
pub struct Rooms {
    policy: Policy,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    /// Socket id → room name.
    membership: HashMap<String, String>,
}

impl Rooms {
    /// No rooms yet.
    pub fn new(policy: Policy) -> Rooms {
        Rooms {
            policy,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding this lock (plain map updates), so it is never poisoned.
        self.inner.lock().expect("rooms lock poisoned")
    }

    /// Adds `member` to `room`, creating it if needed. `then` runs while the rooms are still
    /// locked, so that whatever it registers (the socket's broadcast membership) is in place
    /// before any other member can see this one and announce itself to the room.
    pub fn join(
        &self,
        room: &str,
        member: Member,
        then: impl FnOnce(),
    ) -> Result<Joined, JoinError> {
        self.join_seeded(room, member, Vec::new(), then)
    }

    /// Like [`Rooms::join`]; a room that this join creates starts with `history` as its
    /// chat (the cluster keeps a room's chat when the room moves between nodes), in id
    /// order, at most [`CHAT_HISTORY`] of it.
    pub fn join_seeded(
        &self,
        room: &str,
        member: Member,
        mut history: Vec<ChatMessage>,
        then: impl FnOnce(),
    ) -> Result<Joined, JoinError> {
        history.sort_by_key(|m| m.id);
        history.dedup_by_key(|m| m.id);
        let skip = history.len().saturating_sub(CHAT_HISTORY);
        let policy = self.policy;
        let mut inner = self.lock();
        if inner.membership.contains_key(&member.id) {
            return Err(JoinError::AlreadyJoined);
        }
        let r = inner.rooms.entry(room.to_owned()).or_insert_with(|| Room {
            members: Vec::new(),
            mode: if policy.p2p_allowed {
                Mode::P2p
            } else {
                Mode::Sfu
            },
            next_chat_id: history.last().map_or(1, |m| m.id + 1),
            chat: history.into_iter().skip(skip).collect(),
            p2p_failed: false,
            generation: 0,
            p2p_ready: HashSet::new(),
            switches: 0,
        });
        if r.members.len() >= policy.max_room_size {
            let empty = r.members.is_empty();
            if empty {
                inner.rooms.remove(room);
            }
            return Err(JoinError::RoomFull);
        }
        let peers = r.members.clone();
        r.members.push(member.clone());
        r.generation += 1;
        let reason = if member.restricted {
            "restricted-member"
        } else {
            "third-member"
        };
        let switch = (r.mode == Mode::P2p && r.desired_mode(&policy) == Mode::Sfu)
            .then(|| r.switch(room, Mode::Sfu, reason));
        let joined = Joined {
            peers,
            mode: r.mode,
            chat_history: r.chat.iter().cloned().collect(),
            switch,
        };
        inner.membership.insert(member.id, room.to_owned());
        then();
        Ok(joined)
    }

    /// Removes the socket from its room, if it is in one, running `then` while the rooms are
    /// still locked (as `join` does).
    pub fn leave(&self, id: &str, then: impl FnOnce()) -> Option<Left> {
        let policy = self.policy;
        let mut inner = self.lock();
        let room = inner.membership.remove(id)?;
        let r = inner.rooms.get_mut(&room)?;
        let at = r.members.iter().position(|m| m.id == id)?;
        let member = r.members.remove(at);
        r.generation += 1;
        r.p2p_failed = false;
        r.p2p_ready.remove(id);
        let hold_down =
            (r.mode == Mode::Sfu && r.desired_mode(&policy) == Mode::P2p).then_some(r.generation);
        let emptied = r.members.is_empty();
        if emptied {
            inner.rooms.remove(&room);
        }
        then();
        Some(Left {
            room,
            member,
            hold_down,
            emptied,
        })
    }

    /// The hold-down started at `generation` ran out: returns the switch back to P2P if the
    /// room has not changed since.
    pub fn hold_down_expired(&self, room: &str, generation: u64) -> Option<ModeSwitch> {
        let policy = self.policy;
        let mut inner = self.lock();
        let r = inner.rooms.get_mut(room)?;
        if r.generation != generation || r.mode != Mode::Sfu || r.desired_mode(&policy) != Mode::P2p
        {
            return None;
        }
        r.p2p_ready.clear();
        Some(r.switch(room, Mode::P2p, "hold-down"))
    }

    /// A member reports that its P2P connection failed: the room uses the SFU.
    pub fn p2p_failed(&self, id: &str) -> Option<ModeSwitch> {
        let mut inner = self.lock();
        let room = inner.membership.get(id)?.clone();
        let r = inner.rooms.get_mut(&room)?;
        r.p2p_failed = true;
        r.generation += 1;
        (r.mode == Mode::P2p).then(|| r.switch(&room, Mode::Sfu, "p2p-failed"))
    }

    /// A member reports its P2P media flowing. Returns the room when every member has, so
    /// that the SFU can stop forwarding for it.
    ///
    /// When it is, `then` runs with the room while the rooms are still locked: whatever it
    /// queues (the end of forwarding) is ordered with the room's mode changes.
    pub fn p2p_ready(&self, id: &str, then: impl FnOnce(&str)) -> Option<String> {
        let mut inner = self.lock();
        let room = inner.membership.get(id)?.clone();
        let r = inner.rooms.get_mut(&room)?;
        if r.mode != Mode::P2p {
            return None;
        }
        r.p2p_ready.insert(id.to_owned());
        let all = r.members.iter().all(|m| r.p2p_ready.contains(&m.id));
        all.then(|| {
            then(&room);
            room
        })
    }

    /// Whether `switch` is still the room's latest mode change.
    pub fn is_current(&self, switch: &ModeSwitch) -> bool {
        self.if_current(switch, || ())
    }

    /// Runs `then` if `switch` is still the room's latest mode change, while the rooms are
    /// locked (see `p2p_ready`). Returns whether it ran.
    pub fn if_current(&self, switch: &ModeSwitch, then: impl FnOnce()) -> bool {
        let inner = self.lock();
        let current = inner
            .rooms
            .get(&switch.room)
            .is_some_and(|r| r.switches == switch.seq);
        if current {
            then();
        }
        current
    }

    /// Runs `then` with the room's mode (`None` if it has no members), while the rooms are
    /// locked (see `p2p_ready`).
    pub fn with_mode<R>(&self, room: &str, then: impl FnOnce(Option<Mode>) -> R) -> R {
        let inner = self.lock();
        then(inner.rooms.get(room).map(|r| r.mode))
    }

    /// The socket's room and display name.
    pub fn membership(&self, id: &str) -> Option<(String, String)> {
        let inner = self.lock();
        let room = inner.membership.get(id)?;
        let name = inner
            .rooms
            .get(room)?
            .members
            .iter()
            .find(|m| m.id == id)?
            .name
            .clone();
        Some((room.clone(), name))
    }

    /// Whether both sockets are in the same room.
    pub fn same_room(&self, a: &str, b: &str) -> bool {
        let inner = self.lock();
        matches!((inner.membership.get(a), inner.membership.get(b)), (Some(x), Some(y)) if x == y)
    }

    /// Appends a chat message from the socket to its room's history.
    pub fn chat(&self, id: &str, text: String, ts: u64) -> Option<(String, ChatMessage)> {
        let mut inner = self.lock();
        let room = inner.membership.get(id)?.clone();
        let r = inner.rooms.get_mut(&room)?;
        let name = r.members.iter().find(|m| m.id == id)?.name.clone();
        let msg = ChatMessage {
            id: r.next_chat_id,
            from: id.to_owned(),
            name,
            text,
            ts,
        };
        r.next_chat_id += 1;
        if r.chat.len() == CHAT_HISTORY {
            r.chat.pop_front();
        }
        r.chat.push_back(msg.clone());
        Some((room, msg))
    }

    /// Every room, sorted by name.
    pub fn snapshot(&self) -> Vec<RoomView> {
        let inner = self.lock();
        let mut v: Vec<RoomView> = inner.rooms.iter().map(|(n, r)| r.view(n)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// How many rooms there are, by mode, and their members, in one pass.
    pub fn counts(&self) -> RoomCounts {
        let inner = self.lock();
        let mut c = RoomCounts::default();
        for r in inner.rooms.values() {
            c.rooms += 1;
            match r.mode {
                Mode::P2p => c.p2p += 1,
                Mode::Sfu => c.sfu += 1,
            }
            c.members += r.members.len();
        }
        c
    }

    /// One room, if it exists.
    pub fn room(&self, name: &str) -> Option<RoomView> {
        self.lock().rooms.get(name).map(|r| r.view(name))
    }

    /// Rooms and their member counts, for logs and tests.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        let inner = self.lock();
        let mut v: Vec<_> = inner
            .rooms
            .iter()
            .map(|(k, r)| (k.clone(), r.members.len()))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> Member {
        Member {
            id: id.into(),
            name: id.to_uppercase(),
            restricted: false,
        }
    }

    #[test]
    fn a_restricted_member_keeps_its_room_on_the_sfu_until_it_leaves() {
        let r = rooms(true);
        assert_eq!(r.join("x", m("a"), || ()).unwrap().mode, Mode::P2p);
        let watcher = Member {
            restricted: true,
            ..m("w")
        };
        let joined = r.join("x", watcher, || ()).unwrap();
        let s = joined.switch.expect("the room leaves P2P");
        assert_eq!((s.mode, s.reason), (Mode::Sfu, "restricted-member"));
        let left = r.leave("w", || ()).unwrap();
        let generation = left.hold_down.expect("back to P2P after the hold-down");
        assert_eq!(
            r.hold_down_expired("x", generation).unwrap().mode,
            Mode::P2p
        );
    }

    fn rooms(p2p_allowed: bool) -> Rooms {
        Rooms::new(Policy {
            max_room_size: 4,
            p2p_allowed,
        })
    }

    #[test]
    fn two_are_p2p_and_the_third_moves_the_room_to_the_sfu() {
        let r = rooms(true);
        assert_eq!(r.join("x", m("a"), || ()).unwrap().mode, Mode::P2p);
        let b = r.join("x", m("b"), || ()).unwrap();
        assert_eq!((b.mode, b.switch), (Mode::P2p, None));
        assert_eq!(b.peers, vec![m("a")]);
        let c = r.join("x", m("c"), || ()).unwrap();
        assert_eq!(c.mode, Mode::Sfu);
        assert_eq!(c.switch.unwrap().reason, "third-member");
    }

    #[test]
    fn a_room_created_with_history_keeps_its_order_and_numbering() {
        let r = Rooms::new(Policy {
            max_room_size: 16,
            p2p_allowed: true,
        });
        let msg = |id| ChatMessage {
            id,
            from: "x".into(),
            name: "X".into(),
            text: format!("{id}"),
            ts: 0,
        };
        let history: Vec<ChatMessage> = (1..=120).rev().map(msg).chain([msg(7)]).collect();
        let joined = r.join_seeded("x", m("a"), history, || ()).unwrap();
        let ids: Vec<u64> = joined.chat_history.iter().map(|c| c.id).collect();
        assert_eq!(ids, (21..=120).collect::<Vec<_>>());
        assert_eq!(r.chat("a", "next".into(), 0).unwrap().1.id, 121);
        // A room that exists already keeps its own.
        let again = r.join_seeded("x", m("b"), vec![msg(500)], || ()).unwrap();
        assert_eq!(again.chat_history.last().unwrap().id, 121);
    }

    #[test]
    fn back_to_two_returns_to_p2p_only_after_an_undisturbed_hold_down() {
        let r = rooms(true);
        for id in ["a", "b", "c"] {
            r.join("x", m(id), || ()).unwrap();
        }
        let g1 = r.leave("c", || ()).unwrap().hold_down.unwrap();
        // Someone joins during the hold-down: the old timer is void.
        r.join("x", m("d"), || ()).unwrap();
        assert_eq!(r.hold_down_expired("x", g1), None);
        let g2 = r.leave("d", || ()).unwrap().hold_down.unwrap();
        let s = r.hold_down_expired("x", g2).unwrap();
        assert_eq!((s.mode, s.reason), (Mode::P2p, "hold-down"));
        assert_eq!(r.room("x").map(|v| v.mode), Some(Mode::P2p));
        // Both report P2P media: the SFU may stop forwarding.
        assert_eq!(r.p2p_ready("a", |_| ()), None);
        assert_eq!(r.p2p_ready("b", |_| ()), Some("x".into()));
    }

    #[test]
    fn counts_match_the_snapshot() {
        let r = rooms(true);
        for (room, id) in [("x", "a"), ("x", "b"), ("x", "c"), ("y", "d")] {
            r.join(room, m(id), || ()).unwrap();
        }
        let snap = r.snapshot();
        let c = r.counts();
        assert_eq!((c.rooms, c.p2p, c.sfu, c.members), (2, 1, 1, 4));
        assert_eq!(c.rooms, snap.len());
        assert_eq!(
            c.members,
            snap.iter().map(|v| v.members.len()).sum::<usize>()
        );
    }

    #[test]
    fn a_later_switch_overtakes_an_earlier_one() {
        let r = rooms(true);
        for id in ["a", "b", "c"] {
            r.join("x", m(id), || ()).unwrap();
        }
        let g = r.leave("c", || ()).unwrap().hold_down.unwrap();
        let back = r.hold_down_expired("x", g).unwrap();
        assert!(r.is_current(&back));
        // Quickly to the SFU and back again: timers of the first return to P2P are stale.
        let sfu = r.join("x", m("d"), || ()).unwrap().switch.unwrap();
        assert!(!r.is_current(&back));
        assert!(r.is_current(&sfu));
        let g = r.leave("d", || ()).unwrap().hold_down.unwrap();
        let again = r.hold_down_expired("x", g).unwrap();
        assert_eq!(again.mode, Mode::P2p);
        assert!(!r.is_current(&back) && !r.is_current(&sfu) && r.is_current(&again));
    }

    #[test]
    fn p2p_off_and_p2p_failure_keep_the_sfu() {
        let off = rooms(false);
        assert_eq!(off.join("x", m("a"), || ()).unwrap().mode, Mode::Sfu);
        assert_eq!(off.join("x", m("b"), || ()).unwrap().mode, Mode::Sfu);
        assert_eq!(off.leave("b", || ()).unwrap().hold_down, None);

        let r = rooms(true);
        r.join("x", m("a"), || ()).unwrap();
        r.join("x", m("b"), || ()).unwrap();
        let s = r.p2p_failed("a").unwrap();
        assert_eq!((s.mode, s.reason), (Mode::Sfu, "p2p-failed"));
        assert_eq!(r.room("x").map(|v| v.mode), Some(Mode::Sfu));
    }

    #[test]
    fn full_rooms_and_double_joins_are_refused() {
        let r = rooms(true);
        for id in ["a", "b", "c", "d"] {
            r.join("x", m(id), || ()).unwrap();
        }
        assert_eq!(r.join("x", m("e"), || ()).unwrap_err(), JoinError::RoomFull);
        assert_eq!(
            r.join("y", m("a"), || ()).unwrap_err(),
            JoinError::AlreadyJoined
        );
    }

    #[test]
    fn chat_history_is_ordered_bounded_and_given_to_late_joiners() {
        let r = rooms(true);
        r.join("x", m("a"), || ()).unwrap();
        for i in 0..(CHAT_HISTORY as u64 + 5) {
            let (_, msg) = r.chat("a", format!("m{i}"), i).unwrap();
            assert_eq!(msg.id, i + 1);
        }
        let late = r.join("x", m("b"), || ()).unwrap();
        assert_eq!(late.chat_history.len(), CHAT_HISTORY);
        assert_eq!(late.chat_history[0].text, "m5");
        assert_eq!(late.chat_history.last().unwrap().text, "m104");
        assert!(r.chat("nobody", "x".into(), 0).is_none());
    }

    #[test]
    fn membership_and_isolation() {
        let r = rooms(true);
        r.join("x", m("a"), || ()).unwrap();
        r.join("x", m("b"), || ()).unwrap();
        r.join("y", m("c"), || ()).unwrap();
        assert!(r.same_room("a", "b"));
        assert!(!r.same_room("a", "c"));
        assert!(!r.same_room("a", "ghost"));
        let left = r.leave("c", || ()).unwrap();
        assert!(left.emptied);
        assert_eq!(r.sizes(), vec![("x".into(), 2)]);
        assert!(r.leave("c", || ()).is_none());
    }
}
