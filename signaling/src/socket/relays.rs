//! This node's sockets whose rooms live on other nodes: where each room is, and what the
//! socket knows of it.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

/// A socket of this node whose room is on another node.
#[derive(Clone)]
pub struct Relay {
    /// The room's node.
    pub home: String,
    /// When its join went there.
    pub since: Instant,
    /// The room.
    pub room: String,
    /// Its join request, to join again should the room move.
    pub join: Value,
    /// The members it knows in its room, from its join's ack and the events since.
    pub peers: BTreeSet<String>,
    /// Which relay of the socket this is: an ack for an older one must not end it.
    pub generation: u64,
    /// Its join was acked: the client knows it is in the room.
    pub acked: bool,
}

/// Where a socket's events go.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// To its room's node.
    Home(String),
    /// Nowhere for now: its room is moving to another node after its node was lost.
    Moving,
}

/// This node's sockets whose rooms live on other nodes, by socket id.
#[derive(Default)]
pub struct Relays {
    map: Mutex<HashMap<String, Relay>>,
    /// Sockets whose room is being moved.
    moving: Mutex<HashSet<String>>,
    next: std::sync::atomic::AtomicU64,
    /// Nodes this one shared members with lately, and when: they keep getting `alive`
    /// lists, empty ones included, so that a member one side dropped is dropped by both.
    lately: Mutex<HashMap<String, Instant>>,
}

impl Relays {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Relay>> {
        // Nothing panics while holding this lock (map updates), so it is never poisoned.
        self.map.lock().expect("relays lock poisoned")
    }

    fn moving(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // As `map`.
        self.moving.lock().expect("moving lock poisoned")
    }

    /// The node that holds socket `id`'s room, if it is another node.
    pub fn home(&self, id: &str) -> Option<String> {
        self.map().get(id).map(|r| r.home.clone())
    }

    /// Where socket `id`'s events go, if not to this node.
    pub fn route(&self, id: &str) -> Option<Route> {
        if self.moving().contains(id) {
            return Some(Route::Moving);
        }
        self.home(id).map(Route::Home)
    }

    /// Socket `id`'s relay now, by generation.
    pub(super) fn generation(&self, id: &str) -> Option<u64> {
        self.map().get(id).map(|r| r.generation)
    }

    /// Relays socket `id` to `home` for the room its `join` names, unless it is already.
    pub(super) fn insert(&self, id: &str, home: &str, join: &Value) {
        let room = join.get("room").and_then(Value::as_str).unwrap_or_default();
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.map().entry(id.to_owned()).or_insert_with(|| Relay {
            home: home.to_owned(),
            since: Instant::now(),
            room: room.to_owned(),
            join: join.clone(),
            peers: BTreeSet::new(),
            generation,
            acked: false,
        });
    }

    /// Records that socket `id`'s join was acked, with this ack.
    pub(super) fn joined(&self, id: &str, ack: &Value) {
        if let Some(relay) = self.map().get_mut(id) {
            relay.acked = true;
        }
        self.track(id, "join", ack);
    }

    pub(super) fn remove(&self, id: &str) -> Option<Relay> {
        self.map().remove(id)
    }

    /// Ends socket `id`'s relay if it is still generation `generation`.
    pub(super) fn remove_generation(&self, id: &str, generation: u64) -> Option<Relay> {
        let mut map = self.map();
        if map.get(id).is_some_and(|r| r.generation == generation) {
            map.remove(id)
        } else {
            None
        }
    }

    /// Marks the sockets whose room is being moved (`true`), or done moving.
    pub(super) fn set_moving(&self, ids: &[String], moving: bool) {
        let mut set = self.moving();
        for id in ids {
            if moving {
                set.insert(id.clone());
            } else {
                set.remove(id);
            }
        }
    }

    /// The nodes to send `alive` to: those in `now`, and those shared with in the last
    /// `within`.
    pub(super) fn lately(
        &self,
        now: &BTreeSet<String>,
        within: std::time::Duration,
    ) -> BTreeSet<String> {
        // As `map`.
        let mut lately = self.lately.lock().expect("lately lock poisoned");
        let at = Instant::now();
        for node in now {
            lately.insert(node.clone(), at);
        }
        lately.retain(|_, seen| at.duration_since(*seen) < within);
        lately.keys().cloned().collect()
    }

    /// Every relayed socket id, with its home.
    pub(super) fn all(&self) -> Vec<(String, String)> {
        self.map()
            .iter()
            .map(|(id, r)| (id.clone(), r.home.clone()))
            .collect()
    }

    /// Follows socket `id`'s view of its room: the peers in its join's ack, and those that
    /// join and leave after.
    pub(super) fn track(&self, id: &str, event: &str, data: &Value) {
        let mut map = self.map();
        let Some(relay) = map.get_mut(id) else { return };
        match event {
            "join" => {
                let peers = data.get("peers").and_then(Value::as_array);
                for p in peers.into_iter().flatten() {
                    if let Some(peer) = p.get("id").and_then(Value::as_str) {
                        relay.peers.insert(peer.to_owned());
                    }
                }
            }
            "peer-joined" | "peer-left" => {
                if let Some(peer) = data.get("id").and_then(Value::as_str) {
                    if event == "peer-joined" {
                        relay.peers.insert(peer.to_owned());
                    } else {
                        relay.peers.remove(peer);
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn of_home(&self, home: &str) -> Vec<(String, Instant)> {
        self.map()
            .iter()
            .filter(|(_, r)| r.home == home)
            .map(|(id, r)| (id.clone(), r.since))
            .collect()
    }

    /// Takes out every socket relayed to `home`.
    pub(super) fn take_home(&self, home: &str) -> Vec<(String, Relay)> {
        let mut map = self.map();
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, r)| r.home == home)
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .filter_map(|id| map.remove(&id).map(|r| (id, r)))
            .collect()
    }

    pub(super) fn homes(&self) -> HashSet<String> {
        self.map().values().map(|r| r.home.clone()).collect()
    }
}
