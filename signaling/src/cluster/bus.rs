//! Messages between nodes, over Redis pub/sub: each node reads its own channel,
//! `sfu:bus:{id}`, and writes to the others'.
//!
//! Pub/sub delivers at most once, so every message is checked: `PUBLISH` answers how many
//! subscribers took it, and a message that none took (the node is gone, or its subscription
//! is down) is reported through [`Bus::unreachable`], so that the members it concerned are
//! closed or dropped rather than left with a wrong view of their call. What one node sends
//! another arrives in the order it was sent: each destination has one queue, written by one
//! task.

use super::Cluster;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// The largest message a node sends or reads; larger ones are refused. A client's session
/// description is at most 64 KiB (`docs/signaling.md`); the SFU's offers for a large room
/// are larger (about 1.5 KiB per track), and a join's ack carries up to 100 chat messages
/// of 4 KiB, which JSON escaping may make 6 times larger.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// A request to another node is answered within this, or it fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many queued messages go to Redis in one round trip.
const BATCH: usize = 64;

/// What one node tells another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum Body {
    /// From a member's node to its room's node: the member's client sent `event`.
    Request {
        /// Names the reply.
        id: u64,
        /// The member (its socket id on the sending node).
        member: String,
        /// The Socket.IO event.
        event: String,
        /// Its payload, if it had one.
        data: Option<Value>,
    },
    /// The answer to a [`Body::Request`]: the ack for the client.
    Reply {
        /// The request's id.
        id: u64,
        /// The ack's payload.
        result: Value,
    },
    /// From a room's node: send `event` to these members of the receiving node.
    Emit {
        /// Member ids.
        to: Vec<String>,
        /// The Socket.IO event.
        event: String,
        /// Its payload.
        data: Value,
    },
    /// From a room's node: disconnect this member (removed by an administrator, replaced by
    /// a newer session, or unable to take a message).
    Close {
        /// The member.
        member: String,
        /// Why, for the log.
        reason: String,
    },
    /// From a member's node: the member's client disconnected.
    Gone {
        /// The member.
        member: String,
    },
    /// From another node's admin API to a room's node: do this there.
    Admin {
        /// Names the reply.
        id: u64,
        /// What to do.
        action: AdminAction,
    },
    /// The sender is shutting down and has left the cluster: its rooms are to be moved, as
    /// a lost node's are.
    Leaving,
    /// Sent every [`super::REFRESH`] to each node this one shares members with. A member
    /// that one side has and the other has not listed is gone.
    Alive {
        /// The sender's members whose room is on the receiver.
        relayed: Vec<String>,
        /// The receiver's members whose room is on the sender.
        hosted: Vec<String>,
    },
}

/// An administrator's request for a room of another node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum AdminAction {
    /// `DELETE /api/rooms/{room}`.
    CloseRoom {
        /// The room.
        room: String,
    },
    /// `DELETE /api/rooms/{room}/participants/{member}`.
    RemoveMember {
        /// The room.
        room: String,
        /// The member.
        member: String,
    },
}

/// A message and its sender.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// The sending node's id.
    pub from: String,
    /// The message.
    pub body: Body,
}

/// What arrives on this node's channel, for the node to act on, in order.
#[derive(Debug)]
pub enum Inbound {
    /// A message from another node.
    Message(Envelope),
    /// The subscription was lost and is back: messages may have been missed meanwhile.
    Resubscribed,
}

/// Why a request to another node failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The node did not take the message: it is gone, or Redis is.
    #[error("node {0} cannot be reached")]
    Unreachable(String),
    /// It took it, but did not answer in time.
    #[error("node {0} did not answer within {REQUEST_TIMEOUT:?}")]
    Timeout(String),
}

struct Pending {
    node: String,
    reply: oneshot::Sender<Result<Value, BusError>>,
}

/// This node's end of the bus.
pub struct Bus {
    me: String,
    cluster: Arc<Cluster>,
    outboxes: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    unreachable: mpsc::UnboundedSender<String>,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The channel node `node` reads.
pub(super) fn channel(node: &str) -> String {
    format!("sfu:bus:{node}")
}

impl Bus {
    /// Subscribes to this node's channel, and starts handing what arrives to `inbound`.
    /// Nodes that a message could not reach are sent to `unreachable`.
    pub async fn start(
        cluster: Arc<Cluster>,
        inbound: mpsc::UnboundedSender<Inbound>,
        unreachable: mpsc::UnboundedSender<String>,
    ) -> Result<Arc<Bus>, super::ClusterError> {
        let bus = Arc::new(Bus {
            me: cluster.id().to_owned(),
            cluster,
            outboxes: Mutex::default(),
            pending: Mutex::default(),
            next_id: AtomicU64::new(1),
            unreachable,
            reader: Mutex::default(),
        });
        let first = bus.subscribe().await?;
        let reader = tokio::spawn(bus.clone().read(first, inbound));
        // Nothing panics while holding this lock, so it is never poisoned.
        *bus.reader.lock().expect("reader lock poisoned") = Some(reader);
        Ok(bus)
    }

