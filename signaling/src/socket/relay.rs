//! Cluster signaling: a client may connect to any node. The node that holds its socket
//! relays the events of a member whose room lives on another node (the room's home) over
//! the bus, and delivers what the home sends back. The home handles them as it handles its
//! own sockets' events, with the member as an [`Endpoint::Remote`].
//!
//! Neither side keeps a member the other has lost: each tells the other, every second,
//! which members they share ([`Body::Alive`]); a node that cannot be reached loses its
//! members on the other side at once. A socket whose home is lost is disconnected with the
//! reason logged, and its client rejoins.

use super::deliver;
use super::endpoint::{Endpoint, Queued, Remote};
use super::relays::Route;
use crate::cluster::{AdminAction, Body, BusError, Envelope, Inbound, Placement};
use crate::limits::Kind;
use crate::messages::{ApiError, valid_room_name};
use crate::state::AppState;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// A member listed by one side only is taken as gone once it is older than this: the other
/// side may not have heard of it yet (its join request on the way, or being handled).
const GRACE: Duration = crate::cluster::REQUEST_TIMEOUT;
/// How long a node that this one no longer shares members with still gets `alive` lists.
const LATELY: Duration = Duration::from_secs(30);
/// The most member ids one message may name.
const MAX_IDS: usize = 10_000;

/// Events a room's node may send to a member on another node (`docs/signaling.md`).
const SERVER_EVENTS: [&str; 12] = [
    "peer-joined",
    "peer-left",
    "mode",
    "p2p-signal",
    "sfu-offer",
    "sfu-failed",
    "chat",
    "typing",
    "media-state",
    "active-speaker",
    "server-shutdown",
    "removed",
];

/// Handles a client's `event`: here, or relayed to the node that holds its room.
pub(super) async fn route(
    state: &AppState,
    socket: SocketRef,
    event: &'static str,
    data: Option<Value>,
    ack: AckSender,
) {
    let result = match state.relays.route(&socket.id.to_string()) {
        Some(Route::Moving) => Err(ApiError::new(
            "cluster-unavailable",
            "the room is moving to another node; try again in a moment",
        )),
        Some(Route::Home(home)) => relay(state, &socket, &home, event, data).await,
        None => match home_elsewhere(state, &socket, event, &data).await {
            Ok(None) => super::dispatch(state, &Endpoint::Local(socket.clone()), event, data).await,
            Ok(Some(home)) => relay(state, &socket, &home, event, data).await,
            Err(e) => Err(e),
        },
    };
    super::reply(&socket, ack, result);
}

