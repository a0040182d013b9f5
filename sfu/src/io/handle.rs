//! `SfuHandle`: the signaling layer's one API to the media plane, a pool of workers.
//!
//! Each worker is a thread with its own socket and its own `Sfu`. A room lives on one
//! worker (see [`crate::io::placement`]); the handle routes each command to the worker of
//! its room or participant, and merges the workers' reports.

use crate::core::IceCandidate;
use crate::core::error::SfuError;
use crate::core::ids::{IdSpace, ParticipantId, RoomId, SessionId};
use crate::core::report::{RoomStats, SfuStats, SfuSummary, WorkerStats};
use crate::core::{Event, JoinOptions, SfuConfig};
use crate::io::placement::Placement;
use crate::io::worker::{self, Command, OnFailure, Worker};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc as tmpsc, oneshot};
use tracing::warn;

/// How to start the media plane.
#[derive(Debug, Clone)]
pub struct SfuOptions {
    /// Where the first worker's media socket binds (`0.0.0.0:3478`, `127.0.0.1:0`…).
    /// Worker `i` binds the port plus `i` (each an ephemeral port when it is 0).
    pub bind: SocketAddr,
    /// The IP announced to clients, when it differs from the bound one (NAT, `0.0.0.0`).
    pub announce_ip: Option<IpAddr>,
    /// At most one keyframe request per track in this interval.
    pub keyframe_interval: Duration,
    /// Last-N: video from each room's N most recent speakers only (0: from everyone).
    pub last_n: usize,
    /// Media workers: threads, each with its own socket and its own rooms.
    pub workers: usize,
    /// Where the first worker listens for ICE over TCP (RFC 6544), when it is on. Worker `i`
    /// listens on the port plus `i`, as for UDP.
    pub ice_tcp: Option<SocketAddr>,
}

impl SfuOptions {
    /// Options for one worker with a socket at `bind`, announced as itself.
    pub fn new(bind: SocketAddr) -> SfuOptions {
        SfuOptions {
            bind,
            announce_ip: None,
            keyframe_interval: crate::core::keyframe::KeyframeRequester::DEFAULT_INTERVAL,
            last_n: 0,
            workers: 1,
            ice_tcp: None,
        }
    }
}

/// A cheap, cloneable handle to the media workers.
#[derive(Clone)]
pub struct SfuHandle {
    pool: Arc<Pool>,
}

struct Pool {
    workers: Vec<Worker>,
    placement: Arc<Mutex<Placement>>,
}

/// Locks the placement. Nothing panics while holding it (its methods are plain table
/// updates), so a poisoned lock still holds consistent tables: carry on with them.
fn lock(placement: &Mutex<Placement>) -> MutexGuard<'_, Placement> {
    placement.lock().unwrap_or_else(|e| e.into_inner())
}

impl SfuHandle {
    /// Binds the workers' media sockets and starts their threads. Events for signaling, from
    /// every worker, arrive on the returned receiver.
    pub fn start(
        opts: SfuOptions,
    ) -> std::io::Result<(SfuHandle, tmpsc::UnboundedReceiver<Event>)> {
        let n = opts.workers.max(1);
        let sockets = bind_all(opts.bind, n, std::net::UdpSocket::bind)?;
        let mut listeners = match opts.ice_tcp {
            Some(first) => bind_all(first, n, std::net::TcpListener::bind)?
                .into_iter()
                .map(Some)
                .collect(),
            None => Vec::new(),
        };
        listeners.resize_with(n, || None);
        let (events_tx, events_rx) = tmpsc::unbounded_channel();
        let placement = Arc::new(Mutex::new(Placement::new(n)));
        let epoch = (Instant::now(), SystemTime::now());
        let mut workers = Vec::with_capacity(n);
        for (index, (socket, tcp)) in sockets.into_iter().zip(listeners).enumerate() {
            let local_addr = socket.local_addr()?;
            let announce_ip =
                super::announced_ip(local_addr, opts.announce_ip, "the media socket")?;
            let mut config = SfuConfig::new(local_addr, epoch);
            config.announce_addr = SocketAddr::new(announce_ip, local_addr.port());
            if let Some(tcp) = &tcp {
                let bound = tcp.local_addr()?;
                let ip = super::announced_ip(bound, opts.announce_ip, "the ICE-TCP listener")?;
                config.tcp_addr = Some(SocketAddr::new(ip, bound.port()));
            }
            config.keyframe_interval = opts.keyframe_interval;
            config.last_n = opts.last_n;
            config.ids = IdSpace::of_worker(index, n);
            config.worker = index;
            let on_failure = failure_notice(placement.clone(), events_tx.clone());
            workers.push(worker::spawn(
                socket,
                tcp,
                config,
                events_tx.clone(),
                on_failure,
            )?);
        }
        let handle = SfuHandle {
            pool: Arc::new(Pool { workers, placement }),
        };
        Ok((handle, events_rx))
    }

