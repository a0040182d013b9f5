//! A media worker: a thread that owns one UDP socket and one `Sfu`, and does nothing but IO.
//!
//! A panic inside the worker's `Sfu` is caught on the thread: the worker's rooms are lost
//! (the pool tells their members, who join again), and the worker starts afresh on the same
//! socket with a new `Sfu`, so that one bad room never takes the server's other rooms, nor a
//! core, with it.

use crate::core::IceCandidate;
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, RoomId, SessionId};
use crate::core::report::{RoomStats, SfuStats, SfuSummary, WorkerStats};
use crate::core::{Event, Output, Sfu, SfuConfig};
use crate::core::{JoinOptions, Protocol, Remote, Transmit};
use crate::io::batch::SendBatch;
use crate::io::load::{LoadMeter, Sample, thread_cpu};
use crate::io::recv::{Read, RecvBatch};
use crate::io::tcp::TcpPort;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;
use tokio::sync::{mpsc as tmpsc, oneshot};
use tracing::{debug, error, info, warn};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

/// A request from the signaling layer.
pub(crate) enum Command {
    Join {
        room: RoomId,
        participant: ParticipantId,
        /// The worker's restart count when the pool placed the participant: a join placed
        /// before a failure is refused, since the pool forgot it with the failed state.
        generation: u64,
        options: JoinOptions,
        reply: Reply<SessionId>,
    },
    Offer {
        participant: ParticipantId,
        sdp: String,
        reply: Reply<String>,
    },
    Answer {
        participant: ParticipantId,
        sdp: String,
        reply: Reply<()>,
    },
    AnswerRefused {
        participant: ParticipantId,
        reason: String,
        reply: Reply<()>,
    },
    Candidate {
        participant: ParticipantId,
        candidate: IceCandidate,
        reply: Reply<()>,
    },
    Leave {
        participant: ParticipantId,
        reply: Reply<()>,
    },
    Stats {
        reply: Reply<SfuStats>,
    },
    Summary {
        reply: Reply<SfuSummary>,
    },
    RoomStats {
        room: RoomId,
        reply: Reply<Option<RoomStats>>,
    },
    SetForwarding {
        room: RoomId,
        forwarding: bool,
        reply: Reply<()>,
    },
    SetView {
        subscriber: ParticipantId,
        publisher: ParticipantId,
        visible: bool,
        tile: (u16, u16),
        reply: Reply<()>,
    },
    SetScreenShare {
        participant: ParticipantId,
        on: bool,
        reply: Reply<()>,
    },
    Shutdown,
    /// Panics on the worker's thread, to test what a failure does.
    #[cfg(feature = "testkit")]
    Crash,
}

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// The ICE-TCP listener; its connections take the tokens after it.
const TCP: Token = Token(2);
/// Batches of datagrams read before outputs are flushed, so that one busy socket cannot
/// starve sends.
const READ_BATCHES: usize = 2;

/// What a worker's thread and the pool both see.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Its DownTracks, for placing new rooms.
    pub downtracks: AtomicUsize,
    /// How many times it failed and started afresh.
    pub restarts: AtomicU64,
}

/// The pool's side of one worker.
pub(crate) struct Worker {
    pub index: usize,
    pub tx: mpsc::Sender<Command>,
    pub waker: Arc<Waker>,
    pub local_addr: SocketAddr,
    pub announce_addr: SocketAddr,
    /// The announced ICE-TCP address, when it listens for ICE over TCP.
    pub tcp_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
}

impl Worker {
    pub(crate) fn send(&self, cmd: Command) -> Result<(), SfuError> {
        self.tx.send(cmd).map_err(|_| SfuError::WorkerGone)?;
        self.waker.wake().map_err(|_| SfuError::WorkerGone)
    }

