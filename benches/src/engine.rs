//! Many peers on one thread: a mio poll over their sockets, their timers and media
//! schedules, and a command channel for negotiation. A few such threads carry the whole load,
//! so the generator costs little next to the server it measures.

use crate::media::{Clock, Stamp};
use crate::peer::{LoadPeer, PeerCounters, PeerError, Role};
use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token, Waker};
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const WAKER: Token = Token(usize::MAX);

/// A request to an engine thread.
enum Cmd {
    AddRtc {
        role: Role,
        reply: oneshot::Sender<Result<(usize, String), PeerError>>,
    },
    AcceptOffer {
        role: Role,
        sdp: String,
        reply: oneshot::Sender<Result<(usize, String), PeerError>>,
    },
    AddPlain {
        role: Role,
        relay: SocketAddr,
        room: String,
        reply: oneshot::Sender<Result<usize, PeerError>>,
    },
    Answer {
        key: usize,
        sdp: String,
        reply: oneshot::Sender<Result<(), PeerError>>,
    },
    Offer {
        key: usize,
        sdp: String,
        reply: oneshot::Sender<Result<String, PeerError>>,
    },
    Snapshot {
        reset_latency: bool,
        reply: oneshot::Sender<Snapshot>,
    },
    Remove {
        key: usize,
        polite: bool,
    },
    Stop,
}

/// Every peer's counters and the latency histogram, at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Each peer: what it does, whether it is connected, its counters.
    pub peers: Vec<(Role, bool, PeerCounters)>,
    /// One-way latency of received media since the last reset, microseconds.
    pub latency: Histogram<u64>,
}

/// A running engine thread.
pub struct Engine {
    tx: mpsc::Sender<Cmd>,
    waker: Arc<Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The engine thread stopped (it only does when told, or on a poll failure).
#[derive(Debug, thiserror::Error)]
#[error("the engine thread is gone")]
pub struct EngineGone;

impl From<EngineGone> for PeerError {
    fn from(_: EngineGone) -> PeerError {
        PeerError::EngineGone
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits; the bounds are valid constants.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Engine {
    /// Starts an engine thread sharing `clock` with the others.
    pub fn start(clock: Clock, name: &str) -> std::io::Result<Engine> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(poll, rx, clock))?;
        Ok(Engine {
            tx,
            waker,
            thread: Some(thread),
        })
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, EngineGone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| EngineGone)?;
        self.waker.wake().map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }

    /// A command a peer answers: its refusal and a gone engine are one error.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, PeerError>>) -> Cmd,
    ) -> Result<T, PeerError> {
        self.call(make).await?
    }

    /// Adds a WebRTC peer; returns its key and its offer.
    pub async fn add_rtc(&self, role: Role) -> Result<(usize, String), PeerError> {
        self.ask(|reply| Cmd::AddRtc { role, reply }).await
    }

    /// Adds a WebRTC peer that answers the server's offer (a Janus subscriber); returns its
    /// key and its answer.
    pub async fn accept_offer(
        &self,
        role: Role,
        sdp: String,
    ) -> Result<(usize, String), PeerError> {
        self.ask(|reply| Cmd::AcceptOffer { role, sdp, reply })
            .await
    }

    /// Adds a relay-baseline peer.
    pub async fn add_plain(
        &self,
        role: Role,
        relay: SocketAddr,
        room: String,
    ) -> Result<usize, PeerError> {
        self.ask(|reply| Cmd::AddPlain {
            role,
            relay,
            room,
            reply,
        })
        .await
    }

    /// Applies the SFU's answer to a peer's offer.
    pub async fn answer(&self, key: usize, sdp: String) -> Result<(), PeerError> {
        self.ask(|reply| Cmd::Answer { key, sdp, reply }).await
    }

    /// Has a peer answer an offer from the SFU.
    pub async fn offer(&self, key: usize, sdp: String) -> Result<String, PeerError> {
        self.ask(|reply| Cmd::Offer { key, sdp, reply }).await
    }

    /// Removes a peer: `polite` closes its connection (a DTLS close), otherwise it just
    /// stops, as a killed browser does. Nothing waits for it: a gone engine has no peers.
    pub fn remove(&self, key: usize, polite: bool) {
        if self.tx.send(Cmd::Remove { key, polite }).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Every peer's counters; `reset_latency` starts a new latency window.
    pub async fn snapshot(&self, reset_latency: bool) -> Result<Snapshot, EngineGone> {
        self.call(|reply| Cmd::Snapshot {
            reset_latency,
            reply,
        })
        .await
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Stop);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    poll: Poll,
    /// Peers by key; a removed peer leaves an empty slot, so that keys stay valid.
    peers: Vec<Option<LoadPeer>>,
    clock: Clock,
    latency: Histogram<u64>,
    scratch: Vec<u8>,
    /// The earliest instant any peer needs attention, from the last scan.
    next_due: Instant,
}

