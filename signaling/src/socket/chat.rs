//! Text chat with history, the typing indicator, and members' microphone/camera state.

use super::{Payload, admission, deliver, reply, request};
use crate::auth::Source;
use crate::limits::Kind;
use crate::messages::{ApiError, ChatRequest, MediaStateRequest, TypingRequest};
use crate::state::AppState;
use serde_json::{Value, json};
use sfu::ParticipantId;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::debug;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) async fn on_chat(
    socket: SocketRef,
    TryData(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
    io: SocketIo,
) {
    let result = async {
        let req: ChatRequest = request(&state, &socket, Kind::Chat, data)?;
        admission::require(&socket, |g| g.chat, "chat")?;
        let (room, msg) = state
            .rooms
            .chat(&socket.id.to_string(), req.text, now_ms())
            .ok_or_else(ApiError::not_joined)?;
        deliver::emit_room(&io, &room, Some(&socket), "chat", &msg);
        Ok(json!({ "id": msg.id, "ts": msg.ts }))
    }
    .await;
    reply(&socket, ack, result);
}

pub(super) async fn on_typing(
    socket: SocketRef,
    TryData(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
    io: SocketIo,
) {
    let result = async {
        let req: TypingRequest = request(&state, &socket, Kind::Typing, data)?;
        admission::require(&socket, |g| g.chat, "chat")?;
        tell_room(
            &state,
            &io,
            &socket,
            "typing",
            json!({ "typing": req.typing }),
        )
        .await
    }
    .await;
    reply(&socket, ack, result);
}

pub(super) async fn on_media_state(
    socket: SocketRef,
    TryData(data): Payload,
    ack: AckSender,
    State(state): State<AppState>,
    io: SocketIo,
) {
    let result = async {
        let req: MediaStateRequest = request(&state, &socket, Kind::Typing, data)?;
        if req.screen {
            admission::require(
                &socket,
                |g| g.may_publish(Source::Screen),
                "sharing a screen",
            )?;
        }
        let fields = json!({ "audio": req.audio, "video": req.video, "screen": req.screen });
        let told = tell_room(&state, &io, &socket, "media-state", fields).await?;
        let me = ParticipantId(socket.id.to_string());
        if let Err(e) = state.sfu.set_screen_share(me, req.screen).await {
            // Between a failed SFU session and its restart there is none to mark; the client
            // says it again once the new one is up.
            debug!("screen share not recorded: {e}");
        }
        Ok(told)
    }
    .await;
    reply(&socket, ack, result);
}

/// Sends `event` with `fields`, plus the sender's id and name, to the rest of its room.
async fn tell_room(
    state: &AppState,
    io: &SocketIo,
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
    deliver::emit_room(io, &room, Some(socket), event, &fields);
    Ok(json!({}))
}
