//! A running server and Socket.IO clients that talk to it over TCP, as browsers do.

#![allow(dead_code)]

pub mod process;

use serde_json::{Value, json};
use sfu::testkit::{BoxFuture, Peer, PeerOptions, Signal};
use signaling::sio_client::Sio;
use signaling::{Config, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(10);

/// Starts a server on loopback with ephemeral ports and a 1 s hold-down.
pub async fn server() -> Server {
    server_with(Config::for_tests()).await
}

pub async fn server_with(config: Config) -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    Server::start(config).await.expect("server starts")
}

/// One Socket.IO connection; every event it receives is queued for `next`.
pub struct Client {
    pub sio: Sio,
    events: mpsc::UnboundedReceiver<(String, Value)>,
    backlog: Vec<(String, Value)>,
    /// The participant id, once joined.
    pub id: String,
}

/// The first argument of an event or ack. rust_socketio hands acks over as one array of
impl Client {
    pub async fn connect(server: &Server) -> Client {
        let (tx, events) = mpsc::unbounded_channel();
        let sio = Sio::connect(server.http_addr, tx)
            .await
            .expect("Socket.IO connects");
        Client {
            sio,
            events,
            backlog: Vec::new(),
            id: String::new(),
        }
    }

    /// Emits `event` and waits for its ack.
    pub async fn call(&self, event: &str, payload: Value) -> Value {
        call(&self.sio, event, payload).await
    }

    /// Waits for the next `event`, keeping others for later.
    pub async fn next(&mut self, event: &str) -> Value {
        self.next_within(event, WAIT).await
    }

