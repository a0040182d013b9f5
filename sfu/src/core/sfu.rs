//! `Sfu`: every room and session of one media worker, driven by `handle_*` and `poll_output`.

use crate::core::PKey;
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::core::keyframe::KeyframeRequester;
use crate::core::participant::{Participant, TransportState};
use crate::core::room::Room;
use crate::core::stats::{IngressCounters, Tally};
use crate::core::track::{Kind, Track};
use bytes::BytesMut;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::sansio::Protocol;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use tracing::debug;

/// How the SFU is reached and how it paces keyframe requests.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The address the media socket is bound to.
    pub local_addr: SocketAddr,
    /// The address announced to clients in ICE candidates (differs behind NAT).
    pub announce_addr: SocketAddr,
    /// At most one keyframe request per track in this interval.
    pub keyframe_interval: Duration,
    /// A pair of clock readings taken together, to turn `Instant`s into wall-clock times.
    pub epoch: (Instant, SystemTime),
}

impl SfuConfig {
    /// A configuration for a socket at `local_addr`, announced as itself.
    pub fn new(local_addr: SocketAddr, epoch: (Instant, SystemTime)) -> SfuConfig {
        SfuConfig {
            local_addr,
            announce_addr: local_addr,
            keyframe_interval: KeyframeRequester::DEFAULT_INTERVAL,
            epoch,
        }
    }

    pub(crate) fn wall_clock(&self, now: Instant) -> SystemTime {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0)
    }
}

/// A datagram to send from the media socket.
#[derive(Debug)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The encrypted packet.
    pub data: BytesMut,
}

/// Something the signaling layer must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this offer to the participant; its answer comes back through `handle_answer`.
    Offer {
        /// Who the offer is for.
        participant: ParticipantId,
        /// Of which of its sessions: drop it if that one has been replaced since.
        session: SessionId,
        /// The SDP.
        sdp: String,
    },
    /// The participant's ICE and DTLS are up.
    Connected {
        /// Whose transport.
        participant: ParticipantId,
        /// Which of its sessions.
        session: SessionId,
    },
    /// The participant's transport failed: it can no longer send or receive media.
    TransportFailed {
        /// Whose transport.
        participant: ParticipantId,
        /// Which of its sessions.
        session: SessionId,
    },
    /// A participant started publishing a track.
    TrackPublished {
        /// The publisher.
        participant: ParticipantId,
        /// The new track.
        track: TrackId,
        /// Audio or video.
        kind: Kind,
    },
}

/// What [`Sfu::poll_output`] asks the IO layer to do next.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// Deliver an event to the signaling layer.
    Event(Event),
    /// Nothing more to do now: call `handle_timeout` at this instant, or on the next input.
    Timeout(Instant),
}

/// The media plane of one worker: rooms, sessions, tracks and the routing of datagrams.
pub struct Sfu {
    pub(crate) config: SfuConfig,
    pub(crate) rooms: HashMap<RoomId, Room>,
    pub(crate) participants: HashMap<PKey, Participant>,
    pub(crate) keys: HashMap<ParticipantId, PKey>,
    pub(crate) next_key: PKey,
    pub(crate) by_ufrag: HashMap<String, PKey>,
    pub(crate) by_addr: HashMap<SocketAddr, PKey>,
    pub(crate) tracks: HashMap<TrackId, Track>,
    pub(crate) next_track: u64,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) ingress: IngressCounters,
    /// Counters of tracks and DownTracks that are gone, so that totals never go backwards.
    pub(crate) retired: Tally,
    pub(crate) reads: Vec<TaggedRTCMessage>,
    /// The latest time the core was handed, so that an idle wake-up is scheduled from it.
    pub(crate) last_now: Instant,
}

/// An idle worker still wakes up now and then, so that timers of new sessions are noticed.
const MAX_IDLE: Duration = Duration::from_millis(500);

impl Sfu {
    /// An SFU with no rooms.
    pub fn new(config: SfuConfig) -> Sfu {
        let last_now = config.epoch.0;
        Sfu {
            config,
            rooms: HashMap::new(),
            participants: HashMap::new(),
            keys: HashMap::new(),
            next_key: 1,
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            tracks: HashMap::new(),
            next_track: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            ingress: IngressCounters::default(),
            retired: Tally::default(),
            reads: Vec::new(),
            last_now,
        }
    }

    /// Datagrams that could not be attributed to a session, by reason.
    pub fn ingress(&self) -> IngressCounters {
        self.ingress
    }

    /// Whether a participant with this id exists.
    pub fn has_participant(&self, id: &ParticipantId) -> bool {
        self.keys.contains_key(id)
    }

