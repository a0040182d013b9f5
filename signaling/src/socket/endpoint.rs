//! A member as its room's node reaches it: a socket on this node, or a socket on another
//! node of the cluster, reached through the bus. The handlers treat both alike; what the
//! server keeps about a member (its grants, identity and SFU session) lives on the socket
//! for the one and here for the other.

use super::deliver::{self, Delivery};
use crate::auth::Grants;
use crate::cluster::Body;
use crate::state::AppState;
use serde::Serialize;
use sfu::SessionId;
use sfu::core::throttle::Throttle;
use socketioxide::extract::SocketRef;
use std::sync::{Arc, Mutex};
use tracing::warn;

pub use super::remotes::{Queued, Remote, Remotes};

/// A member's connection.
#[derive(Clone)]
pub enum Endpoint {
    /// A socket of this node.
    Local(SocketRef),
    /// A socket of another node, whose room lives here.
    Remote(Arc<Remote>),
}

#[derive(Clone)]
struct MemberGrants(Grants);
#[derive(Clone)]
struct Identity(String);
#[derive(Clone, Copy)]
struct Session(SessionId);
#[derive(Clone, Default)]
struct Refusals(Arc<Mutex<Throttle>>);

impl Endpoint {
    /// The member's id.
    pub fn id(&self) -> String {
        match self {
            Endpoint::Local(s) => s.id.to_string(),
            Endpoint::Remote(r) => r.id.clone(),
        }
    }

    /// Sends `event`: delivered, or the member is closed (see [`deliver`]).
    pub fn emit<T: Serialize + ?Sized>(
        &self,
        state: &AppState,
        event: &str,
        payload: &T,
    ) -> Delivery {
        match self {
            Endpoint::Local(s) => deliver::emit(s, event, payload),
            Endpoint::Remote(r) => {
                if r.is_closed() {
                    return Delivery::Gone;
                }
                match serde_json::to_value(payload) {
                    Ok(data) => {
                        state.send_to_node(
                            &r.node,
                            Body::Emit {
                                to: vec![r.id.clone()],
                                event: event.to_owned(),
                                data,
                            },
                        );
                        Delivery::Sent
                    }
                    Err(e) => {
                        warn!(id = %r.id, event, "cannot serialize a message: {e}; closing");
                        self.close(state, "a message could not be sent");
                        Delivery::Gone
                    }
                }
            }
        }
    }

    /// Disconnects the member's client.
    pub fn close(&self, state: &AppState, reason: &str) {
        match self {
            Endpoint::Local(s) => {
                let _ = s.clone().disconnect();
            }
            Endpoint::Remote(r) => {
                if r.mark_closed() {
                    state.send_to_node(
                        &r.node,
                        Body::Close {
                            member: r.id.clone(),
                            reason: reason.to_owned(),
                        },
                    );
                }
            }
        }
    }

    /// Puts the member in its room's broadcasts (`Some`) or takes it out of all (`None`).
    pub fn set_room(&self, room: Option<&str>) {
        match self {
            Endpoint::Local(s) => match room {
                Some(room) => s.join(room.to_owned()),
                None => s.leave_all(),
            },
            Endpoint::Remote(r) => r.set_room(room),
        }
    }

    /// What the member may do: everything but `admin` until it joins with a token.
    pub fn grants(&self) -> Grants {
        match self {
            Endpoint::Local(s) => s.extensions.get::<MemberGrants>().map(|g| g.0),
            Endpoint::Remote(r) => r.grants(),
        }
        .unwrap_or_default()
    }

    /// Records the member's grants and token identity.
    pub fn keep(&self, grants: Grants, identity: Option<&str>) {
        match self {
            Endpoint::Local(s) => {
                s.extensions.insert(MemberGrants(grants));
                if let Some(sub) = identity {
                    s.extensions.insert(Identity(sub.to_owned()));
                }
            }
            Endpoint::Remote(r) => r.keep(grants, identity),
        }
    }

    /// The member's token identity, if it joined with one.
    pub fn identity(&self) -> Option<String> {
        match self {
            Endpoint::Local(s) => s.extensions.get::<Identity>().map(|i| i.0),
            Endpoint::Remote(r) => r.identity(),
        }
    }

    /// The SFU session the member has now.
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Endpoint::Local(s) => s.extensions.get::<Session>().map(|s| s.0),
            Endpoint::Remote(r) => r.session(),
        }
    }

    /// Records the member's SFU session.
    pub fn set_session(&self, session: SessionId) {
        match self {
            Endpoint::Local(s) => {
                s.extensions.insert(Session(session));
            }
            Endpoint::Remote(r) => r.set_session(session),
        }
    }

    /// Counts a refused offer; `Some(n)` when this one is to be logged.
    pub fn note_refusal(&self) -> Option<u64> {
        match self {
            Endpoint::Local(s) => {
                let refusals = s.extensions.get::<Refusals>().unwrap_or_default();
                let logged = refusals.0.lock().map(|mut t| t.note()).ok().flatten();
                s.extensions.insert(refusals);
                logged
            }
            Endpoint::Remote(r) => r.note_refusal(),
        }
    }
}

/// Sends `event` to every member of `room` but `except` (the sender, who knows), on this
/// node and on others. Each member gets it or is closed: one slow member never costs the
/// others their copy.
pub fn emit_room<T: Serialize + ?Sized>(
    state: &AppState,
    room: &str,
    except: Option<&str>,
    event: &str,
    payload: &T,
) {
    if let Some(io) = state.io.get() {
        for socket in io.to(room.to_owned()).sockets() {
            if except.is_none_or(|e| socket.id.to_string() != e) {
                deliver::emit(&socket, event, payload);
            }
        }
    }
    let elsewhere = state.remotes.in_room(room);
    if elsewhere.is_empty() {
        return;
    }
    let data = match serde_json::to_value(payload) {
        Ok(data) => data,
        Err(e) => {
            // Our own payloads always serialize; a failure is a bug.
            warn!(room, event, "cannot serialize a message: {e}");
            return;
        }
    };
    for (node, mut to) in elsewhere {
        to.retain(|id| except.is_none_or(|e| id != e));
        if !to.is_empty() {
            let (event, data) = (event.to_owned(), data.clone());
            state.send_to_node(&node, Body::Emit { to, event, data });
        }
    }
}

/// The member `id` of one of this node's rooms: its socket here, or on another node.
pub fn find(state: &AppState, id: &str) -> Option<Endpoint> {
    if let Some(socket) = state.io.get().and_then(|io| super::socket_of(io, id)) {
        return Some(Endpoint::Local(socket));
    }
    state.remotes.get(id).map(Endpoint::Remote)
}
