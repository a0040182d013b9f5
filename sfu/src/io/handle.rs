//! `SfuHandle`: the signaling layer's API to the media plane, over channels.

use crate::core::IceCandidate;
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, RoomId, SessionId};
use crate::core::report::{RoomStats, SfuStats, SfuSummary};
use crate::core::{Event, SfuConfig};
use crate::io::worker::{self, Command};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc as tmpsc, oneshot};

/// How to start the media plane.
#[derive(Debug, Clone)]
pub struct SfuOptions {
    /// Where the media socket binds (`0.0.0.0:3478`, `127.0.0.1:0`…).
    pub bind: SocketAddr,
    /// The IP announced to clients, when it differs from the bound one (NAT, `0.0.0.0`).
    pub announce_ip: Option<IpAddr>,
    /// At most one keyframe request per track in this interval.
    pub keyframe_interval: Duration,
    /// Last-N: video from each room's N most recent speakers only (0: from everyone).
    pub last_n: usize,
}

impl SfuOptions {
    /// Options for a socket at `bind`, announced as itself.
    pub fn new(bind: SocketAddr) -> SfuOptions {
        SfuOptions {
            bind,
            announce_ip: None,
            keyframe_interval: crate::core::keyframe::KeyframeRequester::DEFAULT_INTERVAL,
            last_n: 0,
        }
    }
}

/// A cheap, cloneable handle to the media thread.
#[derive(Clone)]
pub struct SfuHandle {
    tx: mpsc::Sender<Command>,
    waker: Arc<mio::Waker>,
    local_addr: SocketAddr,
    announce_addr: SocketAddr,
}

impl SfuHandle {
    /// Binds the media socket and starts the media thread. Events for signaling arrive on
    /// the returned receiver.
    pub fn start(
        opts: SfuOptions,
    ) -> std::io::Result<(SfuHandle, tmpsc::UnboundedReceiver<Event>)> {
        let socket = std::net::UdpSocket::bind(opts.bind)?;
        let local_addr = socket.local_addr()?;
        let announce_ip = match opts.announce_ip {
            Some(ip) => ip,
            None if local_addr.ip().is_unspecified() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the media socket binds a wildcard address: an IP to announce is required",
                ));
            }
            None => local_addr.ip(),
        };
        let announce_addr = SocketAddr::new(announce_ip, local_addr.port());
        let mut config = SfuConfig::new(local_addr, (Instant::now(), SystemTime::now()));
        config.announce_addr = announce_addr;
        config.keyframe_interval = opts.keyframe_interval;
        config.last_n = opts.last_n;
        let (events_tx, events_rx) = tmpsc::unbounded_channel();
        let (tx, waker) = worker::spawn(socket, config, events_tx)?;
        Ok((
            SfuHandle {
                tx,
                waker,
                local_addr,
                announce_addr,
            },
            events_rx,
        ))
    }

    /// The address the media socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address clients are told to send media to.
    pub fn announce_addr(&self) -> SocketAddr {
        self.announce_addr
    }

    fn send(&self, cmd: Command) -> Result<(), SfuError> {
        self.tx.send(cmd).map_err(|_| SfuError::WorkerGone)?;
        self.waker.wake().map_err(|_| SfuError::WorkerGone)
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, SfuError>>) -> Command,
    ) -> Result<T, SfuError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply))?;
        rx.await.map_err(|_| SfuError::WorkerGone)?
    }

    /// Creates the participant's session in `room`.
    pub async fn join(
        &self,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<SessionId, SfuError> {
        self.call(|reply| Command::Join {
            room,
            participant,
            reply,
        })
        .await
    }

    /// Applies the participant's offer; returns the SFU's answer.
    pub async fn offer(&self, participant: ParticipantId, sdp: String) -> Result<String, SfuError> {
        self.call(|reply| Command::Offer {
            participant,
            sdp,
            reply,
        })
        .await
    }

    /// Applies the participant's answer to the SFU's offer.
    pub async fn answer(&self, participant: ParticipantId, sdp: String) -> Result<(), SfuError> {
        self.call(|reply| Command::Answer {
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
        self.call(|reply| Command::AnswerRefused {
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
        self.call(|reply| Command::Candidate {
            participant,
            candidate,
            reply,
        })
        .await
    }

    /// Removes the participant and frees its state.
    pub async fn leave(&self, participant: ParticipantId) -> Result<(), SfuError> {
        self.call(|reply| Command::Leave { participant, reply })
            .await
    }

    /// Turns media forwarding in a room on or off (off while its members talk peer to peer).
    pub async fn set_forwarding(&self, room: RoomId, forwarding: bool) -> Result<(), SfuError> {
        self.call(|reply| Command::SetForwarding {
            room,
            forwarding,
            reply,
        })
        .await
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
        self.call(|reply| Command::SetView {
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
        self.call(|reply| Command::SetScreenShare {
            participant,
            on,
            reply,
        })
        .await
    }

    /// A snapshot of every counter.
    pub async fn stats(&self) -> Result<SfuStats, SfuError> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// The SFU-wide counters alone, cheaper than [`SfuHandle::stats`] (no per-room reports).
    pub async fn summary(&self) -> Result<SfuSummary, SfuError> {
        self.call(|reply| Command::Summary { reply }).await
    }

    /// A snapshot of one room's counters, or `None` when the SFU has no such room.
    pub async fn room_stats(&self, room: RoomId) -> Result<Option<RoomStats>, SfuError> {
        self.call(|reply| Command::RoomStats { room, reply }).await
    }

    /// Stops the media thread. Sessions are closed; later calls fail with `WorkerGone`.
    pub fn shutdown(&self) {
        let _ = self.send(Command::Shutdown);
    }
}