    /// Sizes of the routing tables and of the track table.
    pub fn table_sizes(&self) -> crate::core::report::TableSizes {
        crate::core::report::TableSizes {
            sessions: self.participants.len(),
            ufrags: self.by_ufrag.len(),
            addresses: self.by_addr.len(),
            tracks: self.tracks.len(),
        }
    }

    /// Remembers the latest time the core was handed.
    pub(crate) fn observe(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
    }

    pub(crate) fn key(&self, id: &ParticipantId) -> Result<PKey, SfuError> {
        self.keys
            .get(id)
            .copied()
            .ok_or_else(|| SfuError::UnknownParticipant(id.clone()))
    }

    /// Runs the session's timers and everyone's keyframe-request timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        let due: Vec<PKey> = self
            .participants
            .iter_mut()
            .filter_map(|(&k, p)| p.poll_timeout().is_some_and(|t| t <= now).then_some(k))
            .collect();
        for key in due {
            if let Some(p) = self.participants.get_mut(&key)
                && p.pc.poll_timeout().is_some_and(|t| t <= now)
                && let Err(e) = p.pc.handle_timeout(now)
            {
                debug!(participant = %p.id, "timeout: {e}");
            }
            // Drains what the timers produced, and makes a fresh offer if a refused one's
            // wait is over.
            self.after_negotiation(key, now);
        }
        let plis: Vec<TrackId> = self
            .tracks
            .iter_mut()
            .filter_map(|(&id, t)| t.keyframes.poll_due(now).then_some(id))
            .collect();
        for tid in plis {
            self.send_pli(tid, now);
        }
    }

    /// The next thing to do: a datagram to send, an event, or when to call back.
    pub fn poll_output(&mut self) -> Output {
        if let Some(t) = self.transmits.pop_front() {
            return Output::Transmit(t);
        }
        if let Some(e) = self.events.pop_front() {
            return Output::Event(e);
        }
        let mut next: Option<Instant> = None;
        for p in self.participants.values_mut() {
            if let Some(t) = p.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        for t in self.tracks.values() {
            if let Some(t) = t.keyframes.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        Output::Timeout(next.unwrap_or(self.last_now + MAX_IDLE))
    }

    /// Processes whatever the session's WebRTC stack has for us: events, media and feedback.
    pub(crate) fn drain(&mut self, key: PKey, now: Instant) {
        let mut reads = std::mem::take(&mut self.reads);
        while let Some(p) = self.participants.get_mut(&key) {
            let mut events = Vec::new();
            while let Some(e) = p.pc.poll_event() {
                events.push(e);
            }
            while let Some(m) = p.pc.poll_read() {
                reads.push(m);
            }
            flush(&mut p.pc, &mut self.transmits);
            if events.is_empty() && reads.is_empty() {
                break;
            }
            for e in events {
                self.on_event(key, e, now);
            }
            for m in reads.drain(..) {
                match m.message {
                    RTCMessage::RtpPacket(_, pkt) => self.on_rtp(key, pkt, now),
                    RTCMessage::RtcpPacket(track_id, pkts) => {
                        self.on_rtcp(key, &track_id, &pkts, now)
                    }
                    _ => {}
                }
            }
        }
        self.reads = reads;
    }

    pub(crate) fn on_event(&mut self, key: PKey, event: RTCPeerConnectionEvent, now: Instant) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                self.on_connection_state(key, state, now)
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                self.publish(key, init, now)
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnClose(track_id)) => {
                let tid = self
                    .participants
                    .get_mut(&key)
                    .and_then(|p| p.published.remove(&track_id));
                if let Some(tid) = tid {
                    self.unpublish(tid, now);
                }
            }
            _ => {}
        }
    }

    fn on_connection_state(&mut self, key: PKey, state: RTCPeerConnectionState, now: Instant) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        debug!(participant = %p.id, %state, "connection state");
        match state {
            RTCPeerConnectionState::Connected => {
                p.state = TransportState::Connected;
                self.events.push_back(Event::Connected {
                    participant: p.id.clone(),
                    session: SessionId(key),
                });
                let subs: Vec<TrackId> = p
                    .downtracks
                    .values()
                    .filter(|d| d.out_pt.is_some())
                    .map(|d| d.track)
                    .collect();
                for tid in subs {
                    self.request_keyframe(tid, now);
                }
            }
            RTCPeerConnectionState::Failed => {
                p.state = TransportState::Failed;
                self.events.push_back(Event::TransportFailed {
                    participant: p.id.clone(),
                    session: SessionId(key),
                });
            }
            RTCPeerConnectionState::Closed => p.state = TransportState::Closed,
            _ => {}
        }
    }
}

pub(crate) fn flush(pc: &mut RTCPeerConnection, out: &mut VecDeque<Transmit>) {
    while let Some(w) = pc.poll_write() {
        out.push_back(Transmit {
            to: w.transport.peer_addr,
            data: w.message,
        });
    }
}
