//! Members of this node's rooms whose sockets are on other nodes: what the server keeps
//! about each (as a socket's extensions do for its own), and its queue of requests.

use crate::auth::Grants;
use sfu::SessionId;
use sfu::core::throttle::Throttle;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// A member whose socket is on another node.
pub struct Remote {
    /// Its id (its socket's id on its node).
    pub id: String,
    /// The node that holds its socket.
    pub node: String,
    /// When it first asked to join, so that a list sent before then is not taken to mean
    /// it is gone.
    pub since: Instant,
    /// Its requests, handled one at a time in the order they came; closed once it is no
    /// longer a member here.
    queue: Mutex<Option<mpsc::UnboundedSender<Queued>>>,
    kept: Mutex<Kept>,
}

/// A member's request from another node, or word that its client is gone.
pub enum Queued {
    /// The client sent `event`; the ack goes back as request `id`.
    Request {
        /// The request's id on the sending node.
        id: u64,
        /// The event.
        event: String,
        /// Its payload.
        data: Option<serde_json::Value>,
    },
    /// The client disconnected.
    Gone,
}

/// What a socket's extensions hold for a member of this node.
#[derive(Default)]
struct Kept {
    grants: Option<Grants>,
    identity: Option<String>,
    session: Option<SessionId>,
    refusals: Throttle,
    room: Option<String>,
    closed: bool,
}

impl Remote {
    /// A member of `node`, whose requests go to `queue`.
    pub fn new(id: String, node: String, queue: mpsc::UnboundedSender<Queued>) -> Remote {
        Remote {
            id,
            node,
            since: Instant::now(),
            queue: Mutex::new(Some(queue)),
            kept: Mutex::default(),
        }
    }

    /// Queues a request, or gives it back if the member is no longer here.
    pub fn push(&self, queued: Queued) -> Result<(), Queued> {
        // Nothing panics while holding this lock, so it is never poisoned.
        let queue = self.queue.lock().expect("member queue lock poisoned");
        match queue.as_ref() {
            Some(tx) => tx.send(queued).map_err(|e| e.0),
            None => Err(queued),
        }
    }

    fn close_queue(&self) {
        // See `push`.
        self.queue
            .lock()
            .expect("member queue lock poisoned")
            .take();
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // Nothing panics while holding this lock (field updates), so it is never poisoned.
        self.kept.lock().expect("member lock poisoned")
    }

    /// What it may do, once it has joined.
    pub fn grants(&self) -> Option<Grants> {
        self.kept().grants.clone()
    }

    /// Records what it may do, and its token identity.
    pub fn keep(&self, grants: Grants, identity: Option<&str>) {
        let mut kept = self.kept();
        kept.grants = Some(grants);
        kept.identity = identity.map(str::to_owned);
    }

    /// Its token identity, if it joined with one.
    pub fn identity(&self) -> Option<String> {
        self.kept().identity.clone()
    }

    /// Its SFU session now.
    pub fn session(&self) -> Option<SessionId> {
        self.kept().session
    }

    /// Records its SFU session.
    pub fn set_session(&self, session: SessionId) {
        self.kept().session = Some(session);
    }

    /// Counts a refused offer; `Some(n)` when this one is to be logged.
    pub fn note_refusal(&self) -> Option<u64> {
        self.kept().refusals.note()
    }

    /// Puts it in a room's broadcasts, or (`None`) in none.
    pub fn set_room(&self, room: Option<&str>) {
        self.kept().room = room.map(str::to_owned);
    }

    /// Whether its node was told to disconnect it.
    pub fn is_closed(&self) -> bool {
        self.kept().closed
    }

    /// Marks it closed; false if it was already.
    pub fn mark_closed(&self) -> bool {
        !std::mem::replace(&mut self.kept().closed, true)
    }

    /// The room it is in, if it has joined one.
    pub fn room(&self) -> Option<String> {
        self.kept().room.clone()
    }
}

/// Members of this node's rooms whose sockets are on other nodes, by id.
#[derive(Default)]
pub struct Remotes(Mutex<HashMap<String, Arc<Remote>>>);

impl Remotes {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Remote>>> {
        // Nothing panics while holding this lock (map updates), so it is never poisoned.
        self.0.lock().expect("remotes lock poisoned")
    }

    /// The member `id`, if its socket is on another node.
    pub fn get(&self, id: &str) -> Option<Arc<Remote>> {
        self.map().get(id).cloned()
    }

    /// Adds a member; false if the id is taken.
    pub fn insert(&self, remote: Arc<Remote>) -> bool {
        let mut map = self.map();
        if map.contains_key(&remote.id) {
            return false;
        }
        map.insert(remote.id.clone(), remote);
        true
    }

    /// Forgets member `id`; what it still has queued is answered, and nothing more.
    pub fn remove(&self, id: &str) -> Option<Arc<Remote>> {
        let removed = self.map().remove(id);
        if let Some(r) = &removed {
            r.close_queue();
        }
        removed
    }

    /// Forgets `remote`, if it is the member registered under its id.
    pub fn remove_if(&self, remote: &Arc<Remote>) {
        let mut map = self.map();
        if map.get(&remote.id).is_some_and(|r| Arc::ptr_eq(r, remote)) {
            map.remove(&remote.id);
            remote.close_queue();
        }
    }

    /// Whether `remote` is the member registered under its id.
    pub fn is(&self, remote: &Arc<Remote>) -> bool {
        self.map()
            .get(&remote.id)
            .is_some_and(|r| Arc::ptr_eq(r, remote))
    }

    /// Every member whose socket is on `node`.
    pub fn of_node(&self, node: &str) -> Vec<Arc<Remote>> {
        self.map()
            .values()
            .filter(|r| r.node == node)
            .cloned()
            .collect()
    }

    /// Every member, of every node.
    pub fn all(&self) -> Vec<Arc<Remote>> {
        self.map().values().cloned().collect()
    }

    /// The members in `room`, by node.
    pub fn in_room(&self, room: &str) -> HashMap<String, Vec<String>> {
        let mut by_node: HashMap<String, Vec<String>> = HashMap::new();
        for r in self.map().values() {
            if r.room().as_deref() == Some(room) {
                by_node
                    .entry(r.node.clone())
                    .or_default()
                    .push(r.id.clone());
            }
        }
        by_node
    }
}