    /// Stops reading this node's channel (on shutdown): other nodes find it unreachable.
    pub fn close(&self) {
        // Nothing panics while holding this lock, so it is never poisoned.
        if let Some(reader) = self.reader.lock().expect("reader lock poisoned").take() {
            reader.abort();
        }
    }

    async fn subscribe(&self) -> Result<redis::aio::PubSub, super::ClusterError> {
        let mut pubsub = self.cluster.client().get_async_pubsub().await?;
        pubsub.subscribe(channel(&self.me)).await?;
        Ok(pubsub)
    }

    /// Reads this node's channel until the process ends, subscribing again after a loss.
    async fn read(
        self: Arc<Self>,
        first: redis::aio::PubSub,
        inbound: mpsc::UnboundedSender<Inbound>,
    ) {
        let mut pubsub = Some(first);
        loop {
            if let Some(p) = pubsub.take() {
                let mut stream = p.into_on_message();
                while let Some(msg) = stream.next().await {
                    match parse(msg.get_payload_bytes()) {
                        Ok(envelope) => {
                            if inbound.send(Inbound::Message(envelope)).is_err() {
                                return;
                            }
                        }
                        Err(why) => warn!(node = %self.me, "bus message refused: {why}"),
                    }
                }
                warn!(node = %self.me, "bus subscription lost; subscribing again");
                self.fail_all();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            match self.subscribe().await {
                Ok(p) => {
                    info!(node = %self.me, "bus subscription back");
                    pubsub = Some(p);
                    if inbound.send(Inbound::Resubscribed).is_err() {
                        return;
                    }
                }
                Err(e) => debug!(node = %self.me, "bus subscription failed: {e}"),
            }
        }
    }

    /// Queues `body` for `node`, behind what was queued for it before.
    pub fn send(&self, node: &str, body: Body) {
        let envelope = Envelope {
            from: self.me.clone(),
            body,
        };
        let raw = match serde_json::to_string(&envelope) {
            Ok(raw) if raw.len() <= MAX_MESSAGE => raw,
            Ok(raw) => {
                warn!(%node, bytes = raw.len(), "bus message too large");
                return self.too_large(node, envelope.body);
            }
            Err(e) => {
                warn!(%node, "bus message does not serialize: {e}");
                return self.too_large(node, envelope.body);
            }
        };
        // Nothing panics while holding this lock (map updates), so it is never poisoned.
        let mut outboxes = self.outboxes.lock().expect("outboxes lock poisoned");
        let tx = outboxes.entry(node.to_owned()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let unreachable = self.unreachable.clone();
            tokio::spawn(write(
                self.cluster.clone(),
                node.to_owned(),
                rx,
                unreachable,
            ));
            tx
        });
        // The writer lives as long as the process: a send never fails.
        let _ = tx.send(raw);
    }

    /// A message that cannot go fails only what it concerns: a reply becomes an error ack,
    /// members that an event was for are closed (they must not live on without it), and a
    /// request fails at once.
    fn too_large(&self, node: &str, body: Body) {
        match body {
            Body::Reply { id, .. } => {
                let result = serde_json::json!({ "error": {
                    "code": "too-large",
                    "message": "the answer is too large to cross the cluster",
                } });
                self.send(node, Body::Reply { id, result });
            }
            Body::Emit { to, event, .. } => {
                for member in to {
                    let reason = format!("the event {event} is too large to cross the cluster");
                    self.send(node, Body::Close { member, reason });
                }
            }
            Body::Request { id, .. } | Body::Admin { id, .. } => {
                if let Some(p) = self.pending().remove(&id) {
                    let _ = p.reply.send(Err(BusError::Unreachable(node.to_owned())));
                }
            }
            Body::Close { .. } | Body::Gone { .. } | Body::Alive { .. } | Body::Leaving => {
                let _ = self.unreachable.send(node.to_owned());
            }
        }
    }

