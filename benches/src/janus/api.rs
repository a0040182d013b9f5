//! Janus's HTTP API, as much of it as a VideoRoom load needs: one session, its plugin
//! handles, requests, and the session's long-poll event stream, dispatched to whoever waits
//! for an event.
//!
//! One session carries every handle of a run. A browser would open a session each, but
//! Janus's HTTP transport serves each long poll on a connection (and thread) of its own, and
//! hundreds of idle polls would be load a real deployment spreads over many servers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Why a Janus request failed.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    /// No HTTP answer.
    #[error("Janus HTTP: {0}")]
    Http(String),
    /// Janus, or its VideoRoom plugin, refused the request.
    #[error("Janus refused {what}: {message}")]
    Refused {
        /// The request.
        what: String,
        /// Janus's reason, with its error code.
        message: String,
    },
    /// The awaited event did not come.
    #[error("Janus did not send {0} within 15 s")]
    Timeout(String),
}

/// Where Janus's API is: `http://HOST:PORT/PATH`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The HTTP server.
    pub addr: SocketAddr,
    /// The API's base path, `/janus` by default.
    pub path: String,
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, "janus"));
        let addr = host.parse().map_err(|e| format!("{url}: {e}"))?;
        let path = format!("/{}", path.trim_end_matches('/'));
        Ok(Endpoint {
            addr,
            path: if path == "/" { "/janus".into() } else { path },
        })
    }
}

