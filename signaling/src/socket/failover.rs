//! A room's node is lost while members reach it through this node. The room is placed
//! again (here, or on the node that took it over first), each member joins it there under
//! its id, with its own join request, and is told what changed: `peer-left` and
//! `peer-joined` for the difference between the members it knew and those there now, the
//! room's `mode`, and `sfu-failed`, since its SFU session died with the node. Its client then
//! negotiates a new session, with no reconnect and no rejoin of its own.

use super::deliver;
use super::endpoint::Endpoint;
use super::relays::Relay;
use crate::cluster::Placement;
use crate::state::AppState;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;
use std::collections::{BTreeMap, HashMap};
use tracing::{info, warn};

/// Moves the rooms of `members`, whose node `lost` is lost. Members whose join was not
/// acked yet are left out: their client was told the join failed, and tries again.
pub(super) fn start(state: &AppState, lost: &str, members: Vec<(String, Relay)>) {
    let mut rooms: HashMap<String, Vec<(String, Relay)>> = HashMap::new();
    for (id, relay) in members.into_iter().filter(|(_, r)| r.acked) {
        rooms
            .entry(relay.room.clone())
            .or_default()
            .push((id, relay));
    }
    for (room, members) in rooms {
        let (state, lost) = (state.clone(), lost.to_owned());
        let ids: Vec<String> = members.iter().map(|(id, _)| id.clone()).collect();
        // Until the move ends, the members' events are refused, not sent to the lost node.
        state.relays.set_moving(&ids, true);
        tokio::spawn(async move {
            run(&state, &lost, &room, members).await;
            state.relays.set_moving(&ids, false);
        });
    }
}

async fn run(state: &AppState, lost: &str, room: &str, members: Vec<(String, Relay)>) {
    let Some(cluster) = state.cluster.get() else {
        return;
    };
    let home = match cluster.place_after_loss(room, lost).await {
        Ok(Placement::Here) => None,
        Ok(Placement::Elsewhere(node)) => Some(node.id),
        Err(e) => {
            for (id, _) in members {
                disconnect(
                    state,
                    &id,
                    lost,
                    &format!("its room cannot be placed again ({e})"),
                );
            }
            return;
        }
    };
    info!(%room, from = %lost, to = home.as_deref().unwrap_or(cluster.id()), members = members.len(), "moving a room whose node was lost");
    // Everyone joins first; then each is told how the room is, once.
    let mut joined = Vec::new();
    let mut last = Value::Null;
    for (id, relay) in members {
        let Some(socket) = state.io.get().and_then(|io| super::socket_of(io, &id)) else {
            continue; // gone meanwhile
        };
        let ack = join_again(state, home.as_deref(), &id, &socket, &relay).await;
        if let Some(error) = ack.get("error") {
            // The new node may hold it all the same (a join that timed out): it is told.
            if let (Some(node), Some(_)) = (&home, state.relays.remove(&id)) {
                state.send_to_node(node, crate::cluster::Body::Gone { member: id.clone() });
            }
            disconnect(
                state,
                &id,
                lost,
                &format!("joining its room again failed: {error}"),
            );
            continue;
        }
        if home.is_some() {
            state.relays.joined(&id, &ack);
        }
        joined.push((socket, relay));
        last = ack;
    }
    // The room as the last join found it, that member included.
    let mut now: BTreeMap<String, String> = BTreeMap::new();
    let peers = last.get("peers").and_then(Value::as_array);
    for p in peers.into_iter().flatten().chain([&last]) {
        if let (Some(id), Some(name)) = (
            p.get("id").and_then(Value::as_str),
            p.get("name").and_then(Value::as_str),
        ) {
            now.insert(id.to_owned(), name.to_owned());
        }
    }
    let mode = last.get("mode").cloned().unwrap_or(Value::Null);
    for (socket, relay) in joined {
        tell(&socket, &relay, &now, &mode);
    }
}

/// Joins socket `id` to its room again, on `home` (this node if `None`); returns the ack.
async fn join_again(
    state: &AppState,
    home: Option<&str>,
    id: &str,
    socket: &SocketRef,
    relay: &Relay,
) -> Value {
    let join = Some(relay.join.clone());
    match (home, state.bus.get()) {
        (None, _) => super::dispatch(state, &Endpoint::Local(socket.clone()), "join", join)
            .await
            .unwrap_or_else(|e| e.to_ack()),
        (Some(node), Some(bus)) => {
            state.relays.insert(id, node, &relay.join);
            bus.request(node, id, "join", join).await.unwrap_or_else(
                |e| json!({ "error": { "code": "cluster-unavailable", "message": e.to_string() } }),
            )
        }
        (Some(_), None) => json!({ "error": { "code": "cluster-unavailable" } }),
    }
}

/// Tells a member that joined its room again what changed since it last knew it: `now` is
/// the room's members, by id.
fn tell(socket: &SocketRef, relay: &Relay, now: &BTreeMap<String, String>, mode: &Value) {
    let me = socket.id.to_string();
    for old in &relay.peers {
        if !now.contains_key(old) {
            deliver::emit(
                socket,
                "peer-left",
                &json!({ "id": old, "reason": "disconnected" }),
            );
        }
    }
    for (id, name) in now {
        if *id != me && !relay.peers.contains(id) {
            deliver::emit(socket, "peer-joined", &json!({ "id": id, "name": name }));
        }
    }
    deliver::emit(
        socket,
        "mode",
        &json!({ "mode": mode, "reason": "node-failed" }),
    );
    deliver::emit(socket, "sfu-failed", &json!({}));
}

/// Disconnects socket `id`, whose room's node `home` was lost, with the reason logged: its
/// client reconnects and rejoins.
pub(super) fn disconnect(state: &AppState, id: &str, home: &str, why: &str) {
    warn!(%id, node = %home, "room's node: {why}; disconnecting the client so that it rejoins");
    if let Some(socket) = state.io.get().and_then(|io| super::socket_of(io, id)) {
        let _ = socket.disconnect();
    }
}