fn run(poll: Poll, rx: mpsc::Receiver<Cmd>, clock: Clock) {
    let mut st = State {
        poll,
        peers: Vec::new(),
        clock,
        latency: new_histogram(),
        scratch: Vec::with_capacity(1500),
        next_due: Instant::now(),
    };
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= st.next_due {
            scan(&mut st, now);
        }
        let timeout = st.next_due.saturating_duration_since(Instant::now());
        if st.poll.poll(&mut events, Some(timeout)).is_err() {
            return;
        }
        for ev in events.iter() {
            if ev.token() == WAKER {
                while let Ok(cmd) = rx.try_recv() {
                    if !command(&mut st, cmd) {
                        for p in st.peers.iter_mut().flatten() {
                            p.close();
                        }
                        return;
                    }
                }
                continue;
            }
            let State {
                peers,
                clock,
                latency,
                next_due,
                ..
            } = &mut st;
            let Some(Some(peer)) = peers.get_mut(ev.token().0) else {
                continue;
            };
            let mut record = |stamp: Stamp, at: Instant| {
                let _ = latency.record(clock.us(at).saturating_sub(stamp.sent_us).max(1));
            };
            let _ = peer.on_readable(&mut buf, &mut record);
            if let Some(w) = peer.next_wakeup() {
                *next_due = (*next_due).min(w);
            }
        }
    }
}

/// Runs every peer's due timers and media, and finds the next instant anything is due.
fn scan(st: &mut State, now: Instant) {
    let mut next = now + Duration::from_millis(50);
    for p in st.peers.iter_mut().flatten() {
        p.on_timer(now);
        p.send_due_media(now, &st.clock, &mut st.scratch);
        if let Some(w) = p.next_wakeup() {
            next = next.min(w);
        }
    }
    st.next_due = next.max(now + Duration::from_micros(200));
}

/// Handles one command; false means stop.
fn command(st: &mut State, cmd: Cmd) -> bool {
    let now = Instant::now();
    match cmd {
        Cmd::AddRtc { role, reply } => {
            let r = LoadPeer::rtc(role, now).and_then(|(p, sdp)| Ok((add(st, p)?, sdp)));
            let _ = reply.send(r);
        }
        Cmd::AcceptOffer { role, sdp, reply } => {
            let r = LoadPeer::rtc_answering(role, sdp, now)
                .and_then(|(p, answer)| Ok((add(st, p)?, answer)));
            let _ = reply.send(r);
        }
        Cmd::AddPlain {
            role,
            relay,
            room,
            reply,
        } => {
            let r = LoadPeer::plain(role, relay, &room, now).and_then(|p| add(st, p));
            let _ = reply.send(r);
        }
        Cmd::Answer { key, sdp, reply } => {
            let r = match st.peers.get_mut(key).and_then(Option::as_mut) {
                Some(p) => p.apply_answer(sdp, now),
                None => Err(PeerError::NotRtc),
            };
            let _ = reply.send(r);
        }
        Cmd::Offer { key, sdp, reply } => {
            let r = match st.peers.get_mut(key).and_then(Option::as_mut) {
                Some(p) => p.answer_offer(sdp, now),
                None => Err(PeerError::NotRtc),
            };
            let _ = reply.send(r);
        }
        Cmd::Snapshot {
            reset_latency,
            reply,
        } => {
            let latency = if reset_latency {
                std::mem::replace(&mut st.latency, new_histogram())
            } else {
                st.latency.clone()
            };
            let peers = st
                .peers
                .iter()
                .flatten()
                .map(|p| (p.role, p.connected, p.counters))
                .collect();
            let _ = reply.send(Snapshot { peers, latency });
            // A reading changes no peer: nothing new is due.
            return true;
        }
        Cmd::Remove { key, polite } => {
            if let Some(mut p) = st.peers.get_mut(key).and_then(Option::take) {
                if polite {
                    p.close();
                }
                let _ = st.poll.registry().deregister(&mut p.socket);
            }
        }
        Cmd::Stop => return false,
    }
    // Whatever changed needs a look at once.
    st.next_due = now;
    true
}

fn add(st: &mut State, mut p: LoadPeer) -> Result<usize, PeerError> {
    let key = st.peers.len();
    st.poll
        .registry()
        .register(&mut p.socket, Token(key), Interest::READABLE)?;
    st.peers.push(Some(p));
    Ok(key)
}
