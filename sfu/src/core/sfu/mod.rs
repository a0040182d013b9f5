//! `Sfu`: every room and session of one media worker, driven by `handle_*` and `poll_output`.
//!
//! It is composed of parts that each keep their own invariants: [`Routes`] (how datagrams and
//! commands find a session), [`Sessions`] (the WebRTC sessions, and which have output
//! waiting), [`Rooms`], [`Tracks`] (published tracks and their DownTracks), [`Timers`] and the
//! [`Outbox`]. Each `handle_*` call gives input to one part, then drains the sessions it made
//! dirty in a plain loop ([`Sfu::run`]), acting on what each produced.

mod allocate;
mod egress;
mod fanout;
mod feedback;
mod ingress;
mod membership;
mod negotiate;
mod snapshot;

use crate::core::allocator::{Proven, UpGate};
use crate::core::api::{Event, IceCandidate, Output};
use crate::core::ids::{IdSpace, ParticipantId, SessionId};
use crate::core::keyframe::KeyframeRequester;
use crate::core::outbox::Outbox;
use crate::core::rooms::Rooms;
use crate::core::routes::Routes;
use crate::core::sendpath::SendPath;
use crate::core::session::{SessionOutput, TransportState};
use crate::core::sessions::Sessions;
use crate::core::stats::{IngressCounters, Tally};
use crate::core::timers::{TimerOf, Timers};
use crate::core::tracks::Tracks;
use crate::core::views::Views;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// How the SFU is reached and how it paces keyframe requests.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The address the media socket is bound to.
    pub local_addr: SocketAddr,
    /// The address announced to clients in ICE candidates (differs behind NAT).
    pub announce_addr: SocketAddr,
    /// The ICE-TCP address announced as a passive TCP candidate beside the UDP one, when
    /// the worker accepts ICE over TCP (RFC 6544): clients whose networks block UDP reach it.
    pub tcp_addr: Option<SocketAddr>,
    /// At most one keyframe request per track in this interval.
    pub keyframe_interval: Duration,
    /// A pair of clock readings taken together, to turn `Instant`s into wall-clock times.
    pub epoch: (Instant, SystemTime),
    /// Last-N: forward video only from the room's N most recent speakers (0: from everyone).
    pub last_n: usize,
    /// The session and track ids this SFU hands out (a worker of a pool has its own).
    pub ids: IdSpace,
    /// Which worker of a pool this is (0 alone), for the reports.
    pub worker: usize,
}

impl SfuConfig {
    /// A configuration for a socket at `local_addr`, announced as itself.
    pub fn new(local_addr: SocketAddr, epoch: (Instant, SystemTime)) -> SfuConfig {
        SfuConfig {
            local_addr,
            announce_addr: local_addr,
            tcp_addr: None,
            keyframe_interval: KeyframeRequester::DEFAULT_INTERVAL,
            epoch,
            last_n: 0,
            ids: IdSpace::default(),
            worker: 0,
        }
    }

    pub(crate) fn wall_clock(&self, now: Instant) -> SystemTime {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0)
    }
}

/// The media plane of one worker: rooms, sessions, tracks and the routing of datagrams.
pub struct Sfu {
    config: SfuConfig,
    routes: Routes,
    sessions: Sessions,
    rooms: Rooms,
    views: Views,
    tracks: Tracks,
    timers: Timers,
    outbox: Outbox,
    /// The subscribers' transports, for forwarded RTP.
    sendpath: SendPath,
    ingress: IngressCounters,
    /// Counters of tracks and DownTracks that are gone, so that totals never go backwards.
    retired: Tally,
    /// The latest time the core was handed, so that an idle wake-up is scheduled from it.
    last_now: Instant,
    /// Each subscriber's brakes on moving up a layer: the wait before a probe, and what its
    /// link has carried.
    brakes: HashMap<SessionId, (UpGate, Proven)>,
}

/// An idle worker still wakes up now and then.
const MAX_IDLE: Duration = Duration::from_millis(500);

impl Sfu {
    /// An SFU with no rooms.
    pub fn new(config: SfuConfig) -> Sfu {
        let last_now = config.epoch.0;
        let tracks = Tracks::new(config.keyframe_interval, config.ids);
        let sessions = Sessions::with_ids(config.ids);
        Sfu {
            config,
            routes: Routes::default(),
            sessions,
            rooms: Rooms::default(),
            views: Views::default(),
            tracks,
            timers: Timers::default(),
            outbox: Outbox::default(),
            // rtc is built with its default crypto provider (ring): there always is one.
            sendpath: SendPath::new().expect("rtc has a built-in crypto provider"),
            ingress: IngressCounters::default(),
            retired: Tally::default(),
            last_now,
            brakes: HashMap::new(),
        }
    }

    /// How it was configured.
    pub fn config(&self) -> &SfuConfig {
        &self.config
    }

    /// Datagrams that could not be attributed to a session, by reason.
    pub fn ingress(&self) -> IngressCounters {
        self.ingress
    }

