//! The media thread: owns the UDP socket and one `Sfu`, and does nothing but IO.

use crate::core::IceCandidate;
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, RoomId, SessionId};
use crate::core::report::{RoomStats, SfuStats, SfuSummary};
use crate::core::{Event, Output, Sfu, SfuConfig};
use crate::io::batch::SendBatch;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::sync::{Arc, mpsc};
use std::time::Instant;
use tokio::sync::{mpsc as tmpsc, oneshot};
use tracing::{debug, info, warn};

type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

/// A request from the signaling layer.
pub(crate) enum Command {
    Join {
        room: RoomId,
        participant: ParticipantId,
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
}

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Datagrams read before outputs are flushed, so that one busy socket cannot starve sends.
const READ_BATCH: usize = 64;

pub(crate) fn spawn(
    socket: std::net::UdpSocket,
    config: SfuConfig,
    events: tmpsc::UnboundedSender<Event>,
) -> std::io::Result<(mpsc::Sender<Command>, Arc<Waker>)> {
    socket.set_nonblocking(true)?;
    let mut socket = UdpSocket::from_std(socket);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("sfu-media".into())
        .spawn(move || run(poll, socket, Sfu::new(config), rx, events))?;
    Ok((tx, waker))
}

fn run(
    mut poll: Poll,
    socket: UdpSocket,
    mut sfu: Sfu,
    commands: mpsc::Receiver<Command>,
    events: tmpsc::UnboundedSender<Event>,
) {
    info!(addr = ?socket.local_addr().ok(), "media worker started");
    let mut buf = vec![0u8; 2048];
    let mut mio_events = Events::with_capacity(64);
    let mut readable = true;
    let mut send_errors: u64 = 0;
    let mut batch = SendBatch::default();
    let fd = socket.as_raw_fd();
    loop {
        let deadline = loop {
            match sfu.poll_output() {
                Output::Transmit(t) => {
                    if batch.push(t) {
                        let failed = batch.flush(fd, |buf| sfu.recycle(buf));
                        note_failures(&mut send_errors, failed);
                    }
                }
                Output::Event(e) => {
                    // The receiver is gone only while the server shuts down.
                    let _ = events.send(e);
                }
                Output::Timeout(t) => break t,
            }
        };
        let failed = batch.flush(fd, |buf| sfu.recycle(buf));
        note_failures(&mut send_errors, failed);
        let wait = if readable {
            Some(std::time::Duration::ZERO)
        } else {
            Some(deadline.saturating_duration_since(Instant::now()))
        };
        if let Err(e) = poll.poll(&mut mio_events, wait)
            && e.kind() != ErrorKind::Interrupted
        {
            warn!("poll failed: {e}");
        }
        for ev in mio_events.iter() {
            if ev.token() == SOCKET {
                readable = true;
            }
        }
        let now = Instant::now();
        if readable {
            readable = false;
            for _ in 0..READ_BATCH {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => sfu.handle_datagram(now, from, &buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // ICMP errors surface here (port unreachable): not fatal.
                        debug!("recv failed: {e}");
                    }
                }
                readable = true;
            }
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => {
                    info!("media worker stopping");
                    return;
                }
                Ok(cmd) => handle_command(&mut sfu, cmd, now),
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if deadline <= now {
            sfu.handle_timeout(now);
        }
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

fn handle_command(sfu: &mut Sfu, cmd: Command, now: Instant) {
    // A dropped reply receiver means the caller gave up waiting: nothing to do.
    match cmd {
        Command::Join {
            room,
            participant,
            reply,
        } => {
            let _ = reply.send(sfu.join(now, room, participant));
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
            let _ = reply.send(Ok(sfu.stats(now)));
        }
        Command::Summary { reply } => {
            let _ = reply.send(Ok(sfu.summary()));
        }
        Command::RoomStats { room, reply } => {
            let _ = reply.send(Ok(sfu.room_stats(&room, now)));
        }
        Command::Shutdown => {}
    }
}
