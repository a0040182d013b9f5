//! `join`, `leave`, and the mode changes they cause.

use super::endpoint::{Endpoint, emit_room};
use super::{admission, limit, request};
use crate::cluster::Placement;
use crate::limits::Kind;
use crate::messages::{ApiError, JoinRequest, RemoveMemberRequest};
use crate::rooms::{JoinError, Member, Mode, ModeSwitch};
use crate::state::AppState;
use crate::switch_time;
use serde_json::{Value, json};
use sfu::{ParticipantId, RoomId};
use tracing::{info, warn};

pub(super) async fn join(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let req: JoinRequest = request(state, ep, Kind::Membership, data)?;
    let admitted = admission::admit(state, &req)?;
    let id = ep.id();
    let member = Member {
        id: id.clone(),
        name: admitted.name.clone(),
        restricted: !admitted.grants.is_full(),
    };
    if state.rooms.membership(&id).is_some() {
        return Err(ApiError::new(
            "already-joined",
            JoinError::AlreadyJoined.to_string(),
        ));
    }
    placed_here(state, &req.room).await?;
    let history = cluster_chat(state, &req.room).await;
    // A second join with the same identity replaces the first, which leaves its seat.
    if let Some(old) = admitted
        .sub
        .as_deref()
        .and_then(|sub| admission::claim_identity(state, sub, &id))
    {
        remove_member(state, &old, "replaced").await;
    }
    // The grants go on the socket under the rooms lock, and only if this join is the one
    // that seats it: of two joins racing on one socket, the loser's grants never land.
    let joined = state
        .rooms
        .join_seeded(&req.room, member.clone(), history, || {
            ep.set_room(Some(&req.room));
            ep.keep(admitted.grants.clone(), admitted.sub.as_deref());
        })
        .map_err(|e| {
            if let Some(sub) = &admitted.sub {
                admission::unclaim_identity(state, sub, &id);
            }
            match e {
                JoinError::RoomFull => {
                    ApiError::new("room-full", format!("room {} is full", req.room))
                }
                JoinError::AlreadyJoined => ApiError::new("already-joined", e.to_string()),
            }
        })?;
    let room = RoomId(req.room.clone());
    // Every member has an SFU session from the start, idle while the room is P2P, so the
    // move to the SFU needs no new handshake.
    let sfu_ready = async {
        let session = state
            .sfu
            .join_with(
                room.clone(),
                ParticipantId(id.clone()),
                admission::sfu_options(&admitted.grants),
            )
            .await?;
        ep.set_session(session);
        // The room's mode now, not at our join: joins run concurrently, and one that saw
        // the room P2P must not turn forwarding off after a later one moved it to the SFU.
        state.rooms.with_mode(&req.room, |mode| match mode {
            Some(mode) => state.sfu.queue_forwarding(room.clone(), mode == Mode::Sfu),
            None => Ok(()),
        })
    };
    if let Err(e) = sfu_ready.await {
        warn!(%id, room = %req.room, "SFU session refused: {e}");
        admission::release_identity(state, ep);
        state.rooms.leave(&id, || ep.set_room(None));
        let _ = state.sfu.leave(ParticipantId(id.clone())).await;
        return Err(e.into());
    }
    emit_room(state, &req.room, Some(&id), "peer-joined", &member);
    if let Some(switch) = &joined.switch {
        announce_switch(state, switch).await;
    }
    info!(%id, room = %req.room, name = %member.name, mode = ?joined.mode, "joined");
    Ok(json!({
        "id": id,
        "name": member.name,
        "grants": admitted.grants,
        "peers": joined.peers,
        "mode": joined.mode,
        "iceServers": state.ice_servers(&id, std::time::SystemTime::now()),
        "chatHistory": joined.chat_history,
    }))
}

/// In a cluster, a room lives on one node, and for now its members join it there: a room
/// new to the cluster is claimed for this node, and one that lives on another live node is
/// refused with that node's address. A room already here needs no Redis.
async fn placed_here(state: &AppState, room: &str) -> Result<(), ApiError> {
    let Some(cluster) = state.cluster.get() else {
        return Ok(());
    };
    if state.rooms.room(room).is_some() {
        return Ok(());
    }
    match cluster.place(room).await {
        Ok(Placement::Here) => Ok(()),
        Ok(Placement::Elsewhere(node)) => Err(ApiError::new(
            "room-on-other-node",
            format!(
                "room {room} lives on node {} ({}): connect there to join it",
                node.id, node.url
            ),
        )),
        Err(e) => {
            warn!(%room, "cluster placement failed: {e}");
            Err(ApiError::new(
                "cluster-unavailable",
                "the cluster cannot place this room now; try again in a moment",
            ))
        }
    }
}

/// In a cluster, the chat of a room new to this node, as Redis keeps it (it may have lived
/// on another node before). Without it, the room starts with none.
async fn cluster_chat(state: &AppState, room: &str) -> Vec<crate::rooms::ChatMessage> {
    let Some(cluster) = state.cluster.get() else {
        return Vec::new();
    };
    if state.rooms.room(room).is_some() {
        return Vec::new();
    }
    cluster.chat_history(room).await.unwrap_or_else(|e| {
        warn!(%room, "the room's chat could not be read from the cluster: {e}");
        Vec::new()
    })
}