    /// Sends a command and waits for its reply.
    pub(crate) async fn call<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, SfuError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply))?;
        rx.await.map_err(|_| SfuError::WorkerGone)?
    }

    /// Its figures when it cannot answer.
    pub(crate) fn silent_stats(&self) -> WorkerStats {
        WorkerStats {
            index: self.index,
            media_addr: self.announce_addr.to_string(),
            alive: false,
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            rooms: 0,
            participants: 0,
            down_tracks: 0,
            packets_in: 0,
            packets_out: 0,
            packets_in_per_second: 0.0,
            packets_out_per_second: 0.0,
            cpu_seconds: 0.0,
            cpu_utilization: 0.0,
            ice_tcp_addr: self.tcp_addr.map(|a| a.to_string()),
            ice_tcp_connections: 0,
            ice_tcp_frames_dropped: 0,
        }
    }
}

/// Called on the worker's thread after its `Sfu` failed, with the worker's index.
pub(crate) type OnFailure = Arc<dyn Fn(usize) + Send + Sync>;

/// Starts worker `config.worker` on `socket`, and on `tcp` for ICE over TCP.
pub(crate) fn spawn(
    socket: std::net::UdpSocket,
    tcp: Option<std::net::TcpListener>,
    config: SfuConfig,
    events: tmpsc::UnboundedSender<Event>,
    on_failure: OnFailure,
) -> std::io::Result<Worker> {
    socket.set_nonblocking(true)?;
    let mut socket = UdpSocket::from_std(socket);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let tcp = match tcp {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            let listener = mio::net::TcpListener::from_std(listener);
            Some(TcpPort::new(
                listener,
                TCP,
                poll.registry(),
                Instant::now(),
            )?)
        }
        None => None,
    };
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new(Shared::default());
    let index = config.worker;
    let (local_addr, announce_addr) = (config.local_addr, config.announce_addr);
    let tcp_addr = config.tcp_addr;
    let thread = Thread {
        poll,
        socket,
        tcp,
        commands: rx,
        events,
        shared: shared.clone(),
    };
    std::thread::Builder::new()
        .name(format!("sfu-media-{index}"))
        .spawn(move || thread.serve(config, on_failure))?;
    Ok(Worker {
        index,
        tx,
        waker,
        local_addr,
        announce_addr,
        tcp_addr,
        shared,
    })
}

/// What the worker's thread owns across failures.
struct Thread {
    poll: Poll,
    socket: UdpSocket,
    /// The ICE-TCP listener and its connections; they outlive a failed `Sfu`, whose sessions
    /// the clients then replace.
    tcp: Option<TcpPort>,
    commands: mpsc::Receiver<Command>,
    events: tmpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
}