    /// Waits up to `wait` for the next `event`, keeping others for later.
    pub async fn next_within(&mut self, event: &str, wait: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|(e, _)| e == event) {
            return self.backlog.remove(i).1;
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some((e, v))) if e == event => return v,
                Ok(Some(other)) => self.backlog.push(other),
                _ => panic!("no '{event}' event within {wait:?}; got {:?}", self.backlog),
            }
        }
    }

    /// Whether an `event` arrives within `within` (for asserting that one does not).
    pub async fn sees(&mut self, event: &str, within: Duration) -> bool {
        if self.backlog.iter().any(|(e, _)| e == event) {
            return true;
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some((e, v))) => {
                    let hit = e == event;
                    self.backlog.push((e, v));
                    if hit {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    }

    /// Joins and remembers the id; panics on an error ack.
    pub async fn join(&mut self, room: &str, name: &str) -> Value {
        self.join_with(json!({ "room": room, "name": name })).await
    }

    /// Joins with this `join` payload and remembers the id; panics on an error ack.
    pub async fn join_with(&mut self, payload: Value) -> Value {
        let ack = self.call("join", payload).await;
        assert!(ack.get("error").is_none(), "join refused: {ack}");
        self.id = ack["id"].as_str().expect("id").to_owned();
        ack
    }

    pub async fn disconnect(self) {
        self.sio.disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn call(sio: &Sio, event: &str, payload: Value) -> Value {
    sio.call(event, payload, WAIT)
        .await
        .unwrap_or_else(|e| panic!("'{event}': {e}"))
}

/// SFU signaling over Socket.IO, as the browser client does it.
struct SocketSignal(Sio);

impl Signal for SocketSignal {
    fn offer(&self, sdp: String) -> BoxFuture<Result<String, String>> {
        let sio = self.0.clone();
        Box::pin(async move {
            let ack = call(&sio, "sfu-offer", json!({ "sdp": sdp })).await;
            ack["sdp"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| ack.to_string())
        })
    }

    fn answer(&self, sdp: String) -> BoxFuture<Result<(), String>> {
        let sio = self.0.clone();
        Box::pin(async move {
            let ack = call(&sio, "sfu-answer", json!({ "sdp": sdp })).await;
            match ack.get("error") {
                None => Ok(()),
                Some(e) => Err(e.to_string()),
            }
        })
    }
}

/// A member of a call: a Socket.IO connection and a WebRTC peer whose SFU session is
/// negotiated over it.
pub struct Member {
    pub client: Client,
    pub peer: Peer,
    /// The peer the server's `sfu-offer`s go to after the next [`RESTARTED`] marker.
    next_offers: Arc<std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>>,
    /// The stream of the server's events, to put the marker in.
    raw: mpsc::UnboundedSender<(String, Value)>,
}

/// Marks, in the server's event stream, where a restarted session's events begin: an offer
/// for the old session that arrived before `sfu-restart`'s ack must not reach the new peer.
const RESTARTED: &str = "\0restarted";

impl Member {
    /// Closes the peer and asks for a new SFU session (`sfu-restart`), as the web client
    /// does after `sfu-failed`, then negotiates it with a new peer of index `index`.
    pub async fn restart(self, index: u8) -> Member {
        let Member {
            client,
            peer,
            next_offers,
            raw,
        } = self;
        peer.stop().await;
        assert_eq!(client.call("sfu-restart", json!({})).await, json!({}));
        let (tx, rx) = mpsc::unbounded_channel();
        *next_offers.lock().unwrap() = Some(tx);
        raw.send((RESTARTED.into(), Value::Null)).unwrap();
        let peer = sfu_peer(&client, rx, index);
        Member {
            client,
            peer,
            next_offers,
            raw,
        }
    }
}

/// A peer that negotiates `client`'s SFU session over its socket and answers `offers`.
fn sfu_peer(client: &Client, offers: mpsc::UnboundedReceiver<String>, index: u8) -> Peer {
    Peer::spawn(
        Arc::new(SocketSignal(client.sio.clone())),
        offers,
        &client.id,
        index,
        PeerOptions::default(),
    )
}

/// Connects, joins `room` and starts an SFU peer with index `index`.
pub async fn member(server: &Server, room: &str, name: &str, index: u8) -> Member {
    member_at(server.http_addr, room, name, index).await
}

/// Like [`member`], for a server at `addr` (one in another process, say).
pub async fn member_at(addr: std::net::SocketAddr, room: &str, name: &str, index: u8) -> Member {
    member_joining(addr, json!({ "room": room, "name": name }), index).await
}

/// Like [`member`], joining with this `join` payload (a token, say).
pub async fn member_joining(addr: std::net::SocketAddr, join: Value, index: u8) -> Member {
    let (mut offers_tx, offers_rx) = mpsc::unbounded_channel();
    let next_offers = Arc::new(std::sync::Mutex::new(None));
    let (tx, mut raw) = mpsc::unbounded_channel::<(String, Value)>();
    let (events_tx, events) = mpsc::unbounded_channel();
    // The SFU's offers go to the peer; everything is also kept for the test.
    let next = next_offers.clone();
    let raw_tx = tx.clone();
    tokio::spawn(async move {
        while let Some((name, v)) = raw.recv().await {
            if name == RESTARTED {
                if let Some(to) = next.lock().unwrap().take() {
                    offers_tx = to;
                }
                continue;
            }
            if name == "sfu-offer"
                && let Some(sdp) = v["sdp"].as_str()
            {
                let _ = offers_tx.send(sdp.to_owned());
            }
            let _ = events_tx.send((name, v));
        }
    });
    let sio = Sio::connect(addr, tx).await.expect("Socket.IO connects");
    let mut client = Client {
        sio: sio.clone(),
        events,
        backlog: Vec::new(),
        id: String::new(),
    };
    client.join_with(join).await;
    let peer = sfu_peer(&client, offers_rx, index);
    Member {
        client,
        peer,
        next_offers,
        raw: raw_tx,
    }
}

/// A plain HTTP/1.1 request over TCP: (status, body). Enough for the admin API's JSON.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("HTTP answer in time")
        .expect("read");
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "this helper reads only sized bodies"
    );
    (status, body.to_owned())
}

/// GETs JSON from the admin listener.
pub async fn admin_json(server: &Server, path: &str) -> Value {
    let addr = server.admin_addr.expect("an admin listener (no token set)");
    let (status, body) = http(addr, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Waits until `cond` holds, or panics naming `what` after 15 s.
pub async fn wait_until(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether every member's peer receives more than ten audio and video packets from every
/// other member's.
pub fn everyone_receives(members: &[&Member]) -> bool {
    let peers: Vec<&Peer> = members.iter().map(|m| &m.peer).collect();
    sfu::testkit::everyone_receives(&peers, 10)
}