pub(super) async fn remove(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let req: RemoveMemberRequest = request(state, ep, Kind::Membership, data)?;
    admission::require(ep, |g| g.admin, "removing members")?;
    let me = ep.id();
    let Some((_, name)) = state.rooms.membership(&me) else {
        return Err(ApiError::not_joined());
    };
    if req.id == me || !state.rooms.same_room(&me, &req.id) {
        return Err(ApiError::new("not-in-room", "no such peer in your room"));
    }
    remove_member(state, &req.id, &format!("removed by {name}")).await;
    Ok(json!({}))
}

pub(super) async fn leave(state: &AppState, ep: &Endpoint) -> Result<Value, ApiError> {
    limit(state, &ep.id(), Kind::Membership)?;
    if leave_room(state, ep, "left").await {
        Ok(json!({}))
    } else {
        Err(ApiError::not_joined())
    }
}

/// Takes the member out of its room and its SFU session, tells the others, and starts the
/// hold-down that may return the room to P2P. Returns whether it was in a room.
pub async fn leave_room(state: &AppState, ep: &Endpoint, reason: &str) -> bool {
    let id = ep.id();
    // Out of the broadcast room under the rooms lock, like the join.
    admission::release_identity(state, ep);
    let left = state.rooms.leave(&id, || ep.set_room(None));
    if let Endpoint::Remote(r) = ep {
        state.remotes.remove_if(r);
    }
    let Some(left) = left else {
        return false;
    };
    let _ = state.sfu.leave(ParticipantId(id.clone())).await;
    let gone = json!({ "id": id, "reason": reason });
    emit_room(state, &left.room, None, "peer-left", &gone);
    info!(%id, room = %left.room, reason, "left");
    if let Some(generation) = left.hold_down {
        let (state, room) = (state.clone(), left.room.clone());
        tokio::spawn(async move {
            tokio::time::sleep(state.config.hold_down).await;
            if let Some(switch) = state.rooms.hold_down_expired(&room, generation) {
                announce_switch(&state, &switch).await;
            }
        });
    }
    true
}

/// Removes a member on an administrator's request: tells it why (`removed`), takes it out
/// of its room, and disconnects it. Returns whether it was connected and in a room.
pub async fn remove_member(state: &AppState, id: &str, reason: &str) -> bool {
    let Some(ep) = super::endpoint::find(state, id) else {
        return false;
    };
    // A client already gone needs no reason; leaving the room below still matters.
    ep.emit(state, "removed", &json!({ "reason": reason }));
    let was_in = leave_room(state, &ep, "removed").await;
    ep.close(state, reason);
    info!(%id, reason, "removed by an administrator");
    was_in
}

/// Closes `room` of this node: every member is removed. Returns their ids, or `None` if
/// the room is not here.
pub async fn close_room(state: &AppState, room: &str) -> Option<Vec<String>> {
    let view = state.rooms.room(room)?;
    let mut removed = Vec::new();
    for m in view.members {
        if remove_member(state, &m.id, "the room was closed by an administrator").await {
            removed.push(m.id);
        }
    }
    info!(%room, members = removed.len(), "room closed by an administrator");
    Some(removed)
}

/// Removes member `id` of `room` of this node. Returns whether it was one, and connected.
pub async fn remove_from_room(state: &AppState, room: &str, id: &str) -> bool {
    let member = state
        .rooms
        .room(room)
        .is_some_and(|view| view.members.iter().any(|m| m.id == id));
    member && remove_member(state, id, "an administrator removed you from the room").await
}

/// Tells a room's members about a mode change, and sets the SFU's forwarding for it.
/// Going to the SFU, forwarding starts at once; going back to P2P, it stops only when every
/// member reports P2P media flowing (`p2p-ready`) or after a grace period: make before break.
pub async fn announce_switch(state: &AppState, switch: &ModeSwitch) {
    let room = RoomId(switch.room.clone());
    match switch.mode {
        Mode::Sfu => {
            let started = std::time::Instant::now();
            // Queued under the rooms lock, as every forwarding change is: a switch back to
            // P2P that overtook this one must not be undone by it.
            state.rooms.if_current(switch, || {
                if let Err(e) = state.sfu.queue_forwarding(room, true) {
                    warn!(room = %switch.room, "cannot start forwarding: {e}");
                }
            });
            tokio::spawn(switch_time::measure(state.clone(), switch.clone(), started));
        }
        Mode::P2p => {
            let (state, switch) = (state.clone(), switch.clone());
            tokio::spawn(async move {
                tokio::time::sleep(P2P_GRACE).await;
                // Only if no later switch (to the SFU, and perhaps back) overtook this one.
                let room = RoomId(switch.room.clone());
                state.rooms.if_current(&switch, || {
                    let _ = state.sfu.queue_forwarding(room, false);
                });
            });
        }
    }
    info!(room = %switch.room, mode = ?switch.mode, reason = switch.reason, "mode");
    let mode = json!({ "mode": switch.mode, "reason": switch.reason });
    emit_room(state, &switch.room, None, "mode", &mode);
}

/// How long the SFU keeps forwarding after a switch back to P2P if members do not report.
pub const P2P_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
