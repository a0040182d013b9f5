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
}

/// This node's sockets whose rooms live on other nodes, by socket id.
#[derive(Default)]
pub struct Relays(Mutex<HashMap<String, Relay>>);

impl Relays {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Relay>> {
        // Nothing panics while holding this lock (map updates), so it is never poisoned.
        self.0.lock().expect("relays lock poisoned")
    }

    /// The node that holds socket `id`'s room, if it is another node.
    pub fn home(&self, id: &str) -> Option<String> {
        self.map().get(id).map(|r| r.home.clone())
    }

    pub(super) fn insert(&self, id: &str, home: &str, join: &Value) {
        let room = join.get("room").and_then(Value::as_str).unwrap_or_default();
        self.map().entry(id.to_owned()).or_insert_with(|| Relay {
            home: home.to_owned(),
            since: Instant::now(),
            room: room.to_owned(),
            join: join.clone(),
            peers: BTreeSet::new(),
        });
    }

    pub(super) fn remove(&self, id: &str) -> Option<Relay> {
        self.map().remove(id)
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