    /// The ids a successor of this SFU (on the same worker, after a failure) starts from,
    /// so that no id is handed out twice.
    pub fn next_ids(&self) -> IdSpace {
        self.sessions.ids().later(self.tracks.ids())
    }

    /// Subscriptions (DownTracks) in all rooms: the load a worker is placed by.
    pub fn downtrack_count(&self) -> usize {
        self.tracks.downtrack_count()
    }

    /// Whether a participant with this id exists.
    pub fn has_participant(&self, id: &ParticipantId) -> bool {
        self.routes.by_participant(id).is_some()
    }

    /// Remembers the latest time the core was handed.
    pub(crate) fn observe(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
    }

    /// Runs the timers that are due: sessions' WebRTC stacks and negotiation, and tracks'
    /// coalesced keyframe requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        while let Some(due) = self.timers.pop_due(now) {
            match due {
                TimerOf::Session(id) => {
                    if let Some(s) = self.sessions.get_mut(id) {
                        s.handle_timeout(now);
                        self.sessions.mark(id);
                    }
                }
                TimerOf::Reports(id) => self.send_reports(id, now),
                TimerOf::Allocate => self.allocate_all(now),
                TimerOf::Track(tid) => {
                    let due: Vec<usize> = self.tracks.get_mut(tid).map_or(Vec::new(), |t| {
                        (0..t.layers.len())
                            .filter(|&i| t.layers[i].keyframes.poll_due(now))
                            .collect()
                    });
                    for layer in due {
                        self.send_pli(tid, layer, now);
                    }
                }
            }
        }
        self.run(now);
    }

    /// The next thing to do: a datagram to send, an event, or when to call back.
    pub fn poll_output(&mut self) -> Output {
        if let Some(t) = self.outbox.pop_transmit() {
            return Output::Transmit(t);
        }
        if let Some(t) = self.sendpath.poll_transmit() {
            return Output::Transmit(t);
        }
        if let Some(e) = self.outbox.pop_event() {
            return Output::Event(e);
        }
        Output::Timeout(self.timers.next().unwrap_or(self.last_now + MAX_IDLE))
    }

    /// Hands back the buffer of a datagram that [`Sfu::poll_output`] gave and the IO layer
    /// has sent, so that the next forwarded packet reuses it instead of allocating.
    pub fn recycle(&mut self, data: bytes::BytesMut) {
        self.sendpath.recycle(data);
    }

    /// Drains every dirty session, one after another, until none is left; then sets its
    /// timer. Acting on one session's output may make others dirty: the loop takes them too.
    pub(crate) fn run(&mut self, now: Instant) {
        while let Some(id) = self.sessions.pop_dirty() {
            self.drain(id, now);
            self.negotiate(id, now);
            let next = self.sessions.get_mut(id).and_then(|s| s.poll_timeout());
            self.timers.set(TimerOf::Session(id), next);
        }
    }

    /// Acts on everything one session produced.
    fn drain(&mut self, id: SessionId, now: Instant) {
        loop {
            let Some(out) = self.sessions.get_mut(id).and_then(|s| s.poll_output()) else {
                return;
            };
            match out {
                SessionOutput::Transmit(t) => self.outbox.transmit(t),
                SessionOutput::State(state) => self.on_state(id, state, now),
                SessionOutput::TrackOpened(opened) => self.publish(id, opened, now),
                SessionOutput::LayerOpened(layer) => self.add_layer(id, layer),
                SessionOutput::TrackClosed(local_id) => {
                    let tid = self
                        .sessions
                        .get_mut(id)
                        .and_then(|s| s.remove_published(&local_id));
                    if let Some(tid) = tid {
                        self.unpublish(tid, now);
                    }
                }
                SessionOutput::Rtp(pkt) => self.on_rtp(id, pkt, now),
                SessionOutput::Rtcp {
                    local_track,
                    packets,
                } => self.on_rtcp(id, &local_track, &packets, now),
            }
        }
    }

    fn on_state(&mut self, id: SessionId, state: TransportState, now: Instant) {
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let participant = s.participant.clone();
        match state {
            TransportState::Connected => {
                self.start_sending(id, now);
                let Some(s) = self.sessions.get(id) else {
                    return;
                };
                self.outbox.event(Event::Connected {
                    participant,
                    session: id,
                });
                // Subscriptions negotiated before the transport was up start on a keyframe.
                let negotiated: Vec<_> = s
                    .subscriptions()
                    .filter(|&tid| {
                        self.tracks
                            .downtrack(id, tid)
                            .is_some_and(|dt| dt.out.is_some())
                    })
                    .collect();
                for tid in negotiated {
                    self.request_keyframe_for(id, tid, now);
                }
            }
            TransportState::Failed => {
                self.stop_sending(id);
                self.outbox.event(Event::TransportFailed {
                    participant,
                    session: id,
                });
            }
            TransportState::Closed => self.stop_sending(id),
            TransportState::New => {}
        }
    }
}
