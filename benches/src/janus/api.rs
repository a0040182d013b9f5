//! Janus's session API, as much of it as a VideoRoom load needs: one session, its plugin
//! handles, requests, and the session's long-poll event stream, dispatched to whoever waits
//! for an event.
//!
//! One session carries every handle of a run. A browser would open a session each, but
//! Janus's HTTP transport serves each long poll on a connection (and thread) of its own, and
//! hundreds of idle polls would be load a real deployment spreads over many servers.

use super::http::{Endpoint, JanusError, check, exchange};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// What an event waiter waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wait {
    /// The asynchronous answer to the request sent with this transaction.
    Transaction(String),
    /// The handle's PeerConnection is up (`webrtcup`).
    WebrtcUp,
}

/// Someone waiting for an event of `handle`.
struct Entry {
    handle: u64,
    wait: Wait,
    tx: oneshot::Sender<Value>,
}

/// What the session's tasks and handles share.
struct Inner {
    /// Janus's API.
    ep: Endpoint,
    /// The session id.
    id: u64,
    /// For unique transaction ids.
    next_transaction: AtomicU64,
    /// Who waits for which event.
    waiters: Mutex<Vec<Entry>>,
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

    /// POSTs `msg` to `path` (the session's or a handle's) and fails on Janus's or the
    /// plugin's error; `what` names the request in errors.
    async fn post(&self, path: &str, what: &str, msg: &Value) -> Result<Value, JanusError> {
        check(what, exchange(&self.ep, "POST", path, Some(msg)).await?)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        // A waiter list is only pushed to and drained; a panic elsewhere cannot leave it
        // half-changed, so a poisoned lock is still usable.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands one event to its waiter, if anyone waits for it. A hangup or detach fails every
    /// waiter of that handle at once, rather than at its timeout.
    fn dispatch(&self, event: Value) {
        let handle = event["sender"].as_u64().unwrap_or_default();
        let wait = match (event["janus"].as_str(), event["transaction"].as_str()) {
            (Some("webrtcup"), _) => Wait::WebrtcUp,
            (Some("event"), Some(t)) => Wait::Transaction(t.to_owned()),
            (Some("hangup" | "detached"), _) => {
                tracing::warn!(handle, "Janus hung up: {}", event["reason"]);
                self.lock().retain(|e| e.handle != handle);
                return;
            }
            (kind, _) => {
                tracing::debug!(?kind, "Janus event nobody waits for");
                return;
            }
        };
        let mut waiters = self.lock();
        let found = waiters
            .iter()
            .position(|e| e.wait == wait && (wait != Wait::WebrtcUp || e.handle == handle));
        if let Some(i) = found {
            let _ = waiters.swap_remove(i).tx.send(event);
        }
    }
}

/// A registered wait; forgotten when dropped, so a failed request leaves nothing behind.
struct Waiter {
    inner: Arc<Inner>,
    handle: u64,
    wait: Wait,
    rx: oneshot::Receiver<Value>,
}

impl Waiter {
    fn new(inner: &Arc<Inner>, handle: u64, wait: Wait) -> Waiter {
        let (tx, rx) = oneshot::channel();
        inner.lock().push(Entry {
            handle,
            wait: wait.clone(),
            tx,
        });
        Waiter {
            inner: inner.clone(),
            handle,
            wait,
            rx,
        }
    }

    /// The event, within 15 s; `what` names it in errors.
    async fn event(mut self, what: String) -> Result<Value, JanusError> {
        match tokio::time::timeout(Duration::from_secs(15), &mut self.rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(JanusError::Closed(what)),
            Err(_) => Err(JanusError::Timeout(what)),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let (handle, wait) = (self.handle, &self.wait);
        self.inner
            .lock()
            .retain(|e| !(e.handle == handle && e.wait == *wait));
    }
}

/// A Janus session with its event poll and keepalives. [`Session::destroy`] ends it; a
/// dropped session stops polling and is left to Janus's session timeout.
pub struct Session {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Session {
    /// Creates a session and starts polling its events.
    pub async fn create(ep: &Endpoint) -> Result<Session, JanusError> {
        let body = json!({"janus": "create", "transaction": "create"});
        let v = check("create", exchange(ep, "POST", &ep.path, Some(&body)).await?)?;
        let id = id_of("create", &v)?;
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
        let v = self.inner.post(&self.inner.path(), "attach", &body).await?;
        let id = id_of("attach", &v)?;
        Ok(Handle {
            inner: self.inner.clone(),
            id,
        })
    }

