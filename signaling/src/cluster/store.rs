//! The cluster's records in Redis, and the operations on them.
//!
//! Keys: `sfu:nodes` (the set of node ids), `sfu:node:{id}` (a node's registration, JSON,
//! expiring), `sfu:node:{id}:rooms` (its room list, JSON, expiring) and
//! `sfu:room:{name}:home` (the id of the room's node, expiring unless its lease is renewed).

use super::{EXPIRY, NodeView, valid_node_id};
use crate::admin::views::RoomSummary;
use crate::rooms::ChatMessage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NODES: &str = "sfu:nodes";
/// The largest registration or room list read from Redis; anything larger is refused.
const MAX_RECORD: usize = 1 << 20;
/// The most nodes a cluster view reads.
const MAX_NODES: usize = 1024;
/// A room claimed for a join that has not seated its member yet keeps its lease this long.
const CLAIM_GRACE: Duration = Duration::from_secs(3);
/// How long a placement counts in the load of the node that got it: until its next
/// registrations surely include it.
const PLACED_COUNTS: Duration = Duration::from_secs(3);
/// Redis answers within this, or the operation fails (and a join says so, never hangs).
const TIMEOUT: Duration = Duration::from_secs(2);

fn node_key(id: &str) -> String {
    format!("sfu:node:{id}")
}

fn rooms_key(id: &str) -> String {
    format!("sfu:node:{id}:rooms")
}

fn home_key(room: &str) -> String {
    format!("sfu:room:{room}:home")
}

fn chat_key(room: &str) -> String {
    format!("sfu:room:{room}:chat")
}

/// How long a room's chat outlives its last message in Redis.
const CHAT_TTL: Duration = Duration::from_secs(24 * 3600);

