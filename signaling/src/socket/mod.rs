//! Socket.IO: one handler per event. `docs/signaling.md` is the protocol.

mod admission;
mod chat;
pub mod deliver;
pub mod endpoint;
mod failover;
mod media;
mod membership;
pub mod relay;
pub mod relays;
pub mod remotes;

use crate::limits::Kind;
use crate::messages::{ApiError, Request, parse};
use crate::state::AppState;
use endpoint::Endpoint;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::socket::Sid;
use std::str::FromStr;
use std::time::Instant;
use tracing::{debug, info};

pub use endpoint::emit_room;
pub use membership::{announce_switch, close_room, leave_room, remove_from_room, remove_member};

/// The events a client may send (`docs/signaling.md`).
const EVENTS: [&str; 14] = [
    "join",
    "leave",
    "remove-member",
    "p2p-signal",
    "p2p-failed",
    "p2p-ready",
    "sfu-offer",
    "sfu-answer",
    "sfu-candidate",
    "sfu-restart",
    "chat",
    "typing",
    "media-state",
    "view",
];

/// Registers every event handler on a new connection. It runs as a connect middleware,
/// before the server acks the connection: a client may emit the moment it is acked, and an
/// event that arrived before its handler existed would be lost without an ack.
pub async fn register_handlers(socket: SocketRef) -> Result<(), std::convert::Infallible> {
    for event in EVENTS {
        socket.on(
            event,
            move |socket: SocketRef,
                  TryData(data): Payload,
                  ack: AckSender,
                  State(state): State<AppState>| async move {
                relay::route(&state, socket, event, data.ok(), ack).await;
            },
        );
    }
    socket.on_fallback(on_unknown);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// Handles a client's `event` for `member`, whose room is on this node; the result is its ack.
pub(crate) async fn dispatch(
    state: &AppState,
    member: &Endpoint,
    event: &str,
    data: Option<Value>,
) -> Result<Value, ApiError> {
    match event {
        "join" => membership::join(state, member, data).await,
        "leave" => membership::leave(state, member).await,
        "remove-member" => membership::remove(state, member, data).await,
        "p2p-signal" => media::p2p_signal(state, member, data).await,
        "p2p-failed" => media::p2p_failed(state, member).await,
        "p2p-ready" => media::p2p_ready(state, member).await,
        "sfu-offer" => media::sfu_offer(state, member, data).await,
        "sfu-answer" => media::sfu_answer(state, member, data).await,
        "sfu-candidate" => media::sfu_candidate(state, member, data).await,
        "sfu-restart" => media::sfu_restart(state, member).await,
        "chat" => chat::chat(state, member, data).await,
        "typing" => chat::typing(state, member, data).await,
        "media-state" => chat::media_state(state, member, data).await,
        "view" => media::view(state, member, data).await,
        other => Err(unknown_event(other)),
    }
}

fn unknown_event(event: &str) -> ApiError {
    ApiError::new("unknown-event", format!("no such event: {event}"))
}

/// Called once the connection is acked.
pub async fn on_connect(socket: SocketRef) {
    debug!(id = %socket.id, "socket connected");
}

async fn on_unknown(socket: SocketRef, Event(event): Event, ack: AckSender) {
    debug!(id = %socket.id, %event, "unknown event");
    reply(&socket, ack, Err(unknown_event(&event)));
}

async fn on_disconnect(socket: SocketRef, State(state): State<AppState>) {
    let id = socket.id.to_string();
    if !relay::gone(&state, &id) {
        leave_room(&state, &Endpoint::Local(socket.clone()), "disconnected").await;
    }
    state.limits.forget(&id);
    info!(%id, "socket disconnected");
}

/// Acks `result`: the value, or `{error: {code, message}}`. A client that asked for no ack
/// gets nothing; one that cannot take its ack is disconnected (see [`deliver`]). A refusal
/// never closes the socket.
pub(crate) fn reply(socket: &SocketRef, ack: AckSender, result: Result<Value, ApiError>) {
    let payload = match result {
        Ok(v) => v,
        Err(e) => {
            debug!(id = %socket.id, code = e.code, "request refused: {}", e.message);
            e.to_ack()
        }
    };
    deliver::ack(socket, ack, &payload);
}

/// Takes a token from the member's bucket, or refuses with `rate-limited`.
pub(crate) fn limit(state: &AppState, id: &str, kind: Kind) -> Result<(), ApiError> {
    if state.limits.allow(id, kind, Instant::now()) {
        Ok(())
    } else {
        Err(ApiError::new(
            "rate-limited",
            "too many requests; slow down",
        ))
    }
}

/// Takes a rate-limit token, then parses and validates the payload.
pub(crate) fn request<T: Request>(
    state: &AppState,
    member: &Endpoint,
    kind: Kind,
    data: Option<Value>,
) -> Result<T, ApiError> {
    limit(state, &member.id(), kind)?;
    let data = data.ok_or_else(|| ApiError::bad_request("a JSON object payload is required"))?;
    let req: T = parse(data)?;
    req.validate()?;
    Ok(req)
}

/// The connected socket of a participant (participant ids are Socket.IO socket ids).
pub fn socket_of(io: &SocketIo, id: &str) -> Option<SocketRef> {
    Sid::from_str(id).ok().and_then(|sid| io.get_socket(sid))
}

/// The payload of an event, as JSON, or why it could not be read (none was sent, say).
pub(crate) type Payload = TryData<Value>;