    /// How many media workers there are.
    pub fn workers(&self) -> usize {
        self.pool.workers.len()
    }

    /// The address the first worker's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.pool.workers[0].local_addr
    }

    /// The address clients are told to send the first worker's media to.
    pub fn announce_addr(&self) -> SocketAddr {
        self.pool.workers[0].announce_addr
    }

    /// Every worker's announced media address, by worker index.
    pub fn announce_addrs(&self) -> Vec<SocketAddr> {
        self.pool.workers.iter().map(|w| w.announce_addr).collect()
    }

    /// Every worker's announced ICE-TCP address, by worker index; empty when ICE over TCP
    /// is off.
    pub fn ice_tcp_addrs(&self) -> Vec<SocketAddr> {
        self.pool
            .workers
            .iter()
            .filter_map(|w| w.tcp_addr)
            .collect()
    }

    /// The worker a room is placed on, while it has members.
    pub fn worker_of(&self, room: &RoomId) -> Option<usize> {
        lock(&self.pool.placement).room_worker(room)
    }

    fn participant_worker(&self, participant: &ParticipantId) -> Result<&Worker, SfuError> {
        let w = lock(&self.pool.placement)
            .worker_of(participant)
            .ok_or_else(|| SfuError::UnknownParticipant(participant.clone()))?;
        Ok(&self.pool.workers[w])
    }

    /// Creates the participant's session in `room`, on the room's worker (for a new room,
    /// the least loaded one).
    pub async fn join(
        &self,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<SessionId, SfuError> {
        self.join_with(room, participant, JoinOptions::default())
            .await
    }

    /// As `join`, for a participant that may do only what `options` allow.
    pub async fn join_with(
        &self,
        room: RoomId,
        participant: ParticipantId,
        options: JoinOptions,
    ) -> Result<SessionId, SfuError> {
        let (placed, generation) = {
            let mut placement = lock(&self.pool.placement);
            let loads: Vec<usize> = self
                .pool
                .workers
                .iter()
                .map(|w| w.shared.downtracks.load(Ordering::Relaxed))
                .collect();
            let placed = placement.handle_join(&room, &participant, &loads);
            let worker = &self.pool.workers[placed.worker];
            (placed, worker.shared.restarts.load(Ordering::Relaxed))
        };
        let p = participant.clone();
        let result = self.pool.workers[placed.worker]
            .call(|reply| Command::Join {
                room,
                participant: p,
                generation,
                options,
                reply,
            })
            .await;
        let mut placement = lock(&self.pool.placement);
        match &result {
            Ok(session) => placement.handle_session(&participant, *session),
            Err(_) if placed.new => {
                placement.handle_leave(&participant);
            }
            Err(_) => {}
        }
        result
    }

    /// Applies the participant's offer; returns the SFU's answer.
    pub async fn offer(&self, participant: ParticipantId, sdp: String) -> Result<String, SfuError> {
        self.participant_worker(&participant)?
            .call(|reply| Command::Offer {
                participant,
                sdp,
                reply,
            })
            .await
    }

    /// Applies the participant's answer to the SFU's offer.
    pub async fn answer(&self, participant: ParticipantId, sdp: String) -> Result<(), SfuError> {
        self.participant_worker(&participant)?
            .call(|reply| Command::Answer {
                participant,
                sdp,
                reply,
            })
            .await
    }

    /// Tells the SFU that the participant's answer to its offer was refused before it got
    /// here (`reason` says why): the SFU withdraws that offer and makes a fresh one.
    pub async fn answer_refused(
        &self,
        participant: ParticipantId,
        reason: String,
    ) -> Result<(), SfuError> {
        self.participant_worker(&participant)?
            .call(|reply| Command::AnswerRefused {
                participant,
                reason,
                reply,
            })
            .await
    }

    /// Adds a remote ICE candidate.
    pub async fn candidate(
        &self,
        participant: ParticipantId,
        candidate: IceCandidate,
    ) -> Result<(), SfuError> {
        self.participant_worker(&participant)?
            .call(|reply| Command::Candidate {
                participant,
                candidate,
                reply,
            })
            .await
    }

    /// Removes the participant and frees its state. Its room is forgotten with its last
    /// member, and placed anew when someone joins it again.
    pub async fn leave(&self, participant: ParticipantId) -> Result<(), SfuError> {
        let w = lock(&self.pool.placement)
            .handle_leave(&participant)
            .ok_or_else(|| SfuError::UnknownParticipant(participant.clone()))?;
        self.pool.workers[w]
            .call(|reply| Command::Leave { participant, reply })
            .await
    }

    /// Turns media forwarding in a room on or off (off while its members talk peer to peer).
    pub async fn set_forwarding(&self, room: RoomId, forwarding: bool) -> Result<(), SfuError> {
        let w = self
            .worker_of(&room)
            .ok_or_else(|| SfuError::UnknownRoom(room.clone()))?;
        self.pool.workers[w]
            .call(|reply| Command::SetForwarding {
                room,
                forwarding,
                reply,
            })
            .await
    }

    /// Queues a change of the room's forwarding without waiting for it. Commands to a
    /// worker run in the order they are queued, so a caller that queues while holding the
    /// lock its mode changes under gets the changes applied in the order they happened;
    /// awaiting each call could let a stale one overtake a newer one.
    pub fn queue_forwarding(&self, room: RoomId, forwarding: bool) -> Result<(), SfuError> {
        let w = self
            .worker_of(&room)
            .ok_or_else(|| SfuError::UnknownRoom(room.clone()))?;
        // Nobody waits for the reply: the worker's answer is dropped with it.
        let (reply, _) = oneshot::channel();
        self.pool.workers[w].send(Command::SetForwarding {
            room,
            forwarding,
            reply,
        })
    }

    /// How `subscriber` shows `publisher`'s video: whether on screen (hidden, none of it is
    /// sent), and the tile's size in device pixels (no larger layer is sent).
    pub async fn set_view(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        visible: bool,
        tile: (u16, u16),
    ) -> Result<(), SfuError> {
        self.participant_worker(&subscriber)?
            .call(|reply| Command::SetView {
                subscriber,
                publisher,
                visible,
                tile,
                reply,
            })
            .await
    }

    /// Whether `participant`'s video is a screen share, which comes first when subscribers'
    /// bandwidth is shared out.
    pub async fn set_screen_share(
        &self,
        participant: ParticipantId,
        on: bool,
    ) -> Result<(), SfuError> {
        self.participant_worker(&participant)?
            .call(|reply| Command::SetScreenShare {
                participant,
                on,
                reply,
            })
            .await
    }

    /// Every counter of every worker: the totals, each room, and a line per worker. A
    /// worker that cannot answer (it is starting afresh after a failure) shows as not alive.
    pub async fn stats(&self) -> Result<SfuStats, SfuError> {
        let (parts, silent) = self.gather(|reply| Command::Stats { reply }).await;
        let mut all = SfuStats::merge(parts);
        all.workers.extend(silent);
        all.workers.sort_by_key(|w| w.index);
        Ok(all)
    }

    /// The totals and the workers' lines, cheaper than [`SfuHandle::stats`] (no per-room
    /// reports).
    pub async fn summary(&self) -> Result<SfuSummary, SfuError> {
        let (parts, silent) = self.gather(|reply| Command::Summary { reply }).await;
        let mut all = SfuSummary::merge(parts);
        all.workers.extend(silent);
        all.workers.sort_by_key(|w| w.index);
        Ok(all)
    }

    /// Asks every worker at once, then collects the replies: those that answered, and the
    /// not-alive lines of those that did not.
    async fn gather<T>(
        &self,
        make: impl Fn(worker::Reply<T>) -> Command,
    ) -> (Vec<T>, Vec<WorkerStats>) {
        let replies: Vec<_> = self
            .pool
            .workers
            .iter()
            .map(|w| {
                let (reply, rx) = oneshot::channel();
                w.send(make(reply)).map(|()| rx)
            })
            .collect();
        let (mut parts, mut silent) = (Vec::with_capacity(replies.len()), Vec::new());
        for (w, rx) in self.pool.workers.iter().zip(replies) {
            let answer = match rx {
                Ok(rx) => rx.await.unwrap_or(Err(SfuError::WorkerGone)),
                Err(e) => Err(e),
            };
            match answer {
                Ok(part) => parts.push(part),
                Err(e) => {
                    warn!(worker = w.index, "no figures from media worker: {e}");
                    silent.push(w.silent_stats());
                }
            }
        }
        (parts, silent)
    }

    /// A snapshot of one room's counters, or `None` when the SFU has no such room.
    pub async fn room_stats(&self, room: RoomId) -> Result<Option<RoomStats>, SfuError> {
        let Some(w) = self.worker_of(&room) else {
            return Ok(None);
        };
        self.pool.workers[w]
            .call(|reply| Command::RoomStats { room, reply })
            .await
    }

    /// Stops every worker. Sessions are closed; later calls fail with `WorkerGone`.
    pub fn shutdown(&self) {
        for w in &self.pool.workers {
            let _ = w.send(Command::Shutdown);
        }
    }

    /// Makes worker `index` panic, as a bug would, to test what a failure does.
    #[cfg(feature = "testkit")]
    pub fn crash_worker(&self, index: usize) -> Result<(), SfuError> {
        self.pool
            .workers
            .get(index)
            .ok_or(SfuError::WorkerGone)?
            .send(Command::Crash)
    }
}