/// One HTTP/1.1 exchange on a connection of its own; the body is JSON both ways.
async fn exchange(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, JanusError> {
    let http = |e: &dyn std::fmt::Display| JanusError::Http(format!("{method} {path}: {e}"));
    let stream = tokio::net::TcpStream::connect(ep.addr)
        .await
        .map_err(|e| http(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    let conn = tokio::spawn(conn);
    let payload = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", ep.addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(payload))
        .map_err(|e| http(&e))?;
    let res = sender.send_request(req).await.map_err(|e| http(&e))?;
    let status = res.status();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    conn.abort();
    if !status.is_success() {
        return Err(http(&format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| http(&e))
}

/// Fails on a Janus-level error (`"janus": "error"`) or a plugin-level one (`error_code`).
fn check(what: &str, v: Value) -> Result<Value, JanusError> {
    let refused = |message: String| JanusError::Refused {
        what: what.to_owned(),
        message,
    };
    if v["janus"] == "error" {
        return Err(refused(format!(
            "{} ({})",
            v["error"]["reason"], v["error"]["code"]
        )));
    }
    let data = &v["plugindata"]["data"];
    if let Some(code) = data.get("error_code") {
        return Err(refused(format!("{} ({code})", data["error"])));
    }
    Ok(v)
}

/// What an event waiter waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wait {
    /// The asynchronous answer to the request sent with this transaction.
    Transaction(String),
    /// The handle's PeerConnection is up (`webrtcup`).
    WebrtcUp(u64),
}

struct Inner {
    ep: Endpoint,
    id: u64,
    next_transaction: AtomicU64,
    waiters: Mutex<Vec<(Wait, oneshot::Sender<Value>)>>,
}

impl Inner {
    fn path(&self) -> String {
        format!("{}/{}", self.ep.path, self.id)
    }

    fn transaction(&self) -> String {
        format!(
            "lg{}",
            self.next_transaction.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn expect(&self, wait: Wait) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        self.lock().push((wait, tx));
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Wait, oneshot::Sender<Value>)>> {
        // A waiter list is only pushed to and drained; a panic elsewhere cannot leave it
        // half-changed, so a poisoned lock is still usable.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands one event to its waiter, if anyone waits for it.
    fn dispatch(&self, event: Value) {
        let wait = match (event["janus"].as_str(), event["transaction"].as_str()) {
            (Some("webrtcup"), _) => match event["sender"].as_u64() {
                Some(h) => Wait::WebrtcUp(h),
                None => return,
            },
            (Some("event"), Some(t)) => Wait::Transaction(t.to_owned()),
            (kind, _) => {
                tracing::debug!(?kind, "Janus event nobody waits for");
                return;
            }
        };
        let mut waiters = self.lock();
        if let Some(i) = waiters.iter().position(|(w, _)| *w == wait) {
            let (_, tx) = waiters.swap_remove(i);
            let _ = tx.send(event);
        }
    }
}

/// A Janus session with its event poll and keepalives; destroyed when dropped.
pub struct Session {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Session {
    /// Creates a session and starts polling its events.
    pub async fn create(ep: &Endpoint) -> Result<Session, JanusError> {
        let v = exchange(
            ep,
            "POST",
            &ep.path,
            Some(&json!({"janus": "create", "transaction": "create"})),
        )
        .await?;
        let v = check("create", v)?;
        let id = v["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Http(format!("create: no session id in {v}")))?;
        let inner = Arc::new(Inner {
            ep: ep.clone(),
            id,
            next_transaction: AtomicU64::new(1),
            waiters: Mutex::new(Vec::new()),
        });
        let tasks = vec![
            tokio::spawn(poll_events(inner.clone())),
            tokio::spawn(keepalive(inner.clone())),
        ];
        Ok(Session { inner, tasks })
    }

    /// Attaches a VideoRoom plugin handle.
    pub async fn attach(&self) -> Result<Handle, JanusError> {
        let body = json!({
            "janus": "attach",
            "plugin": "janus.plugin.videoroom",
            "transaction": self.inner.transaction(),
        });
        let v = check(
            "attach",
            exchange(&self.inner.ep, "POST", &self.inner.path(), Some(&body)).await?,
        )?;
        let id = v["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Http(format!("attach: no handle id in {v}")))?;
        Ok(Handle {
            inner: self.inner.clone(),
            id,
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Best effort: a Janus that outlives the run frees the session now, not at timeout.
        let inner = self.inner.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let body = json!({"janus": "destroy", "transaction": inner.transaction()});
                let _ = exchange(&inner.ep, "POST", &inner.path(), Some(&body)).await;
            });
        }
    }
}

/// Long-polls the session's events and dispatches them until the session is gone.
async fn poll_events(inner: Arc<Inner>) {
    let path = format!("{}?maxev=20", inner.path());
    loop {
        match exchange(&inner.ep, "GET", &path, None).await {
            Ok(Value::Array(events)) => events.into_iter().for_each(|e| inner.dispatch(e)),
            Ok(v) if v["janus"] == "error" => {
                tracing::warn!("Janus session {} ended: {v}", inner.id);
                return;
            }
            Ok(v) => inner.dispatch(v),
            Err(e) => {
                tracing::debug!("Janus event poll: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Keeps the session alive (Janus drops it after 60 s of silence by default).
async fn keepalive(inner: Arc<Inner>) {
    loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let body = json!({"janus": "keepalive", "transaction": inner.transaction()});
        if let Err(e) = exchange(&inner.ep, "POST", &inner.path(), Some(&body)).await {
            tracing::warn!("Janus keepalive: {e}");
        }
    }
}

/// A VideoRoom plugin handle: one PeerConnection's worth of signaling.
pub struct Handle {
    inner: Arc<Inner>,
    /// Janus's id for it.
    pub id: u64,
}

impl Handle {
    fn path(&self) -> String {
        format!("{}/{}", self.inner.path(), self.id)
    }

    /// A request the plugin answers at once (such as `create`); returns the plugin's data.
    pub async fn request(&self, body: Value) -> Result<Value, JanusError> {
        let what = body["request"].as_str().unwrap_or("message").to_owned();
        let msg = json!({
            "janus": "message",
            "transaction": self.inner.transaction(),
            "body": body,
        });
        let v = exchange(&self.inner.ep, "POST", &self.path(), Some(&msg)).await?;
        Ok(check(&what, v)?["plugindata"]["data"].clone())
    }

    /// A request the plugin answers with an event (join, publish, start); returns the whole
    /// event, with its `jsep` if any.
    pub async fn send(&self, body: Value, jsep: Option<Value>) -> Result<Value, JanusError> {
        let what = body["request"].as_str().unwrap_or("message").to_owned();
        let transaction = self.inner.transaction();
        let mut msg = json!({
            "janus": "message",
            "transaction": transaction,
            "body": body,
        });
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        let answer = self.inner.expect(Wait::Transaction(transaction));
        check(
            &what,
            exchange(&self.inner.ep, "POST", &self.path(), Some(&msg)).await?,
        )?;
        let event = tokio::time::timeout(Duration::from_secs(15), answer)
            .await
            .map_err(|_| JanusError::Timeout(format!("an answer to {what}")))?
            .map_err(|_| JanusError::Timeout(format!("an answer to {what}")))?;
        check(&what, event)
    }

    /// Tells Janus that all our candidates are in the SDP already.
    pub async fn candidates_done(&self) -> Result<(), JanusError> {
        let msg = json!({
            "janus": "trickle",
            "transaction": self.inner.transaction(),
            "candidate": {"completed": true},
        });
        check(
            "trickle",
            exchange(&self.inner.ep, "POST", &self.path(), Some(&msg)).await?,
        )
        .map(drop)
    }

    /// Resolves when Janus reports this handle's PeerConnection up; ask before it can be.
    pub fn webrtc_up(&self) -> impl Future<Output = Result<(), JanusError>> + use<> {
        let up = self.inner.expect(Wait::WebrtcUp(self.id));
        async move {
            tokio::time::timeout(Duration::from_secs(15), up)
                .await
                .map_err(|_| JanusError::Timeout("webrtcup".into()))?
                .map_err(|_| JanusError::Timeout("webrtcup".into()))
                .map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_defaults_to_the_janus_path() {
        let ep: Endpoint = "http://127.0.0.1:8088".parse().unwrap();
        assert_eq!(ep.path, "/janus");
        let ep: Endpoint = "http://127.0.0.1:8088/api/".parse().unwrap();
        assert_eq!((ep.addr.port(), ep.path.as_str()), (8088, "/api"));
        assert!("https://x:1/janus".parse::<Endpoint>().is_err());
    }

    #[test]
    fn plugin_errors_are_refusals() {
        let v = json!({"janus": "success", "plugindata": {"data": {
            "videoroom": "event", "error_code": 428, "error": "No such feed"}}});
        let e = check("join", v).unwrap_err().to_string();
        assert!(e.contains("No such feed") && e.contains("428"), "{e}");
        assert!(check("x", json!({"janus": "error", "error": {"code": 458}})).is_err());
        assert!(check("x", json!({"janus": "ack"})).is_ok());
    }

    #[test]
    fn events_reach_their_waiter_only() {
        let inner = Inner {
            ep: "http://127.0.0.1:1".parse().unwrap(),
            id: 1,
            next_transaction: AtomicU64::new(1),
            waiters: Mutex::new(Vec::new()),
        };
        let mut a = inner.expect(Wait::Transaction("a".into()));
        let mut up = inner.expect(Wait::WebrtcUp(7));
        inner.dispatch(json!({"janus": "event", "transaction": "b"}));
        inner.dispatch(json!({"janus": "webrtcup", "sender": 8}));
        assert!(a.try_recv().is_err() && up.try_recv().is_err());
        inner.dispatch(json!({"janus": "event", "transaction": "a", "x": 1}));
        inner.dispatch(json!({"janus": "webrtcup", "sender": 7}));
        assert_eq!(a.try_recv().unwrap()["x"], 1);
        assert!(up.try_recv().is_ok());
        assert!(inner.lock().is_empty());
    }
}