impl Thread {
    /// Runs `Sfu`s one after another: a new one after each failure, until shutdown.
    fn serve(mut self, mut config: SfuConfig, on_failure: OnFailure) {
        let index = config.worker;
        info!(worker = index, addr = ?self.socket.local_addr().ok(), "media worker started");
        loop {
            let mut sfu = Sfu::new(config.clone());
            let outcome = catch_unwind(AssertUnwindSafe(|| self.run(&mut sfu)));
            let Err(panic) = outcome else {
                info!(worker = index, "media worker stopping");
                return;
            };
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic".into());
            error!(worker = index, panic = %what, "media worker failed: its rooms are lost, and it starts afresh");
            // Ids go on from where the failed `Sfu` left them, so that none is handed out twice.
            config.ids = sfu.next_ids();
            // Its state is suspect: a second panic while it is dropped must not end the thread.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(sfu)));
            self.shared.downtracks.store(0, Ordering::Relaxed);
            // The pool forgets the worker's rooms first; joins it placed before that carry
            // the old count and are refused by the fresh `Sfu`.
            on_failure(index);
            self.shared.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drives one `Sfu` until shutdown (returns) or a panic (unwinds).
    fn run(&mut self, sfu: &mut Sfu) {
        let mut recv = RecvBatch::default();
        let mut mio_events = Events::with_capacity(64);
        let mut readable = true;
        let mut send_errors: u64 = 0;
        let mut batch = SendBatch::default();
        let fd = self.socket.as_raw_fd();
        let mut meter = LoadMeter::new(sample(sfu, Instant::now()));
        let mut tcp_ready: Vec<Token> = Vec::new();
        loop {
            let deadline = loop {
                match sfu.poll_output() {
                    Output::Transmit(t) if t.protocol == Protocol::Tcp => self.send_tcp(sfu, t),
                    Output::Transmit(t) => {
                        if batch.push(t) {
                            let failed = batch.flush(fd, |buf| sfu.recycle(buf));
                            note_failures(&mut send_errors, failed);
                        }
                    }
                    Output::Event(e) => {
                        // The receiver is gone only while the server shuts down.
                        let _ = self.events.send(e);
                    }
                    Output::Timeout(t) => {
                        let tcp_due = self.tcp.as_ref().map(TcpPort::next_due);
                        break t.min(meter.next_due()).min(tcp_due.unwrap_or(t));
                    }
                }
            };
            let failed = batch.flush(fd, |buf| sfu.recycle(buf));
            note_failures(&mut send_errors, failed);
            let tcp_pending = self.tcp.as_ref().is_some_and(TcpPort::has_pending);
            let wait = if readable || tcp_pending {
                Some(std::time::Duration::ZERO)
            } else {
                Some(deadline.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poll.poll(&mut mio_events, wait)
                && e.kind() != ErrorKind::Interrupted
            {
                warn!("poll failed: {e}");
            }
            for ev in mio_events.iter() {
                match ev.token() {
                    SOCKET => readable = true,
                    WAKER => {}
                    token => tcp_ready.push(token),
                }
            }
            let now = Instant::now();
            if readable {
                readable = self.read_batches(sfu, &mut recv, now);
            }
            if let Some(tcp) = self.tcp.as_mut() {
                let mut frame = |from, data: &[u8]| {
                    let from = Remote {
                        protocol: Protocol::Tcp,
                        addr: from,
                    };
                    sfu.handle_packet(now, from, data)
                };
                // Connections left with bytes by their budget go first, then the new events.
                tcp.handle_pending(self.poll.registry(), now, &mut frame);
                for token in tcp_ready.drain(..) {
                    tcp.handle_ready(token, self.poll.registry(), now, &mut frame);
                }
                tcp.handle_timeout(now, self.poll.registry());
            }
            tcp_ready.clear();
            let mut commanded = false;
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Ok(cmd) => {
                        commanded = true;
                        self.handle_command(sfu, &meter, cmd, now);
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            if commanded {
                self.note_load(sfu);
            }
            if meter.next_due() <= now {
                meter.handle_sample(sample(sfu, now));
                self.note_load(sfu);
            }
            if deadline <= now {
                sfu.handle_timeout(now);
            }
        }
    }

    /// Reads a few batches of datagrams into the `Sfu`. Returns whether more may be
    /// waiting: the socket did not say it was drained. (It is edge-triggered: once
    /// drained, the next datagram wakes the poll.)
    fn read_batches(&self, sfu: &mut Sfu, batch: &mut RecvBatch, now: Instant) -> bool {
        let fd = self.socket.as_raw_fd();
        for _ in 0..READ_BATCHES {
            let read = batch.read(fd, |from, data| sfu.handle_datagram(now, from, data));
            if read == Read::Drained {
                return false;
            }
        }
        true
    }

    /// Sends a datagram on the ICE-TCP connection it is for, if there still is one.
    fn send_tcp(&mut self, sfu: &mut Sfu, t: Transmit) {
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.send(t.to, &t.data, self.poll.registry());
        }
        sfu.recycle(t.data);
    }

    fn note_load(&self, sfu: &Sfu) {
        self.shared
            .downtracks
            .store(sfu.downtrack_count(), Ordering::Relaxed);
    }

    /// This worker's line in the reports.
    fn worker_stats(&self, sfu: &Sfu, meter: &LoadMeter, packets: (u64, u64)) -> WorkerStats {
        let tables = sfu.table_sizes();
        let rates = meter.rates();
        WorkerStats {
            index: sfu.config().worker,
            media_addr: sfu.config().announce_addr.to_string(),
            alive: true,
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            rooms: tables.rooms,
            participants: tables.sessions,
            down_tracks: tables.down_tracks,
            packets_in: packets.0,
            packets_out: packets.1,
            packets_in_per_second: rates.packets_in_per_second,
            packets_out_per_second: rates.packets_out_per_second,
            cpu_seconds: thread_cpu().as_secs_f64(),
            cpu_utilization: rates.cpu_utilization,
            ice_tcp_addr: sfu.config().tcp_addr.map(|a| a.to_string()),
            ice_tcp_connections: self.tcp.as_ref().map_or(0, TcpPort::connections),
            ice_tcp_frames_dropped: self.tcp.as_ref().map_or(0, |t| t.counters().frames_dropped),
        }
    }

    fn handle_command(&self, sfu: &mut Sfu, meter: &LoadMeter, cmd: Command, now: Instant) {
        // A dropped reply receiver means the caller gave up waiting: nothing to do.
        match cmd {
            Command::Join {
                room,
                participant,
                generation,
                options,
                reply,
            } => {
                let result = if generation == self.shared.restarts.load(Ordering::Relaxed) {
                    sfu.join_with(now, room, participant, options)
                } else {
                    Err(SfuError::WorkerGone)
                };
                let _ = reply.send(result);
            }
            Command::Offer {
                participant,
                sdp,
                reply,
            } => {
                let _ = reply.send(sfu.handle_offer(now, &participant, sdp));
            }
            Command::Answer {
                participant,
                sdp,
                reply,
            } => {
                let _ = reply.send(sfu.handle_answer(now, &participant, sdp));
            }
            Command::AnswerRefused {
                participant,
                reason,
                reply,
            } => {
                let _ = reply.send(sfu.handle_answer_refused(now, &participant, &reason));
            }
            Command::Candidate {
                participant,
                candidate,
                reply,
            } => {
                let _ = reply.send(sfu.handle_candidate(now, &participant, candidate));
            }
            Command::Leave { participant, reply } => {
                let _ = reply.send(sfu.leave(now, &participant));
            }
            Command::SetForwarding {
                room,
                forwarding,
                reply,
            } => {
                let _ = reply.send(sfu.set_forwarding(now, &room, forwarding));
            }
            Command::SetView {
                subscriber,
                publisher,
                visible,
                tile,
                reply,
            } => {
                let _ = reply.send(sfu.set_view(now, &subscriber, &publisher, visible, tile));
            }
            Command::SetScreenShare {
                participant,
                on,
                reply,
            } => {
                let _ = reply.send(sfu.set_screen_share(now, &participant, on));
            }
            Command::Stats { reply } => {
                let mut stats = sfu.stats(now);
                let packets = (stats.totals.packets_in, stats.totals.packets_out);
                stats.workers = vec![self.worker_stats(sfu, meter, packets)];
                let _ = reply.send(Ok(stats));
            }
            Command::Summary { reply } => {
                let mut summary = sfu.summary();
                let packets = (summary.totals.packets_in, summary.totals.packets_out);
                summary.workers = vec![self.worker_stats(sfu, meter, packets)];
                let _ = reply.send(Ok(summary));
            }
            Command::RoomStats { room, reply } => {
                let _ = reply.send(Ok(sfu.room_stats(&room, now)));
            }
            Command::Shutdown => {}
            #[cfg(feature = "testkit")]
            Command::Crash => panic!("crash requested by a test"),
        }
    }
}

/// The worker's counters now, for its load meter.
fn sample(sfu: &Sfu, at: Instant) -> Sample {
    let totals = sfu.summary().totals;
    Sample {
        at,
        cpu: thread_cpu(),
        packets_in: totals.packets_in,
        packets_out: totals.packets_out,
    }
}

/// Counts datagrams the kernel refused, logging now and then.
fn note_failures(total: &mut u64, failed: usize) {
    for _ in 0..failed {
        *total += 1;
        if total.is_power_of_two() {
            debug!(count = *total, "sends failed");
        }
    }
}
