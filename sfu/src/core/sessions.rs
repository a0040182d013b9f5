//! Sessions: every session of one SFU, and which of them have output waiting.
//!
//! A session that was handed input, or was written to, is marked dirty; the core drains the
//! dirty sessions one after another in a plain loop, until none is left. Acting on one
//! session's output may mark others (a published track needs an offer at every subscriber):
//! they are drained in the same loop, never from inside another's drain.

use crate::core::ids::{IdSpace, SessionId};
use crate::core::session::Session;
use std::collections::{HashMap, HashSet};

/// The sessions of one SFU.
#[derive(Default)]
pub(crate) struct Sessions {
    map: HashMap<SessionId, Session>,
    dirty: Vec<SessionId>,
    queued: HashSet<SessionId>,
    ids: IdSpace,
}

impl Sessions {
    /// The id the next session gets.
    pub(crate) fn next_id(&mut self) -> SessionId {
        SessionId(self.ids.take())
    }

    /// Sessions whose ids come from `ids`.
    pub(crate) fn with_ids(ids: IdSpace) -> Sessions {
        Sessions {
            ids,
            ..Sessions::default()
        }
    }

    /// Where the ids go on from, for an SFU that takes over from this one.
    pub(crate) fn ids(&self) -> IdSpace {
        self.ids
    }

    /// Adds a session, marked dirty so that its timers are noted.
    pub(crate) fn insert(&mut self, session: Session) {
        let id = session.id;
        self.map.insert(id, session);
        self.mark(id);
    }

    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Session> {
        self.map.remove(&id)
    }

    pub(crate) fn get(&self, id: SessionId) -> Option<&Session> {
        self.map.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.map.get_mut(&id)
    }

    /// Every session.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Session> {
        self.map.values()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Notes that `id` may have output, or a new timer.
    pub(crate) fn mark(&mut self, id: SessionId) {
        if self.queued.insert(id) {
            self.dirty.push(id);
        }
    }

    /// The next session to drain.
    pub(crate) fn pop_dirty(&mut self) -> Option<SessionId> {
        let id = self.dirty.pop()?;
        self.queued.remove(&id);
        Some(id)
    }
}
