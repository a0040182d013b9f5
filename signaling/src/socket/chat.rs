//! Text chat with history, the typing indicator, and members' microphone/camera state.

use super::endpoint::{Endpoint, emit_room};
use super::{admission, request};
use crate::auth::Source;
use crate::limits::Kind;
use crate::messages::{ApiError, ChatRequest, MediaStateRequest, TypingRequest};
use crate::state::AppState;
use serde_json::{Value, json};
use sfu::ParticipantId;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::debug;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) async fn chat(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let req: ChatRequest = request(state, ep, Kind::Chat, data)?;
    admission::require(ep, |g| g.chat, "chat")?;
    let id = ep.id();
    let (room, msg) = state
        .rooms
        .chat(&id, req.text, now_ms())
        .ok_or_else(ApiError::not_joined)?;
    emit_room(state, &room, Some(&id), "chat", &msg);
    let ack = json!({ "id": msg.id, "ts": msg.ts });
    if let Some(cluster) = state.cluster.get().cloned() {
        // Kept for the room's next node, should it move; the call does not wait on Redis.
        tokio::spawn(async move {
            if let Err(e) = cluster.save_chat(&room, &msg).await {
                debug!(%room, "chat message not kept in the cluster: {e}");
            }
        });
    }
    Ok(ack)
}

pub(super) async fn typing(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let req: TypingRequest = request(state, ep, Kind::Typing, data)?;
    admission::require(ep, |g| g.chat, "chat")?;
    tell_room(state, ep, "typing", json!({ "typing": req.typing }))
}

pub(super) async fn media_state(
    state: &AppState,
    ep: &Endpoint,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    let req: MediaStateRequest = request(state, ep, Kind::Typing, data)?;
    if req.screen {
        admission::require(ep, |g| g.may_publish(Source::Screen), "sharing a screen")?;
    }
    let fields = json!({ "audio": req.audio, "video": req.video, "screen": req.screen });
    let told = tell_room(state, ep, "media-state", fields)?;
    let me = ParticipantId(ep.id());
    if let Err(e) = state.sfu.set_screen_share(me, req.screen).await {
        // Between a failed SFU session and its restart there is none to mark; the client
        // says it again once the new one is up.
        debug!("screen share not recorded: {e}");
    }
    Ok(told)
}

/// Sends `event` with `fields`, plus the sender's id and name, to the rest of its room.
fn tell_room(
    state: &AppState,
    ep: &Endpoint,
    event: &str,
    mut fields: Value,
) -> Result<Value, ApiError> {
    let id = ep.id();
    let (room, name) = state
        .rooms
        .membership(&id)
        .ok_or_else(ApiError::not_joined)?;
    fields["id"] = json!(id);
    fields["name"] = json!(name);
    emit_room(state, &room, Some(&id), event, &fields);
    Ok(json!({}))
}