/// The other node that handles this event, if one does: the room's node of a socket
/// relayed already, or, for a join, the node that the room is placed on.
async fn home_elsewhere(
    state: &AppState,
    socket: &SocketRef,
    event: &str,
    data: &Option<Value>,
) -> Result<Option<String>, ApiError> {
    let id = socket.id.to_string();
    let Some(cluster) = state.cluster.get() else {
        return Ok(None);
    };
    if event != "join" || state.rooms.membership(&id).is_some() {
        return Ok(None);
    }
    // A join that names no valid room is refused here, by the usual checks.
    let Some(room) = data
        .as_ref()
        .and_then(|d| d.get("room"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    if !valid_room_name(room) || state.rooms.room(room).is_some() {
        return Ok(None);
    }
    match cluster.place(room).await {
        Ok(Placement::Here) => Ok(None),
        Ok(Placement::Elsewhere(node)) => Ok(Some(node.id)),
        Err(e) => {
            warn!(%room, "cluster placement failed: {e}");
            Err(unavailable())
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        "cluster-unavailable",
        "the cluster cannot reach this room's node now; try again in a moment",
    )
}

/// Relays `event` to the room's node and returns its ack. A request that gets no answer
/// leaves the client's view of its call unknown: its socket is disconnected, and it rejoins.
async fn relay(
    state: &AppState,
    socket: &SocketRef,
    home: &str,
    event: &str,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let id = socket.id.to_string();
    // Bounds what one client can make this node publish; the room's node applies the
    // per-event limits.
    super::limit(state, &id, Kind::Signaling)?;
    let Some(bus) = state.bus.get() else {
        return Err(unavailable());
    };
    // Before the request goes: the room's node may send to the member before its ack.
    let join = (event == "join").then(|| data.clone()).flatten();
    if let Some(join) = &join {
        state.relays.insert(&id, home, join);
        // Placement took Redis round trips: a client that left meanwhile found no relay to
        // end, so it must not be seated now.
        if !socket.connected() {
            state.relays.remove(&id);
            return Err(ApiError::not_joined());
        }
    }
    let generation = state.relays.generation(&id);
    let ended = |state: &AppState| generation.and_then(|g| state.relays.remove_generation(&id, g));
    match bus.request(home, &id, event, data).await {
        Ok(ack) => {
            let refused = ack.pointer("/error/code").and_then(Value::as_str);
            match (event, refused) {
                ("join", None) => {
                    // Again, for a join that follows a leave the client did not wait for.
                    if let Some(join) = &join {
                        state.relays.insert(&id, home, join);
                    }
                    state.relays.joined(&id, &ack);
                }
                ("join", Some(code)) if code != "already-joined" => {
                    ended(state);
                }
                ("leave", None | Some("not-joined")) => {
                    ended(state);
                }
                _ => {}
            }
            Ok(ack)
        }
        Err(e) => {
            // The room's node may have handled it all the same: it is told the member is
            // gone, and the client, which can no longer know its call's state, rejoins.
            if ended(state).is_some() {
                state.send_to_node(home, Body::Gone { member: id.clone() });
                if event != "join" {
                    warn!(%id, %home, event, "the room's node did not answer ({e}); disconnecting the client so that it rejoins");
                    let _ = socket.clone().disconnect();
                }
            }
            debug!(%id, %home, event, "relay failed: {e}");
            Err(match e {
                BusError::Unreachable(_) | BusError::Timeout(_) => unavailable(),
            })
        }
    }
}

/// A socket of this node disconnected: if its room is on another node, that node is told.
/// Returns whether it was.
pub(super) fn gone(state: &AppState, id: &str) -> bool {
    let Some(relay) = state.relays.remove(id) else {
        return false;
    };
    state.send_to_node(
        &relay.home,
        Body::Gone {
            member: id.to_owned(),
        },
    );
    true
}

/// Acts on what other nodes send, in order, and on nodes that could not be reached, until
/// the process ends.
pub async fn serve(
    state: AppState,
    mut inbound: mpsc::UnboundedReceiver<Inbound>,
    mut unreachable: mpsc::UnboundedReceiver<String>,
) {
    loop {
        tokio::select! {
            Some(msg) = inbound.recv() => match msg {
                Inbound::Message(envelope) => handle(&state, envelope),
                Inbound::Resubscribed => {
                    for node in peers(&state) {
                        lost(&state, &node, "messages may have been missed while the bus was down");
                    }
                }
            },
            Some(node) = unreachable.recv() => lost(&state, &node, "cannot be reached"),
            else => break,
        }
    }
}

fn handle(state: &AppState, Envelope { from, body }: Envelope) {
    match body {
        Body::Request {
            id,
            member,
            event,
            data,
        } => request(state, &from, id, member, event, data),
        Body::Gone { member } => {
            if let Some(r) = state.remotes.get(&member).filter(|r| r.node == from) {
                r.push(Queued::Gone).ok();
            }
        }
        Body::Emit { to, event, data } => {
            if !SERVER_EVENTS.contains(&event.as_str()) || to.len() > MAX_IDS {
                warn!(node = %from, %event, "bus message refused: not an event for a client");
                return;
            }
            for id in to {
                if let Some(socket) = relayed_socket(state, &id, &from) {
                    state.relays.track(&id, &event, &data);
                    deliver::emit(&socket, &event, &data);
                }
            }
        }
        Body::Close { member, reason } => {
            if let Some(socket) = relayed_socket(state, &member, &from) {
                state.relays.remove(&member);
                info!(id = %member, node = %from, %reason, "disconnected by its room's node");
                let _ = socket.disconnect();
            }
        }
        Body::Alive { relayed, hosted } => alive(state, &from, relayed, hosted),
        Body::Leaving => lost(state, &from, "is shutting down"),
        Body::Admin { id, action } => {
            let state = state.clone();
            tokio::spawn(async move {
                let result = admin(&state, action).await;
                state.send_to_node(&from, Body::Reply { id, result });
            });
        }
        Body::Reply { id, result } => {
            if let Some(bus) = state.bus.get() {
                bus.resolve(&from, id, result);
            }
        }
    }
}

/// Socket `id` of this node, if its room is on node `home`: a node may address only the
/// members whose room it holds.
fn relayed_socket(state: &AppState, id: &str, home: &str) -> Option<SocketRef> {
    if state.relays.home(id).as_deref() != Some(home) {
        return None;
    }
    state.io.get().and_then(|io| super::socket_of(io, id))
}

/// A request from a member of node `from`: queued behind that member's earlier ones. A
/// join from a member new to this node makes it one.
fn request(
    state: &AppState,
    from: &str,
    id: u64,
    member: String,
    event: String,
    data: Option<Value>,
) {
    let refuse = |e: ApiError| {
        state.send_to_node(
            from,
            Body::Reply {
                id,
                result: e.to_ack(),
            },
        )
    };
    if !valid_member_id(&member) {
        return refuse(ApiError::bad_request("not a member id"));
    }
    // A socket of this node is no other node's member.
    if state
        .io
        .get()
        .and_then(|io| super::socket_of(io, &member))
        .is_some()
    {
        return refuse(ApiError::new("not-in-room", "no such member on your node"));
    }
    if !super::EVENTS.contains(&event.as_str()) {
        return refuse(super::unknown_event(&event));
    }
    let queued = Queued::Request { id, event, data };
    match state.remotes.get(&member) {
        Some(r) if r.node == from => {
            if let Err(Queued::Request { .. }) = r.push(queued) {
                refuse(busy());
            }
        }
        Some(_) => refuse(ApiError::new("not-in-room", "no such member on your node")),
        None if matches!(&queued, Queued::Request { event, .. } if event == "join") => {
            let (tx, rx) = mpsc::unbounded_channel();
            let remote = Arc::new(Remote::new(member, from.to_owned(), tx));
            if !state.remotes.insert(remote.clone()) {
                return refuse(busy());
            }
            let _ = remote.push(queued);
            tokio::spawn(work(state.clone(), remote, rx));
        }
        None => refuse(ApiError::not_joined()),
    }
}

fn busy() -> ApiError {
    ApiError::new(
        "cluster-unavailable",
        "the room's node is busy with this member; try again in a moment",
    )
}

/// Participant ids are Socket.IO socket ids.
fn valid_member_id(id: &str) -> bool {
    id.parse::<socketioxide::socket::Sid>().is_ok()
}

/// Handles one remote member's requests in order, until it leaves this node's rooms.
async fn work(state: AppState, remote: Arc<Remote>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    let ep = Endpoint::Remote(remote.clone());
    while let Some(queued) = rx.recv().await {
        match queued {
            Queued::Request { id, event, data } => {
                let result = if state.remotes.is(&remote) {
                    super::dispatch(&state, &ep, &event, data).await
                } else {
                    // It left between this request and the last; a join is to be tried again.
                    Err(if event == "join" {
                        busy()
                    } else {
                        ApiError::not_joined()
                    })
                };
                let ack = result.unwrap_or_else(|e| e.to_ack());
                state.send_to_node(&remote.node, Body::Reply { id, result: ack });
            }
            Queued::Gone => {
                super::leave_room(&state, &ep, "disconnected").await;
            }
        }
        // A join that failed, a leave, a removal: it is no longer a member here.
        if state.rooms.membership(&remote.id).is_none() {
            state.remotes.remove_if(&remote);
        }
    }
    state.limits.forget(&remote.id);
}

/// Carries out another node's administrator's `action` on a room of this node: the ids
/// removed, or `null` if there is no such room or member here.
async fn admin(state: &AppState, action: AdminAction) -> Value {
    match action {
        AdminAction::CloseRoom { room } if valid_room_name(&room) => {
            json!(super::close_room(state, &room).await)
        }
        AdminAction::RemoveMember { room, member }
            if valid_room_name(&room) && valid_member_id(&member) =>
        {
            let removed = super::remove_from_room(state, &room, &member).await;
            json!(removed.then(|| vec![member]))
        }
        _ => Value::Null,
    }
}

/// The nodes this one shares members with.
fn peers(state: &AppState) -> BTreeSet<String> {
    let mut nodes: BTreeSet<String> = state.relays.homes().into_iter().collect();
    nodes.extend(state.remotes.all().into_iter().map(|r| r.node.clone()));
    nodes
}

/// Tells each node this one shares members with which they are (every [`REFRESH`]).
///
/// [`REFRESH`]: crate::cluster::REFRESH
pub fn tick(state: &AppState) {
    // A relayed socket that is gone without its node hearing of it (it left while its join
    // was on its way) is ended now.
    for (id, home) in state.relays.all() {
        if state
            .io
            .get()
            .and_then(|io| super::socket_of(io, &id))
            .is_none()
            && state.relays.remove(&id).is_some()
        {
            state.send_to_node(&home, Body::Gone { member: id });
        }
    }
    for node in state.relays.lately(&peers(state), LATELY) {
        let relayed = state
            .relays
            .of_home(&node)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let hosted = state
            .remotes
            .of_node(&node)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        state.send_to_node(&node, Body::Alive { relayed, hosted });
    }
}

/// Node `from`'s list of the members we share: those it no longer has are gone here too.
fn alive(state: &AppState, from: &str, relayed: Vec<String>, hosted: Vec<String>) {
    if relayed.len() > MAX_IDS || hosted.len() > MAX_IDS {
        warn!(node = %from, "bus message refused: too many members");
        return;
    }
    let relayed: HashSet<String> = relayed.into_iter().collect();
    let hosted: HashSet<String> = hosted.into_iter().collect();
    for r in state.remotes.of_node(from) {
        if !relayed.contains(&r.id) && r.since.elapsed() > GRACE {
            debug!(id = %r.id, node = %from, "its node no longer has it");
            r.push(Queued::Gone).ok();
        }
    }
    for (id, since) in state.relays.of_home(from) {
        if !hosted.contains(&id) && since.elapsed() > GRACE {
            disconnect(state, &id, from, "its room's node no longer has it");
        }
    }
}

/// Node `node` cannot be reached, or may have missed messages: the members shared with it
/// are gone on both sides.
fn lost(state: &AppState, node: &str, why: &str) {
    for r in state.remotes.of_node(node) {
        r.push(Queued::Gone).ok();
    }
    // Taken before the waiting requests fail, so that their failure does not disconnect
    // the members that the move is for.
    let relayed = state.relays.take_home(node);
    if let Some(bus) = state.bus.get() {
        bus.fail_requests_to(node);
    }
    if !relayed.is_empty() {
        warn!(%node, members = relayed.len(), "a room's node {why}; moving its rooms");
        super::failover::start(state, node, relayed);
    }
}

/// Disconnects a socket whose room's node `home` lost it: its client rejoins.
fn disconnect(state: &AppState, id: &str, home: &str, why: &str) {
    if state.relays.remove(id).is_none() {
        return;
    }
    super::failover::disconnect(state, id, home, why);
}

/// This node is shutting down, and has left the cluster: the nodes it shares members with
/// move its rooms, as they would a lost node's, and drop its members from theirs.
pub fn shutdown(state: &AppState) {
    for node in peers(state) {
        state.send_to_node(&node, Body::Leaving);
    }
}