    /// Sends the client's `event` for `member` to the room's `node`, and waits for its ack.
    pub async fn request(
        &self,
        node: &str,
        member: &str,
        event: &str,
        data: Option<Value>,
    ) -> Result<Value, BusError> {
        let (member, event) = (member.to_owned(), event.to_owned());
        self.ask(node, |id| Body::Request {
            id,
            member,
            event,
            data,
        })
        .await
    }

    /// Asks the room's `node` to carry out an administrator's `action`, and waits for the
    /// outcome.
    pub async fn admin(&self, node: &str, action: AdminAction) -> Result<Value, BusError> {
        self.ask(node, |id| Body::Admin { id, action }).await
    }

    /// Sends `node` the message that `body` makes of a request id, and waits for its reply.
    async fn ask(&self, node: &str, body: impl FnOnce(u64) -> Body) -> Result<Value, BusError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(
            id,
            Pending {
                node: node.to_owned(),
                reply: tx,
            },
        );
        self.send(node, body(id));
        let result = tokio::time::timeout(REQUEST_TIMEOUT, rx).await;
        self.pending().remove(&id);
        match result {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(BusError::Timeout(node.to_owned())),
        }
    }

    /// Answers request `id` of `node`.
    pub fn reply(&self, node: &str, id: u64, result: Value) {
        self.send(node, Body::Reply { id, result });
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        // Nothing panics while holding this lock (map updates), so it is never poisoned.
        self.pending.lock().expect("pending lock poisoned")
    }

    /// Hands a reply to the request waiting for it. Replies come through [`Inbound`] with
    /// everything else, so that a client's ack never overtakes an event sent before it.
    pub fn resolve(&self, from: &str, id: u64, result: Value) {
        let mut pending = self.pending();
        // Only the node asked may answer.
        if pending.get(&id).is_some_and(|p| p.node == from)
            && let Some(p) = pending.remove(&id)
        {
            let _ = p.reply.send(Ok(result));
        }
    }

    /// Fails every request waiting on `node`.
    pub fn fail_requests_to(&self, node: &str) {
        let mut pending = self.pending();
        let ids: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.node == node)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(p) = pending.remove(&id) {
                let _ = p.reply.send(Err(BusError::Unreachable(node.to_owned())));
            }
        }
    }

    /// Fails every waiting request: their replies may have been missed.
    fn fail_all(&self) {
        for (_, p) in self.pending().drain() {
            let _ = p.reply.send(Err(BusError::Unreachable(p.node)));
        }
    }
}

/// Writes `node`'s queue to its channel, in order, a batch per round trip. A batch that
/// the node did not take in full is reported, once per batch.
async fn write(
    cluster: Arc<Cluster>,
    node: String,
    mut rx: mpsc::UnboundedReceiver<String>,
    unreachable: mpsc::UnboundedSender<String>,
) {
    let channel = channel(&node);
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for raw in &batch {
            pipe.publish(&channel, raw);
        }
        let taken: Result<Vec<i64>, _> = pipe.query_async(&mut cluster.conn()).await;
        match taken {
            Ok(counts) if counts.iter().all(|&n| n > 0) => {}
            Ok(_) => {
                debug!(%node, "node not subscribed: unreachable");
                let _ = unreachable.send(node.clone());
            }
            Err(e) => {
                debug!(%node, "bus publish failed: {e}");
                let _ = unreachable.send(node.clone());
            }
        }
        batch.clear();
    }
}

/// Parses a message read from Redis, which is input like any other: bounded in size, with a
/// valid sender.
fn parse(raw: &[u8]) -> Result<Envelope, String> {
    if raw.len() > MAX_MESSAGE {
        return Err(format!("{} bytes", raw.len()));
    }
    let envelope: Envelope = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    if !super::valid_node_id(&envelope.from) {
        return Err(format!("sender {:?}", envelope.from));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_round_trip_and_bad_ones_are_refused() {
        let e = Envelope {
            from: "node-a".into(),
            body: Body::Emit {
                to: vec!["x".into()],
                event: "chat".into(),
                data: json!({ "text": "hi" }),
            },
        };
        let raw = serde_json::to_vec(&e).unwrap();
        assert_eq!(parse(&raw).unwrap(), e);
        assert!(parse(br#"{"from":"a b","body":{"t":"gone","member":"x"}}"#).is_err());
        assert!(parse(br#"{"from":"a","body":{"t":"nonsense"}}"#).is_err());
        assert!(parse(&vec![b' '; MAX_MESSAGE + 1]).is_err());
        assert!(parse(b"\xff").is_err());
    }
}
