//! Media negotiation: the P2P relay between two members, and each member's SFU session.

use super::deliver::Delivery;
use super::endpoint::Endpoint;
use super::{announce_switch, limit, request};
use crate::limits::Kind;
use crate::messages::{ApiError, CandidateMessage, P2pSignal, SdpMessage, ViewRequest};
use crate::state::AppState;
use serde_json::{Value, json};
use sfu::{ParticipantId, RoomId};
use std::time::Instant;
use tracing::{info, warn};

/// The caller's participant id, if it is in a room (its SFU session exists only then).
fn joined(state: &AppState, ep: &Endpoint) -> Result<ParticipantId, ApiError> {
    let id = ep.id();
    match state.rooms.membership(&id) {
        Some(_) => Ok(ParticipantId(id)),
        None => Err(ApiError::not_joined()),
    }
}

pub(super) async fn p2p_signal(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let signal: P2pSignal = request(state, ep, Kind::Signaling, data)?;
    let size = signal.size()?;
    let from = ep.id();
    if !state
        .limits
        .allow_n(&from, Kind::SignalBytes, size as f64, Instant::now())
    {
        return Err(ApiError::new(
            "rate-limited",
            "too many signal bytes; slow down",
        ));
    }
    // Only within the room: a socket can never address anyone outside it.
    if !state.rooms.same_room(&from, &signal.to) {
        return Err(ApiError::new("not-in-room", "no such peer in your room"));
    }
    let target = super::endpoint::find(state, &signal.to)
        .ok_or_else(|| ApiError::new("not-in-room", "no such peer in your room"))?;
    // Rights the server enforces only on SFU media: no P2P link may bypass them.
    if !ep.grants().is_full() || !target.grants().is_full() {
        return Err(ApiError::new(
            "not-allowed",
            "a member's join token limits its media: this room talks through the SFU only",
        ));
    }
    let mut out = json!({ "from": from });
    if let Some(d) = signal.description {
        out["description"] = d;
    }
    if let Some(c) = signal.candidate {
        out["candidate"] = c;
    }
    if let Some(o) = signal.order {
        out["order"] = o;
    }
    match target.emit(state, "p2p-signal", &out) {
        Delivery::Sent => Ok(json!({})),
        Delivery::Gone => Err(ApiError::new("peer-gone", "the peer disconnected")),
    }
}

pub(super) async fn p2p_failed(state: &AppState, ep: &Endpoint) -> Result<Value, ApiError> {
    limit(state, &ep.id(), Kind::Signaling)?;
    joined(state, ep)?;
    if let Some(switch) = state.rooms.p2p_failed(&ep.id()) {
        info!(id = %ep.id(), room = %switch.room, "P2P failed; moving to the SFU");
        announce_switch(state, &switch).await;
    }
    Ok(json!({}))
}

pub(super) async fn p2p_ready(state: &AppState, ep: &Endpoint) -> Result<Value, ApiError> {
    limit(state, &ep.id(), Kind::Signaling)?;
    joined(state, ep)?;
    let mut stopped = Ok(());
    let ready = state.rooms.p2p_ready(&ep.id(), |room| {
        stopped = state.sfu.queue_forwarding(RoomId(room.to_owned()), false);
    });
    if let Some(room) = ready {
        info!(%room, "every member has P2P media; the SFU stops forwarding");
        stopped?;
    }
    Ok(json!({}))
}

pub(super) async fn sfu_offer(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let parsed = request::<SdpMessage>(state, ep, Kind::Signaling, data);
    let me = joined(state, ep)?;
    let msg = refused_offer(ep, &me, parsed)?;
    let answer = state.sfu.offer(me, msg.sdp).await?;
    Ok(json!({ "sdp": answer }))
}

pub(super) async fn sfu_answer(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let parsed = request::<SdpMessage>(state, ep, Kind::Signaling, data);
    let me = joined(state, ep)?;
    let msg = match parsed {
        Ok(msg) => msg,
        Err(e) => {
            // The SFU waits for this answer: it must hear that none is coming, or the
            // session would wait for good and never see a later newcomer. It logs the
            // refusal, with what follows.
            let why = format!("{}: {}", e.code, e.message);
            state.sfu.answer_refused(me, why).await?;
            return Err(e);
        }
    };
    state.sfu.answer(me, msg.sdp).await?;
    Ok(json!({}))
}

/// Logs an offer refused at the edge at warn, with who sent it (the first few of a member,
/// then every hundredth): a refused description leaves that member's media stuck until it
/// negotiates again. (The SFU logs its own refusals.)
fn refused_offer<T>(
    ep: &Endpoint,
    who: &ParticipantId,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Err(e) = &result
        && let Some(n) = ep.note_refusal()
    {
        warn!(participant = %who, code = e.code, refusals = n, "SFU offer refused: {}", e.message);
    }
    result
}

/// Replaces the caller's SFU session with a new one, for a client whose session is beyond
/// renegotiation. Its tracks leave the others' sessions and come back with its next offer.
/// The room's forwarding state belongs to the room, which the other members keep alive.
pub(super) async fn sfu_restart(state: &AppState, ep: &Endpoint) -> Result<Value, ApiError> {
    limit(state, &ep.id(), Kind::Membership)?;
    let me = joined(state, ep)?;
    let (room, _) = state
        .rooms
        .membership(&me.0)
        .ok_or_else(ApiError::not_joined)?;
    // The old session may already be gone (a failed transport); a new one is made either way.
    let _ = state.sfu.leave(me.clone()).await;
    // Held to the same grants as the session it replaces.
    let options = super::admission::sfu_options(&ep.grants());
    let session = state
        .sfu
        .join_with(RoomId(room.clone()), me.clone(), options)
        .await?;
    ep.set_session(session);
    warn!(participant = %me, %room, "SFU session restarted at the client's request");
    Ok(json!({}))
}

pub(super) async fn sfu_candidate(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let msg: CandidateMessage = request(state, ep, Kind::Signaling, data)?;
    let me = joined(state, ep)?;
    let init = sfu::IceCandidate {
        candidate: msg.candidate,
        sdp_mid: msg.sdp_mid,
        sdp_mline_index: msg.sdp_mline_index,
    };
    state.sfu.candidate(me, init).await?;
    Ok(json!({}))
}

/// `view`: whether the sender shows a member's video. The SFU sends none of a hidden one.
pub(super) async fn view(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let req: ViewRequest = request(state, ep, Kind::Signaling, data)?;
    let me = joined(state, ep)?;
    if req.peer == me.0 || !state.rooms.same_room(&me.0, &req.peer) {
        return Err(ApiError::new("not-in-room", "no such peer in your room"));
    }
    state
        .sfu
        .set_view(me, ParticipantId(req.peer.clone()), req.visible, req.tile())
        .await?;
    Ok(json!({}))
}
