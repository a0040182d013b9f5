//! Joining the server as the browser client does: Socket.IO `join`, then the SFU session's
//! offer and answer, then answering every offer the SFU makes for new subscriptions.

use crate::engine::Engine;
use crate::peer::{PeerError, Role};
use serde_json::{Value, json};
use signaling::sio_client::{ConnectError, Sio};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Why a member could not join.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// No Socket.IO connection.
    #[error("Socket.IO: {0}")]
    Connect(#[from] ConnectError),
    /// The server refused or did not answer.
    #[error("{event}: {message}")]
    Refused {
        /// The event.
        event: &'static str,
        /// What the server said.
        message: String,
    },
    /// The peer's WebRTC stack refused.
    #[error(transparent)]
    Peer(#[from] PeerError),
}

/// A joined member; dropping it leaves as a closed tab does: its Socket.IO connection and its
/// peer close.
pub struct Member {
    sio: Sio,
    task: tokio::task::JoinHandle<()>,
    engine: Arc<Engine>,
    key: usize,
    killed: bool,
}

impl Member {
    /// Vanishes as a killed browser does: no goodbye on either connection, pings go
    /// unanswered and media stops, so the server has only its timeouts to notice.
    pub fn kill(mut self) {
        self.sio
            .silent
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.killed = true;
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if !self.killed {
            self.sio.disconnect();
        }
        self.task.abort();
        self.engine.remove(self.key, !self.killed);
    }
}

async fn call(sio: &Sio, event: &'static str, payload: Value) -> Result<Value, SignalError> {
    let ack = sio
        .call(event, payload, Duration::from_secs(15))
        .await
        .map_err(|e| SignalError::Refused {
            event,
            message: e.to_string(),
        })?;
    match ack.get("error") {
        Some(e) => Err(SignalError::Refused {
            event,
            message: e.to_string(),
        }),
        None => Ok(ack),
    }
}

/// Tells the server the size of the tile `role` shows `peer` in, which picks its layer.
async fn view(sio: &Sio, role: Role, peer: &Value) -> Result<(), SignalError> {
    let (width, height) = role.tile();
    call(
        sio,
        "view",
        json!({ "peer": peer, "width": width, "height": height, "visible": true }),
    )
    .await
    .map(|_| ())
}

/// Joins `room` on the server at `http` with a WebRTC peer on `engine`.
pub async fn join(
    http: SocketAddr,
    room: &str,
    role: Role,
    engine: Arc<Engine>,
) -> Result<Member, SignalError> {
    let (tx, mut events) = mpsc::unbounded_channel::<(String, Value)>();
    let sio = Sio::connect(http, tx).await?;
    let ack = call(
        &sio,
        "join",
        json!({ "room": room, "name": format!("loadgen-{}", role.id) }),
    )
    .await?;
    if ack["mode"] == "p2p" {
        tracing::warn!(
            room,
            "the room is P2P; start the server with --p2p off to load its SFU"
        );
    }
    let (key, offer) = engine.add_rtc(role).await?;
    let answer = call(&sio, "sfu-offer", json!({ "sdp": offer })).await?;
    let sdp = answer["sdp"].as_str().unwrap_or_default().to_owned();
    engine.answer(key, sdp).await?;
    if role.simulcast {
        for peer in ack["peers"].as_array().into_iter().flatten() {
            view(&sio, role, &peer["id"]).await?;
        }
    }
    let (out, peers) = (sio.clone(), engine.clone());
    let task = tokio::spawn(async move {
        while let Some((name, v)) = events.recv().await {
            if name == "peer-joined" && role.simulcast {
                if let Err(e) = view(&out, role, &v["id"]).await {
                    tracing::warn!("view: {e}");
                }
                continue;
            }
            if name != "sfu-offer" {
                continue;
            }
            let Some(sdp) = v["sdp"].as_str() else {
                continue;
            };
            match peers.offer(key, sdp.to_owned()).await {
                Ok(answer) => {
                    if let Err(e) = call(&out, "sfu-answer", json!({ "sdp": answer })).await {
                        tracing::warn!("sfu-answer: {e}");
                    }
                }
                Err(PeerError::EngineGone) => return,
                Err(e) => tracing::warn!("cannot answer the SFU's offer: {e}"),
            }
        }
    });
    Ok(Member {
        sio,
        task,
        engine,
        key,
        killed: false,
    })
}
