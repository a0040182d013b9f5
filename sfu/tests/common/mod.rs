//! The SFU alone, with test peers that negotiate with it directly through `SfuHandle`.

#![allow(dead_code)]

pub mod proxy;
pub mod shaper;

pub use sfu::testkit::*;

use sfu::core::Event;
use sfu::testkit::BoxFuture;
use sfu::{ParticipantId, RoomId, SfuHandle, SfuOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Signaling straight into the SFU's handle.
struct Direct {
    sfu: SfuHandle,
    id: ParticipantId,
}

impl Signal for Direct {
    fn offer(&self, sdp: String) -> BoxFuture<Result<String, String>> {
        let (sfu, id) = (self.sfu.clone(), self.id.clone());
        Box::pin(async move { sfu.offer(id, sdp).await.map_err(|e| e.to_string()) })
    }

    fn answer(&self, sdp: String) -> BoxFuture<Result<(), String>> {
        let (sfu, id) = (self.sfu.clone(), self.id.clone());
        Box::pin(async move { sfu.answer(id, sdp).await.map_err(|e| e.to_string()) })
    }
}

/// The SFU and the router that hands its offers to the right peer.
pub struct Harness {
    pub sfu: SfuHandle,
    routes: Arc<Mutex<HashMap<ParticipantId, mpsc::UnboundedSender<String>>>>,
    pub events: Arc<Mutex<Vec<Event>>>,
    /// The session id each join returned, in order.
    pub sessions: Mutex<Vec<sfu::SessionId>>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(SfuOptions::new("127.0.0.1:0".parse().unwrap())).await
    }

    /// A harness whose SFU starts with `opts`.
    pub async fn start_with(opts: SfuOptions) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let (sfu, mut rx) = SfuHandle::start(opts).expect("start sfu");
        let routes: Arc<Mutex<HashMap<ParticipantId, mpsc::UnboundedSender<String>>>> =
            Arc::default();
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let (r, ev) = (routes.clone(), events.clone());
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if let Event::Offer {
                    participant, sdp, ..
                } = &e
                    && let Some(tx) = r.lock().unwrap().get(participant)
                {
                    let _ = tx.send(sdp.clone());
                }
                ev.lock().unwrap().push(e);
            }
        });
        Harness {
            sfu,
            routes,
            events,
            sessions: Mutex::default(),
        }
    }

    /// Joins a peer to `room` and starts its media loop.
    pub async fn peer(&self, room: &str, id: &str, index: u8, opts: PeerOptions) -> Peer {
        let pid = ParticipantId::from(id);
        let (offers_tx, offers_rx) = mpsc::unbounded_channel();
        self.routes.lock().unwrap().insert(pid.clone(), offers_tx);
        let session = self
            .sfu
            .join(RoomId::from(room), pid.clone())
            .await
            .expect("join");
        self.sessions.lock().unwrap().push(session);
        let signal = Arc::new(Direct {
            sfu: self.sfu.clone(),
            id: pid,
        });
        Peer::spawn(signal, offers_rx, id, index, opts)
    }

    /// Starts a call of `names` in `room` (indices 1, 2, …) and waits until everyone
    /// receives everyone.
    pub async fn call(&self, room: &str, names: &[&str]) -> Vec<Peer> {
        let mut peers = Vec::new();
        for (i, name) in names.iter().enumerate() {
            peers.push(
                self.peer(room, name, i as u8 + 1, PeerOptions::default())
                    .await,
            );
        }
        self.wait_all_receiving(&peers.iter().collect::<Vec<_>>(), Duration::from_secs(15))
            .await;
        peers
    }

    /// Waits until every peer receives audio and video from every other peer.
    pub async fn wait_all_receiving(&self, peers: &[&Peer], timeout: Duration) {
        let summary = || {
            peers
                .iter()
                .map(|p| {
                    let st = p.stats();
                    let got: Vec<_> = st.received.iter().map(|(k, v)| (k, v.len())).collect();
                    format!(
                        "{}: sent {:?} plis {} offers {} got {:?} rtcp {:?}",
                        p.id, st.sent, st.plis, st.offers, got, st.rtcp
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.wait_for_or(
            "every peer to receive every other's audio and video",
            timeout,
            || sfu::testkit::everyone_receives(peers, 5),
            summary,
        )
        .await;
    }

    /// Waits until `cond` holds, or panics with `what` after `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
        self.wait_for_or(what, timeout, cond, String::new).await
    }

    /// Like `wait_for`, with `detail()` in the panic message.
    pub async fn wait_for_or(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut() -> bool,
        detail: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            if Instant::now() > deadline {
                let stats = self
                    .sfu
                    .stats()
                    .await
                    .map(|s| format!("{s:#?}"))
                    .unwrap_or_default();
                panic!("timed out waiting for {what}\n{}\nSFU: {stats}", detail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
