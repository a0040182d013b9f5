//! Text chat with history, the typing indicator, and members' microphone/camera state.

use super::{Payload, reply, request};
use crate::limits::Kind;
use crate::messages::{ApiError, ChatRequest, MediaStateRequest, TypingRequest};
use crate::state::AppState;
use serde_json::{Value, json};
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
        let req: ChatRequest = request(&state, &socket, Kind::Chat, data)?;
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
        let req: TypingRequest = request(&state, &socket, Kind::Typing, data)?;
        tell_room(&state, &socket, "typing", json!({ "typing": req.typing })).await
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
        let req: MediaStateRequest = request(&state, &socket, Kind::Typing, data)?;
        let fields = json!({ "audio": req.audio, "video": req.video });
        tell_room(&state, &socket, "media-state", fields).await
    }
    .await;
    reply(ack, result);
}

/// Sends `event` with `fields`, plus the sender's id and name, to the rest of its room.
async fn tell_room(
    state: &AppState,
    socket: &SocketRef,
    event: &str,
    mut fields: Value,
) -> Result<Value, ApiError> {
    let id = socket.id.to_string();
    let (room, name) = state
        .rooms
        .membership(&id)
        .ok_or_else(ApiError::not_joined)?;
    fields["id"] = json!(id);
    fields["name"] = json!(name);
    let _ = socket.to(room).emit(event, &fields).await;
    Ok(json!({}))
}