/// Binds `n` sockets: the port of `first` and the ones after it, or `n` ephemeral ports
/// when it is 0.
fn bind_all<S>(
    first: SocketAddr,
    n: usize,
    bind: impl Fn(SocketAddr) -> std::io::Result<S>,
) -> std::io::Result<Vec<S>> {
    (0..n)
        .map(|i| {
            let port = match first.port() {
                0 => 0,
                p => u16::try_from(p as usize + i).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("{n} media workers from port {p} run past port 65535"),
                    )
                })?,
            };
            let addr = SocketAddr::new(first.ip(), port);
            bind(addr).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("media worker {i} cannot bind {addr}: {e}"),
                )
            })
        })
        .collect()
}

/// What the pool does when a worker fails: forgets its rooms, and tells their members
/// (`TransportFailed`), so that they join again and land on a live worker.
fn failure_notice(
    placement: Arc<Mutex<Placement>>,
    events: tmpsc::UnboundedSender<Event>,
) -> OnFailure {
    Arc::new(move |worker| {
        let lost = lock(&placement).handle_failure(worker);
        warn!(
            worker,
            members = lost.len(),
            "media worker failed: its members are told to join again"
        );
        for (participant, session) in lost {
            // The receiver is gone only while the server shuts down.
            let _ = events.send(Event::TransportFailed {
                participant,
                session,
            });
        }
    })
}
