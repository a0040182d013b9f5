//! Text chat with history, the typing indicator, and members' microphone/camera state.

use super::{Payload, limit, reply};
use crate::limits::Kind;
use crate::messages::{ApiError, ChatRequest, MediaStateRequest, TypingRequest, parse};
use crate::state::AppState;
use serde_json::json;
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) async fn on_chat(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let result = async {
        limit(&state, &socket, Kind::Chat)?;
        let req: ChatRequest = parse(data)?;
        req.validate()?;
        let (room, msg) = state
            .rooms
            .chat(&socket.id.to_string(), req.text, now_ms())
            .ok_or_else(ApiError::not_joined)?;
        let _ = socket.to(room).emit("chat", &msg).await;
        Ok(json!({ "id": msg.id, "ts": msg.ts }))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_typing(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let result = async {
        limit(&state, &socket, Kind::Typing)?;
        let req: TypingRequest = parse(data)?;
        let id = socket.id.to_string();
        let (room, name) = state
            .rooms
            .membership(&id)
            .ok_or_else(ApiError::not_joined)?;
        let _ = socket
            .to(room)
            .emit(
                "typing",
                &json!({ "id": id, "name": name, "typing": req.typing }),
            )
            .await;
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}

pub(super) async fn on_media_state(
    socket: SocketRef,
    Data(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let result = async {
        limit(&state, &socket, Kind::Typing)?;
        let req: MediaStateRequest = parse(data)?;
        let id = socket.id.to_string();
        let (room, _) = state
            .rooms
            .membership(&id)
            .ok_or_else(ApiError::not_joined)?;
        let _ = socket
            .to(room)
            .emit(
                "media-state",
                &json!({ "id": id, "audio": req.audio, "video": req.video }),
            )
            .await;
        Ok(json!({}))
    }
    .await;
    reply(ack, result);
}