    /// Ends the session, and with it every handle and feed it holds.
    pub async fn destroy(self) -> Result<(), JanusError> {
        let body = json!({"janus": "destroy", "transaction": self.inner.transaction()});
        self.inner
            .post(&self.inner.path(), "destroy", &body)
            .await
            .map(drop)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The `data.id` of a `create` or `attach` answer.
fn id_of(what: &str, v: &Value) -> Result<u64, JanusError> {
    v["data"]["id"]
        .as_u64()
        .ok_or_else(|| JanusError::Malformed {
            what: what.to_owned(),
            detail: format!("no id in {v}"),
        })
}

/// Long-polls the session's events and dispatches them until the session is gone.
async fn poll_events(inner: Arc<Inner>) {
    let path = format!("{}?maxev=20", inner.path());
    let mut failures = 0u32;
    loop {
        match exchange(&inner.ep, "GET", &path, None).await {
            Ok(Value::Array(events)) => events.into_iter().for_each(|e| inner.dispatch(e)),
            Ok(v) if v["janus"] == "error" => {
                tracing::warn!("Janus session {} ended: {v}", inner.id);
                break;
            }
            Ok(v) => inner.dispatch(v),
            Err(e) => {
                failures += 1;
                if failures.is_multiple_of(5) {
                    tracing::warn!("Janus event poll failed {failures} times: {e}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        failures = 0;
    }
    // Nobody will answer the waiters now.
    inner.lock().clear();
}

/// Keeps the session alive (Janus drops it after 60 s of silence by default).
async fn keepalive(inner: Arc<Inner>) {
    loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let body = json!({"janus": "keepalive", "transaction": inner.transaction()});
        if let Err(e) = inner.post(&inner.path(), "keepalive", &body).await {
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
        let v = self.inner.post(&self.path(), &what, &msg).await?;
        Ok(v["plugindata"]["data"].clone())
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
        let answer = Waiter::new(&self.inner, self.id, Wait::Transaction(transaction));
        self.inner.post(&self.path(), &what, &msg).await?;
        check(&what, answer.event(format!("an answer to {what}")).await?)
    }

    /// Tells Janus that all our candidates are in the SDP already.
    pub async fn candidates_done(&self) -> Result<(), JanusError> {
        let msg = json!({
            "janus": "trickle",
            "transaction": self.inner.transaction(),
            "candidate": {"completed": true},
        });
        self.inner
            .post(&self.path(), "trickle", &msg)
            .await
            .map(drop)
    }

    /// Resolves when Janus reports this handle's PeerConnection up. It listens from the
    /// call on, so call it before the PeerConnection can come up.
    pub fn webrtc_up(&self) -> impl Future<Output = Result<(), JanusError>> + use<> {
        let up = Waiter::new(&self.inner, self.id, Wait::WebrtcUp);
        async move { up.event("webrtcup".into()).await.map(drop) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Arc<Inner> {
        Arc::new(Inner {
            ep: "http://127.0.0.1:1".parse().unwrap(),
            id: 1,
            next_transaction: AtomicU64::new(1),
            waiters: Mutex::new(Vec::new()),
        })
    }

    #[test]
    fn events_reach_their_waiter_only() {
        let inner = inner();
        let mut a = Waiter::new(&inner, 3, Wait::Transaction("a".into()));
        let mut up = Waiter::new(&inner, 7, Wait::WebrtcUp);
        inner.dispatch(json!({"janus": "event", "transaction": "b"}));
        inner.dispatch(json!({"janus": "webrtcup", "sender": 8}));
        assert!(a.rx.try_recv().is_err() && up.rx.try_recv().is_err());
        inner.dispatch(json!({"janus": "event", "transaction": "a", "x": 1}));
        inner.dispatch(json!({"janus": "webrtcup", "sender": 7}));
        assert_eq!(a.rx.try_recv().unwrap()["x"], 1);
        assert!(up.rx.try_recv().is_ok());
        assert!(inner.lock().is_empty());
    }

    #[test]
    fn a_dropped_waiter_is_forgotten() {
        let inner = inner();
        let w = Waiter::new(&inner, 3, Wait::Transaction("a".into()));
        let _other = Waiter::new(&inner, 4, Wait::WebrtcUp);
        drop(w);
        assert_eq!(inner.lock().len(), 1);
    }

    #[test]
    fn a_hangup_fails_its_handles_waiters_at_once() {
        let inner = inner();
        let mut mine = Waiter::new(&inner, 3, Wait::WebrtcUp);
        let mut other = Waiter::new(&inner, 4, Wait::WebrtcUp);
        inner.dispatch(json!({"janus": "hangup", "sender": 3, "reason": "ICE failed"}));
        assert!(matches!(
            mine.rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(matches!(
            other.rx.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
    }
}
