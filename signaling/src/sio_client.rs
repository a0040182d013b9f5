//! A small Socket.IO (protocol v5, engine.io v4) client over a real WebSocket: enough for
//! the tests and the load generator to speak to the server exactly as `socket.io-client`
//! does on the wire, and for tests to go silent on purpose.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Acks = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// Locks the pending acks. Holders only insert or remove, so the lock is never poisoned.
fn lock(acks: &Acks) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Value>>> {
    acks.lock().expect("acks lock poisoned")
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The WebSocket handshake failed.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server did not ack the namespace connect within 5 s.
    #[error("no namespace connect ack")]
    NoAck,
}

/// Why an acknowledged emit got no ack.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// None came in time.
    #[error("no ack within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection closed first.
    #[error("the connection closed before the ack")]
    Closed,
}

/// One connection to the default namespace.
#[derive(Clone)]
pub struct Sio {
    out: mpsc::UnboundedSender<String>,
    acks: Acks,
    next_ack: Arc<AtomicU64>,
    /// When set, pings go unanswered: the client vanishes without a goodbye.
    pub silent: Arc<AtomicBool>,
    /// When set, nothing is read from the connection: a client that stopped reading, whose
    /// server-side buffers fill up.
    pub paused: Arc<AtomicBool>,
    /// Set once the server has disconnected this client or the connection has ended.
    closed: Arc<AtomicBool>,
}

impl Sio {
    /// Connects and waits for the namespace's connect ack. Server events go to `events`.
    pub async fn connect(
        addr: SocketAddr,
        events: mpsc::UnboundedSender<(String, Value)>,
    ) -> Result<Sio, ConnectError> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let acks: Acks = Arc::default();
        let silent = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicBool::new(false));
        let (connected_tx, connected_rx) = oneshot::channel();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                // Only `disconnect` sends the namespace disconnect: the WebSocket closes after
                // it, as a browser's last socket closes its connection.
                let last = text == "41";
                if sink.send(Message::text(text)).await.is_err() || last {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (a, s, o, p) = (acks.clone(), silent.clone(), out.clone(), paused.clone());
        let c = closed.clone();
        tokio::spawn(async move {
            let mut connected = Some(connected_tx);
            loop {
                while p.load(Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                let Some(Ok(msg)) = stream.next().await else {
                    break;
                };
                let Message::Text(text) = msg else { continue };
                let text = text.as_str();
                match text.as_bytes().first() {
                    Some(b'0') => {
                        let _ = o.send("40".into()); // engine.io open: connect to "/"
                    }
                    Some(b'2') if !s.load(Ordering::Relaxed) => {
                        let _ = o.send("3".into()); // ping → pong
                    }
                    Some(b'4') => match text.as_bytes().get(1) {
                        // The server disconnected us from the namespace.
                        Some(b'1') => break,
                        Some(b'0') => {
                            if let Some(c) = connected.take() {
                                let _ = c.send(());
                            }
                        }
                        Some(b'2') => {
                            let body = &text[2..];
                            let start = body.find('[').unwrap_or(0);
                            if let Ok(Value::Array(mut args)) = serde_json::from_str(&body[start..])
                                && let Some(Value::String(name)) = args.first().cloned()
                            {
                                let arg = if args.len() > 1 {
                                    args.remove(1)
                                } else {
                                    Value::Null
                                };
                                let _ = events.send((name, arg));
                            }
                        }
                        Some(b'3') => {
                            let body = &text[2..];
                            let start = body.find('[').unwrap_or(body.len());
                            let id: u64 = body[..start].parse().unwrap_or(u64::MAX);
                            let arg = match serde_json::from_str(&body[start..]) {
                                Ok(Value::Array(mut args)) if !args.is_empty() => args.remove(0),
                                _ => Value::Null,
                            };
                            if let Some(tx) = lock(&a).remove(&id) {
                                let _ = tx.send(arg);
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
            c.store(true, Ordering::Relaxed);
            // Acks that can no longer come fail now rather than at their timeout.
            lock(&a).clear();
        });
        match tokio::time::timeout(std::time::Duration::from_secs(5), connected_rx).await {
            Ok(Ok(())) => Ok(Sio {
                out,
                acks,
                next_ack: Arc::new(AtomicU64::new(1)),
                silent,
                paused,
                closed,
            }),
            _ => Err(ConnectError::NoAck),
        }
    }

    /// Emits an event and returns the receiver of its ack.
    pub fn emit_with_ack(&self, event: &str, data: Value) -> oneshot::Receiver<Value> {
        self.emit_args_with_ack(event, vec![data])
    }

    /// Emits an event with any number of arguments (none, say) and returns the receiver of
    /// its ack.
    pub fn emit_args_with_ack(&self, event: &str, args: Vec<Value>) -> oneshot::Receiver<Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.acks).insert(id, tx);
        let mut packet = vec![Value::from(event)];
        packet.extend(args);
        let _ = self.out.send(format!("42{id}{}", Value::Array(packet)));
        rx
    }

    /// Whether the connection is still open: the server has not disconnected this client,
    /// and the connection has not ended.
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }

    /// Emits an event and waits up to `limit` for its ack.
    pub async fn call(
        &self,
        event: &str,
        data: Value,
        limit: std::time::Duration,
    ) -> Result<Value, AckError> {
        tokio::time::timeout(limit, self.emit_with_ack(event, data))
            .await
            .map_err(|_| AckError::Timeout(limit))?
            .map_err(|_| AckError::Closed)
    }

    /// Closes the connection politely (a Socket.IO disconnect, then the WebSocket close).
    pub fn disconnect(&self) {
        let _ = self.out.send("41".into());
    }
}
