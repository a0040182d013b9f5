//! Server-to-client messages: each one is delivered, or its socket is closed.
//!
//! Every socket has a bounded send buffer ([`crate::limits::send_buffer_packets`]). A client
//! that stops reading fills it, and the next message to it cannot be queued. Dropping that
//! message would leave the client living on with a silently wrong view of the call (an
//! `sfu-offer` it never saw hides every later newcomer). So a socket that cannot take a
//! message is disconnected instead, with a logged reason: the client reconnects, rejoins and
//! sees the call as it is.

use crate::listener::Kill;
use serde::Serialize;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::{SendError, SocketError};
use tracing::{error, warn};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the client.
    Sent,
    /// The client is gone, or is being disconnected because it could not take the message.
    Gone,
}

/// Marks a socket that is being closed, so that it is reported and closed once.
#[derive(Clone)]
struct Closing;

/// Sends `event` to `socket`.
pub fn emit<T: Serialize + ?Sized>(socket: &SocketRef, event: &str, payload: &T) -> Delivery {
    outcome(socket, event, socket.emit(event, payload))
}

/// Acks a request of `socket`. Every request that asked for an ack gets one, or its socket
/// is closed.
pub fn ack<T: Serialize + ?Sized>(socket: &SocketRef, ack: AckSender, payload: &T) -> Delivery {
    outcome(socket, "ack", ack.send(payload))
}

fn outcome(socket: &SocketRef, event: &str, sent: Result<(), SendError>) -> Delivery {
    match sent {
        Ok(()) => Delivery::Sent,
        Err(SendError::Socket(SocketError::Closed)) => Delivery::Gone,
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            fell_behind(socket, event);
            Delivery::Gone
        }
        Err(SendError::Serialize(e)) => {
            // Our own payloads always serialize; a failure is a bug, and the client must not
            // go on without the message either.
            error!(id = %socket.id, event, "cannot serialize a message: {e}; disconnecting");
            close(socket);
            Delivery::Gone
        }
    }
}

/// Disconnects a socket whose send buffer is full, once, with the reason in the log.
fn fell_behind(socket: &SocketRef, event: &str) {
    if socket.extensions.get::<Closing>().is_some() {
        return;
    }
    warn!(
        id = %socket.id,
        event,
        "client is not reading: its send buffer is full; disconnecting it so that it rejoins"
    );
    close(socket);
}

/// Disconnects a socket that must not live on without a message it was sent. The disconnect
/// packet itself needs room in the send buffer; when there is none, the connection under the
/// socket is ended instead (the client sees it drop, and reconnects). A socket on a transport
/// without such a connection (long-polling) is closed by the heartbeat, whose ping finds no
/// room either.
fn close(socket: &SocketRef) {
    if socket.extensions.insert(Closing).is_some() {
        return;
    }
    if let Err(SocketError::InternalChannelFull) = socket.clone().disconnect()
        && let Some(kill) = socket.req_parts().extensions.get::<Kill>()
    {
        kill.kill();
    }
}
