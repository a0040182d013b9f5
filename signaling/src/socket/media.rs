//! Media negotiation: the P2P relay between two members, and each member's SFU session.

use super::{Payload, announce_switch, limit, reply, request};
use crate::limits::Kind;
use crate::messages::{ApiError, CandidateMessage, P2pSignal, SdpMessage};
use crate::state::AppState;
use serde_json::{Value, json};
use sfu::{ParticipantId, RoomId};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use tracing::info;

/// The caller's participant id, if it is in a room (its SFU session exists only then).
fn joined(state: &AppState, socket: &SocketRef) -> Result<ParticipantId, ApiError> {
    let id = socket.id.to_string();
    match state.rooms.membership(&id) {
        Some(_) => Ok(ParticipantId(id)),
        None => Err(ApiError::not_joined()),
    }
}

pub(super) async fn on_p2p_signal(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
    io: SocketIo,
) {
    let result = async {
        let signal: P2pSignal = request(&state, &socket, Kind::Signaling, data)?;
        let from = socket.id.to_string();
        // Only within the room: a socket can never address anyone outside it.
        if !state.rooms.same_room(&from, &signal.to) {
            return Err(ApiError::new("not-in-room", "no such peer in your room"));
        }
        let target = super::socket_of(&io, &signal.to)
            .ok_or_else(|| ApiError::new("not-in-room", "no such peer in your room"))?;
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
        target
            .emit("p2p-signal", &out)
            .map_err(|_| ApiError::new("peer-gone", "the peer disconnected"))?;
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_p2p_failed(
    socket: SocketRef,
    ack: AckSender,
    State(state): State<AppState>,
    io: SocketIo,
) {
    let result = async {
        limit(&state, &socket, Kind::Signaling)?;
        joined(&state, &socket)?;
        if let Some(switch) = state.rooms.p2p_failed(&socket.id.to_string()) {
            info!(id = %socket.id, room = %switch.room, "P2P failed; moving to the SFU");
            announce_switch(&state, &io, &switch).await;
        }
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_p2p_ready(socket: SocketRef, ack: AckSender, State(state): State<AppState>) {
    let result = async {
        limit(&state, &socket, Kind::Signaling)?;
        joined(&state, &socket)?;
        if let Some(room) = state.rooms.p2p_ready(&socket.id.to_string()) {
            info!(%room, "every member has P2P media; the SFU stops forwarding");
            state.sfu.set_forwarding(RoomId(room), false).await?;
        }
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_sfu_offer(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let result = async {
        let msg: SdpMessage = request(&state, &socket, Kind::Signaling, data)?;
        let me = joined(&state, &socket)?;
        let answer = state.sfu.offer(me, msg.sdp).await?;
        Ok(json!({ "sdp": answer }))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_sfu_answer(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let result = async {
        let msg: SdpMessage = request(&state, &socket, Kind::Signaling, data)?;
        let me = joined(&state, &socket)?;
        state.sfu.answer(me, msg.sdp).await?;
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_sfu_candidate(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let result: Result<Value, ApiError> = async {
        let msg: CandidateMessage = request(&state, &socket, Kind::Signaling, data)?;
        let me = joined(&state, &socket)?;
        let init = rtc::peer_connection::transport::RTCIceCandidateInit {
            candidate: msg.candidate,
            sdp_mid: msg.sdp_mid,
            sdp_mline_index: msg.sdp_mline_index,
            ..Default::default()
        };
        state.sfu.candidate(me, init).await?;
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}