/// Renews a lease if it is still ours, or takes it again if it is gone (Redis restarted
/// empty); 0 if another node holds it.
const RENEW: &str = r"local home = redis.call('GET', KEYS[1])
if home == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not home then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
else return 0 end";
/// Deletes a lease if it is still ours.
const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end";
/// Takes a lease over from a node that is gone, unless someone else already did.
const TAKE_OVER: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis could not be reached, or refused the command.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Another node wrote something this node cannot use.
    #[error("unusable cluster record {key}: {why}")]
    BadRecord {
        /// Where.
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Where a room lives, as far as this node is concerned.
#[derive(Debug, PartialEq)]
pub enum Placement {
    /// Here: the room's home is this node (it was free, or its node is gone).
    Here,
    /// On another live node.
    Elsewhere(NodeView),
}

/// This node's handle on the cluster.
pub struct Cluster {
    id: String,
    client: redis::Client,
    conn: ConnectionManager,
    /// Rooms whose home this node holds, and when each was claimed.
    claimed: Mutex<HashMap<String, Instant>>,
    /// Rooms this node placed lately, by node: load that registrations may not show yet.
    placed: Mutex<Vec<(String, Instant)>>,
}

impl Cluster {
    /// Connects to the Redis at `url` as the node `id`. The connection is re-established by
    /// itself after a Redis restart.
    pub async fn connect(url: &str, id: String) -> Result<Cluster, ClusterError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Cluster {
            id,
            client,
            conn,
            claimed: Mutex::default(),
            placed: Mutex::default(),
        })
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A handle on the shared connection (cheap; it multiplexes).
    pub(super) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The client, for connections of their own (pub/sub).
    pub(super) fn client(&self) -> &redis::Client {
        &self.client
    }

    fn ttl_ms() -> u64 {
        EXPIRY.as_millis() as u64
    }

    /// Writes this node's registration and room list, renews the leases of the rooms it
    /// hosts (or claimed a moment ago for a join), and releases the others. Returns the
    /// rooms here whose lease another node has taken.
    pub async fn refresh(
        &self,
        me: &NodeView,
        rooms: &[RoomSummary],
    ) -> Result<Vec<String>, ClusterError> {
        let mut taken = Vec::new();
        let ttl = Self::ttl_ms();
        let mut conn = self.conn();
        let me_json = serde_json::to_string(me).map_err(|e| self.bad(&self.id, e))?;
        let rooms_json = serde_json::to_string(rooms).map_err(|e| self.bad(&self.id, e))?;
        redis::pipe()
            .cmd("SET")
            .arg(node_key(&self.id))
            .arg(me_json)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("SADD")
            .arg(NODES)
            .arg(&self.id)
            .ignore()
            .cmd("SET")
            .arg(rooms_key(&self.id))
            .arg(rooms_json)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        let now = Instant::now();
        let claimed: Vec<(String, Instant)> = self
            .claimed()
            .iter()
            .map(|(r, at)| (r.clone(), *at))
            .collect();
        for (room, at) in claimed {
            let hosted = rooms.iter().any(|r| r.name == room);
            if hosted || now.duration_since(at) < CLAIM_GRACE {
                let kept: i64 = Script::new(RENEW)
                    .key(home_key(&room))
                    .arg(&self.id)
                    .arg(ttl)
                    .invoke_async(&mut conn)
                    .await?;
                if kept == 0 {
                    tracing::warn!(%room, "lost this room's lease to another node");
                    self.claimed().remove(&room);
                    if hosted {
                        taken.push(room);
                    }
                }
            } else {
                self.release(&room).await?;
            }
        }
        // A room seated here without a claim (a join slower than the claim's grace) is
        // claimed now, for this node: where it is, not where a new room would go.
        for r in rooms {
            if !self.claimed().contains_key(&r.name)
                && let Placement::Elsewhere(node) = self.claim_here(&r.name).await?
            {
                tracing::warn!(room = %r.name, other = %node.id, "a room here is also placed on another node");
                taken.push(r.name.clone());
            }
        }
        Ok(taken)
    }

    fn claimed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // A panic while holding this lock leaves a map that is still whole.
        self.claimed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `room` lives: here if it is free (and then it is claimed), or if its node is
    /// gone (and then it is taken over); else on the live node that holds it.
    pub async fn place(&self, room: &str) -> Result<Placement, ClusterError> {
        let key = home_key(room);
        let ttl = Self::ttl_ms();
        let mut conn = self.conn();
        for _ in 0..3 {
            let home: Option<String> = conn.get(&key).await?;
            let Some(home) = home else {
                // New to the cluster: the least-loaded live node gets it.
                let target = self.least_loaded().await?;
                let id = target.as_ref().map_or(self.id.as_str(), |n| n.id.as_str());
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(id)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut conn)
                    .await?;
                if set.is_none() {
                    continue; // another node placed it meanwhile
                }
                self.placed().push((id.to_owned(), Instant::now()));
                return Ok(match target {
                    None => self.claim(room),
                    Some(node) => Placement::Elsewhere(node),
                });
            };
            if home == self.id {
                return Ok(self.claim(room));
            }
            if let Some(node) = self.node(&home).await? {
                return Ok(Placement::Elsewhere(node));
            }
            let took: i64 = Script::new(TAKE_OVER)
                .key(&key)
                .arg(&home)
                .arg(&self.id)
                .arg(ttl)
                .invoke_async(&mut conn)
                .await?;
            if took == 1 {
                tracing::info!(%room, from = %home, "took over a room whose node is gone");
                return Ok(self.claim(room));
            }
        }
        // Three rounds of other nodes' changes in between: let the join be tried again.
        Err(ClusterError::BadRecord {
            key,
            why: "its home kept changing".into(),
        })
    }

    /// Claims `room` for this node if no node holds it; else says which does.
    async fn claim_here(&self, room: &str) -> Result<Placement, ClusterError> {
        let key = home_key(room);
        let mut conn = self.conn();
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&self.id)
            .arg("NX")
            .arg("PX")
            .arg(Self::ttl_ms())
            .query_async(&mut conn)
            .await?;
        let home: Option<String> = match set {
            Some(_) => None,
            None => conn.get(&key).await?,
        };
        match home {
            None => Ok(self.claim(room)),
            Some(home) if home == self.id => Ok(self.claim(room)),
            Some(home) => match self.node(&home).await? {
                Some(node) => Ok(Placement::Elsewhere(node)),
                None => self.place(room).await,
            },
        }
    }

    /// Places `room` again after its node `lost` was found unreachable. If `lost` still
    /// holds the lease but has no bus subscriber (it died, or is cut off from Redis), the
    /// lease is taken over at once rather than when its registration expires; its node, if
    /// it lives on, finds the lease gone at its next refresh and closes the room there.
    pub async fn place_after_loss(
        &self,
        room: &str,
        lost: &str,
    ) -> Result<Placement, ClusterError> {
        let mut conn = self.conn();
        let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(super::bus::channel(lost))
            .query_async(&mut conn)
            .await?;
        if subscribers == 0 {
            let took: i64 = Script::new(TAKE_OVER)
                .key(home_key(room))
                .arg(lost)
                .arg(&self.id)
                .arg(Self::ttl_ms())
                .invoke_async(&mut conn)
                .await?;
            if took == 1 {
                tracing::info!(%room, from = %lost, "took over a room whose node was lost");
                return Ok(self.claim(room));
            }
        }
        self.place(room).await
    }

    /// The live node with the least load, `None` if it is this one (which wins ties, so
    /// that a room stays where its first member is when nothing argues against it). The
    /// load is the last registered one plus the rooms this node placed since, which that
    /// registration may not count yet.
    async fn least_loaded(&self) -> Result<Option<NodeView>, ClusterError> {
        let nodes = self.nodes().await?;
        let recent = {
            let mut placed = self.placed();
            placed.retain(|(_, at)| at.elapsed() < PLACED_COUNTS);
            placed.clone()
        };
        // A core of media CPU weighs as much as a hundred subscriptions.
        let score = |id: &str, load: Option<&super::NodeLoad>| {
            let load = load.copied().unwrap_or_default();
            let pending = recent.iter().filter(|(n, _)| n == id).count();
            let cpu = (load.cpu_cores.clamp(0.0, 1024.0) * 100.0) as usize;
            [load.participants, load.down_tracks, cpu, pending]
                .into_iter()
                .fold(load.rooms, usize::saturating_add)
        };
        let mine = score(
            &self.id,
            nodes.iter().find(|n| n.id == self.id).map(|n| &n.load),
        );
        Ok(nodes
            .into_iter()
            .filter(|n| n.id != self.id)
            .map(|n| (score(&n.id, Some(&n.load)), n))
            .filter(|(s, _)| *s < mine)
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)))
            .map(|(_, n)| n))
    }

    fn placed(&self) -> std::sync::MutexGuard<'_, Vec<(String, Instant)>> {
        // Nothing panics while holding this lock (list updates), so it is never poisoned.
        self.placed.lock().expect("placed lock poisoned")
    }

    fn claim(&self, room: &str) -> Placement {
        self.claimed().insert(room.to_owned(), Instant::now());
        Placement::Here
    }

    /// Gives up `room`'s home, if it is still this node's.
    pub async fn release(&self, room: &str) -> Result<(), ClusterError> {
        self.claimed().remove(room);
        let _: i64 = Script::new(RELEASE)
            .key(home_key(room))
            .arg(&self.id)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Leaves the cluster (on shutdown): the registration and every lease go at once
    /// rather than when they expire.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        let rooms: Vec<String> = self.claimed().keys().cloned().collect();
        for room in rooms {
            self.release(&room).await?;
        }
        let mut conn = self.conn();
        redis::pipe()
            .del(node_key(&self.id))
            .ignore()
            .del(rooms_key(&self.id))
            .ignore()
            .srem(NODES, &self.id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Keeps `msg` in `room`'s chat in Redis, the last [`CHAT_HISTORY`] of it, so that a
    /// room that moves to another node keeps its chat.
    ///
    /// [`CHAT_HISTORY`]: crate::rooms::CHAT_HISTORY
    pub async fn save_chat(&self, room: &str, msg: &ChatMessage) -> Result<(), ClusterError> {
        let key = chat_key(room);
        let json = serde_json::to_string(msg).map_err(|e| self.bad(&key, e))?;
        let keep = crate::rooms::CHAT_HISTORY as isize;
        redis::pipe()
            .rpush(&key, json)
            .ignore()
            .ltrim(&key, -keep, -1)
            .ignore()
            .pexpire(&key, CHAT_TTL.as_millis() as i64)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await?;
        Ok(())
    }

    /// `room`'s chat as Redis keeps it. Messages that are not what this server writes (too
    /// long, a bad name) are left out.
    pub async fn chat_history(&self, room: &str) -> Result<Vec<ChatMessage>, ClusterError> {
        let key = chat_key(room);
        let raws: Vec<String> = self.conn().lrange(&key, 0, -1).await?;
        let mut history = Vec::new();
        for raw in raws.iter().take(crate::rooms::CHAT_HISTORY) {
            match self.parse::<ChatMessage>(&key, raw) {
                Ok(m) if valid_chat(&m) => history.push(m),
                Ok(_) => tracing::warn!(%key, "a chat message refused: not one this server writes"),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok(history)
    }

    /// The node that holds `room`'s lease, if one does.
    pub async fn home_of(&self, room: &str) -> Result<Option<String>, ClusterError> {
        Ok(self.conn().get(home_key(room)).await?)
    }

    /// One live node's registration, if it has one.
    async fn node(&self, id: &str) -> Result<Option<NodeView>, ClusterError> {
        let raw: Option<String> = self.conn().get(node_key(id)).await?;
        raw.map(|raw| self.parse_node(id, &raw)).transpose()
    }

    /// Every live node. Ids whose registration has expired are dropped from the set.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, ClusterError> {
        let ids = self.node_ids().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let keys: Vec<String> = ids.iter().map(|id| node_key(id)).collect();
        let raws: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut nodes = Vec::new();
        for (id, raw) in ids.iter().zip(raws) {
            match raw {
                // One bad registration (a node of another version, say) must not stop the
                // cluster from placing rooms on the others.
                Some(raw) => match self.parse_node(id, &raw) {
                    Ok(node) => nodes.push(node),
                    Err(e) => tracing::warn!("a node left out: {e}"),
                },
                None => {
                    let _: i64 = conn.srem(NODES, id).await?;
                }
            }
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// Every room of the cluster, as its node reports it (each with that node's id).
    pub async fn rooms(&self) -> Result<Vec<RoomSummary>, ClusterError> {
        let ids = self.node_ids().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| rooms_key(id)).collect();
        let raws: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn())
            .await?;
        let mut rooms = Vec::new();
        for (id, raw) in ids.iter().zip(raws) {
            let Some(raw) = raw else { continue };
            let key = rooms_key(id);
            let list: Vec<RoomSummary> = self.parse(&key, &raw)?;
            for mut room in list {
                if !crate::messages::valid_room_name(&room.name) {
                    return Err(self.bad(&key, format!("a room named {:?}", room.name)));
                }
                // The node a list is stored under is the node the rooms are on.
                room.node = id.clone();
                rooms.push(room);
            }
        }
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rooms)
    }

    async fn node_ids(&self) -> Result<Vec<String>, ClusterError> {
        let mut ids: Vec<String> = self.conn().smembers(NODES).await?;
        ids.retain(|id| valid_node_id(id));
        ids.sort();
        ids.truncate(MAX_NODES);
        Ok(ids)
    }

    fn parse_node(&self, id: &str, raw: &str) -> Result<NodeView, ClusterError> {
        let key = node_key(id);
        let node: NodeView = self.parse(&key, raw)?;
        if node.id != id {
            return Err(self.bad(&key, format!("it names node {:?}", node.id)));
        }
        Ok(node)
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        raw: &str,
    ) -> Result<T, ClusterError> {
        if raw.len() > MAX_RECORD {
            return Err(self.bad(key, format!("{} bytes", raw.len())));
        }
        serde_json::from_str(raw).map_err(|e| self.bad(key, e))
    }

    fn bad(&self, key: &str, why: impl std::fmt::Display) -> ClusterError {
        ClusterError::BadRecord {
            key: key.to_owned(),
            why: why.to_string(),
        }
    }
}

/// Whether a chat message read from Redis is one this server could have written.
fn valid_chat(m: &ChatMessage) -> bool {
    !m.text.trim().is_empty()
        && m.text.len() <= crate::messages::MAX_CHAT_BYTES
        && crate::messages::check_name(&m.name).is_ok()
        && !m.from.is_empty()
        && m.from.len() <= 64
        && m.id > 0
}
