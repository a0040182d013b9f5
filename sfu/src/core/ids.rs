//! Newtype identifiers, so that a room name can never be passed where a participant id is meant.

use std::fmt;

/// A room, named by the signaling layer (for example `standup-42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub String);

/// A participant: one WebRTC session with the SFU. The signaling layer picks the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub String);

/// One SFU session of a participant. A participant whose session is replaced (it left the
/// SFU and joined again, as `sfu-restart` does) gets a new one, so that what the old session
/// still had in flight can be told apart and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A published track, unique within the SFU for its whole lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u64);

/// The ids one SFU hands out: `first`, `first + step`, … Each worker of a pool takes its
/// own residue class, so that session and track ids are unique across workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSpace {
    next: u64,
    step: u64,
}

impl IdSpace {
    /// The ids of worker `index` of `workers`: `index + 1`, `index + 1 + workers`, …
    pub fn of_worker(index: usize, workers: usize) -> IdSpace {
        IdSpace {
            next: index as u64 + 1,
            step: workers.max(1) as u64,
        }
    }

    /// Whichever of the two spaces (of one worker) has gone further.
    pub(crate) fn later(self, other: IdSpace) -> IdSpace {
        if other.next > self.next { other } else { self }
    }

    /// The next id.
    pub(crate) fn take(&mut self) -> u64 {
        let id = self.next;
        self.next += self.step;
        id
    }
}

impl Default for IdSpace {
    /// 1, 2, 3…: a lone SFU's.
    fn default() -> IdSpace {
        IdSpace::of_worker(0, 1)
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl From<&str> for RoomId {
    fn from(s: &str) -> Self {
        RoomId(s.to_owned())
    }
}

impl From<&str> for ParticipantId {
    fn from(s: &str) -> Self {
        ParticipantId(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::IdSpace;

    #[test]
    fn workers_take_disjoint_ids() {
        let mut a = IdSpace::of_worker(0, 3);
        let mut c = IdSpace::of_worker(2, 3);
        assert_eq!([a.take(), a.take(), a.take()], [1, 4, 7]);
        assert_eq!([c.take(), c.take()], [3, 6]);
        let mut lone = IdSpace::default();
        assert_eq!([lone.take(), lone.take()], [1, 2]);
    }
}
