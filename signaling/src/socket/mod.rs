//! Socket.IO: one handler per event. `docs/signaling.md` is the protocol.

mod admission;
mod chat;
pub mod deliver;
mod media;
mod membership;

use crate::limits::Kind;
use crate::messages::{ApiError, Request, parse};
use crate::state::AppState;
use serde_json::Value;
use sfu::SessionId;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::socket::Sid;
use socketioxide::{ParserError, SocketIo};
use std::str::FromStr;
use std::time::Instant;
use tracing::{debug, info};

pub use membership::{announce_switch, leave_room, remove_member};

/// Registers every event handler on a new connection. It runs as a connect middleware,
/// before the server acks the connection: a client may emit the moment it is acked, and an
/// event that arrived before its handler existed would be lost without an ack.
pub async fn register_handlers(socket: SocketRef) -> Result<(), std::convert::Infallible> {
    socket.on("join", membership::on_join);
    socket.on("leave", membership::on_leave);
    socket.on("remove-member", membership::on_remove_member);
    socket.on("p2p-signal", media::on_p2p_signal);
    socket.on("p2p-failed", media::on_p2p_failed);
    socket.on("p2p-ready", media::on_p2p_ready);
    socket.on("sfu-offer", media::on_sfu_offer);
    socket.on("sfu-answer", media::on_sfu_answer);
    socket.on("sfu-candidate", media::on_sfu_candidate);
    socket.on("sfu-restart", media::on_sfu_restart);
    socket.on("chat", chat::on_chat);
    socket.on("typing", chat::on_typing);
    socket.on("media-state", chat::on_media_state);
    socket.on("view", media::on_view);
    socket.on_fallback(on_unknown);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// Called once the connection is acked.
pub async fn on_connect(socket: SocketRef) {
    debug!(id = %socket.id, "socket connected");
}

async fn on_unknown(socket: SocketRef, Event(event): Event, ack: AckSender) {
    debug!(id = %socket.id, %event, "unknown event");
    reply(
        &socket,
        ack,
        Err(ApiError::new(
            "unknown-event",
            format!("no such event: {event}"),
        )),
    );
}

async fn on_disconnect(socket: SocketRef, State(state): State<AppState>, io: SocketIo) {
    let id = socket.id.to_string();
    leave_room(&state, &io, &socket, "disconnected").await;
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

/// Takes a token from the socket's bucket, or refuses with `rate-limited`.
pub(crate) fn limit(state: &AppState, socket: &SocketRef, kind: Kind) -> Result<(), ApiError> {
    if state
        .limits
        .allow(&socket.id.to_string(), kind, Instant::now())
    {
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
    socket: &SocketRef,
    kind: Kind,
    data: Result<Value, ParserError>,
) -> Result<T, ApiError> {
    limit(state, socket, kind)?;
    let data = data.map_err(|_| ApiError::bad_request("a JSON object payload is required"))?;
    let req: T = parse(data)?;
    req.validate()?;
    Ok(req)
}

/// The SFU session a socket's participant has now, kept on the socket.
#[derive(Clone, Copy)]
struct SfuSession(SessionId);

/// Records the participant's current SFU session on its socket.
pub(crate) fn set_session(socket: &SocketRef, session: SessionId) {
    socket.extensions.insert(SfuSession(session));
}

/// The SFU session the socket's participant has now, if it joined one.
pub fn current_session(socket: &SocketRef) -> Option<SessionId> {
    socket.extensions.get::<SfuSession>().map(|s| s.0)
}

/// The connected socket of a participant (participant ids are Socket.IO socket ids).
pub fn socket_of(io: &SocketIo, id: &str) -> Option<SocketRef> {
    Sid::from_str(id).ok().and_then(|sid| io.get_socket(sid))
}

/// The payload of an event, as JSON, or why it could not be read (none was sent, say).
pub(crate) type Payload = TryData<Value>;
