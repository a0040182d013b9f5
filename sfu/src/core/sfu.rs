//! `Sfu`: every room and session of one media worker, driven by `handle_*` and `poll_output`.

use crate::core::PKey;
use crate::core::demux::{self, PacketKind};
use crate::core::downtrack::DownTrack;
use crate::core::error::SfuError;
use crate::core::forwarder::{Decision, DropReason, Forwarder, PacketInfo};
use crate::core::ids::{ParticipantId, RoomId, TrackId};
use crate::core::keyframe::{KeyframeRequester, is_keyframe};
use crate::core::participant::{Participant, TransportState};
use crate::core::room::Room;
use crate::core::stats::IngressCounters;
use crate::core::track::{Kind, Track};
use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent, RTCTrackEventInit};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use tracing::{debug, info, warn};

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
        /// The SDP.
        sdp: String,
    },
    /// The participant's ICE and DTLS are up.
    Connected {
        /// Whose transport.
        participant: ParticipantId,
    },
    /// The participant's transport failed: it can no longer send or receive media.
    TransportFailed {
        /// Whose transport.
        participant: ParticipantId,
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
    keys: HashMap<ParticipantId, PKey>,
    next_key: PKey,
    by_ufrag: HashMap<String, PKey>,
    by_addr: HashMap<SocketAddr, PKey>,
    pub(crate) tracks: HashMap<TrackId, Track>,
    next_track: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    pub(crate) ingress: IngressCounters,
    reads: Vec<TaggedRTCMessage>,
}

/// An idle worker still wakes up now and then, so that timers of new sessions are noticed.
const MAX_IDLE: Duration = Duration::from_millis(500);

impl Sfu {
    /// An SFU with no rooms.
    pub fn new(config: SfuConfig) -> Sfu {
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
            reads: Vec::new(),
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

    fn key(&self, id: &ParticipantId) -> Result<PKey, SfuError> {
        self.keys
            .get(id)
            .copied()
            .ok_or_else(|| SfuError::UnknownParticipant(id.clone()))
    }

    /// Creates a session for `participant` in `room`. Media starts once it sends an offer.
    pub fn join(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<(), SfuError> {
        if self.keys.contains_key(&participant) {
            return Err(SfuError::ParticipantExists(participant));
        }
        let key = self.next_key;
        let mut p = Participant::new(
            participant.clone(),
            room.clone(),
            self.config.local_addr,
            self.config.announce_addr,
            now,
        )?;
        self.next_key += 1;
        let created_at = self.config.wall_clock(now);
        let r = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| Room::new(room.clone(), created_at));
        p.pending_subscriptions = r.tracks.clone();
        r.participants.push(key);
        self.by_ufrag.insert(p.ice_ufrag.clone(), key);
        self.keys.insert(participant.clone(), key);
        self.participants.insert(key, p);
        info!(%room, %participant, "joined the SFU");
        Ok(())
    }

    /// Applies the participant's offer and returns the SFU's answer.
    pub fn handle_offer(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        sdp: String,
    ) -> Result<String, SfuError> {
        let key = self.key(participant)?;
        let p = self.participant_mut(key)?;
        let answer = p.accept_offer(sdp, now)?;
        let first = !p.negotiated_once;
        p.negotiated_once = true;
        if first {
            for tid in std::mem::take(&mut p.pending_subscriptions) {
                self.subscribe(key, tid);
            }
        }
        self.after_negotiation(key, now);
        Ok(answer)
    }

    /// Applies the participant's answer to the SFU's last offer.
    pub fn handle_answer(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        sdp: String,
    ) -> Result<(), SfuError> {
        let key = self.key(participant)?;
        self.participant_mut(key)?.accept_answer(sdp, now)?;
        self.after_negotiation(key, now);
        Ok(())
    }

    /// Adds a remote ICE candidate. The SFU is ICE-lite, so this only helps it learn
    /// addresses early; connectivity checks from the client are what bind an address.
    pub fn handle_candidate(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        candidate: RTCIceCandidateInit,
    ) -> Result<(), SfuError> {
        let key = self.key(participant)?;
        if candidate.candidate.len() > 1024 {
            return Err(SfuError::BadCandidate("candidate too long".into()));
        }
        if candidate.candidate.is_empty() {
            return Ok(()); // end-of-candidates
        }
        let p = self.participant_mut(key)?;
        p.pc.add_remote_candidate(candidate)
            .map_err(|e| SfuError::BadCandidate(e.to_string()))?;
        self.drain(key, now);
        Ok(())
    }

    /// Removes a participant, its tracks and its subscriptions, and frees its state.
    pub fn leave(&mut self, now: Instant, participant: &ParticipantId) -> Result<(), SfuError> {
        let key = self.key(participant)?;
        self.remove(key, now);
        Ok(())
    }

    fn participant_mut(&mut self, key: PKey) -> Result<&mut Participant, SfuError> {
        self.participants
            .get_mut(&key)
            .ok_or_else(|| SfuError::Rtc("participant state missing".into()))
    }

    fn remove(&mut self, key: PKey, now: Instant) {
        let Some(mut p) = self.participants.remove(&key) else {
            return;
        };
        self.keys.remove(&p.id);
        self.by_ufrag.remove(&p.ice_ufrag);
        for addr in &p.addrs {
            self.by_addr.remove(addr);
        }
        for tid in p.downtracks.keys() {
            if let Some(t) = self.tracks.get_mut(tid) {
                t.subscribers.retain(|&s| s != key);
            }
        }
        let published: Vec<TrackId> = p.published.values().copied().collect();
        for tid in published {
            self.unpublish(tid, now);
        }
        if let Some(room) = self.rooms.get_mut(&p.room) {
            room.participants.retain(|&k| k != key);
            if room.participants.is_empty() {
                self.rooms.remove(&p.room);
            }
        }
        if let Err(e) = p.pc.close() {
            debug!(participant = %p.id, "close: {e}");
        }
        flush(&mut p.pc, &mut self.transmits);
        info!(participant = %p.id, room = %p.room, "left the SFU");
    }

    fn unpublish(&mut self, tid: TrackId, now: Instant) {
        let Some(track) = self.tracks.remove(&tid) else {
            return;
        };
        if let Some(room) = self
            .participants
            .get(&track.owner)
            .and_then(|p| self.rooms.get_mut(&p.room))
        {
            room.tracks.retain(|&t| t != tid);
        }
        for sub in track.subscribers {
            if let Some(p) = self.participants.get_mut(&sub) {
                if let Some(dt) = p.downtracks.remove(&tid) {
                    p.by_local_track.remove(&dt.local_track_id);
                    if let Err(e) = p.pc.remove_track(dt.sender_id) {
                        warn!(participant = %p.id, "remove_track: {e}");
                    }
                    p.negotiation_needed = true;
                }
                p.pending_subscriptions.retain(|&t| t != tid);
            }
            self.after_negotiation(sub, now);
        }
        // Sessions still waiting for their first negotiation had it queued.
        for p in self.participants.values_mut() {
            p.pending_subscriptions.retain(|&t| t != tid);
        }
    }

    /// Gives a subscriber a DownTrack of `tid`; the caller renegotiates.
    fn subscribe(&mut self, key: PKey, tid: TrackId) {
        let (Some(track), Some(p)) = (self.tracks.get_mut(&tid), self.participants.get_mut(&key))
        else {
            return;
        };
        if track.owner == key || p.downtracks.contains_key(&tid) {
            return;
        }
        if !p.negotiated_once {
            p.pending_subscriptions.push(tid);
            return;
        }
        let ssrc = rand::random::<u32>();
        let local_track_id = format!("{}-{}", track.owner_id, tid);
        let local = MediaStreamTrack::new(
            track.owner_id.0.clone(),
            local_track_id.clone(),
            format!("{} {}", track.owner_id, tid),
            track.kind.to_rtc(),
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: track.rtp_codec.clone(),
                ..Default::default()
            }],
        );
        let sender_id = match p.pc.add_track(local) {
            Ok(id) => id,
            Err(e) => {
                warn!(participant = %p.id, track = %tid, "add_track: {e}");
                return;
            }
        };
        p.by_local_track.insert(local_track_id.clone(), tid);
        p.downtracks.insert(
            tid,
            DownTrack {
                track: tid,
                sender_id,
                local_track_id,
                forwarder: Forwarder::new(
                    ssrc,
                    track.rtp_codec.clock_rate,
                    track.kind == Kind::Video,
                ),
                out_pt: None,
                counters: Default::default(),
            },
        );
        p.negotiation_needed = true;
        track.subscribers.push(key);
    }

    /// After an offer/answer: learn the negotiated payload types, ask publishers for
    /// keyframes for new subscriptions, and make the next offer if one is due.
    fn after_negotiation(&mut self, key: PKey, now: Instant) {
        let mut new_subs = Vec::new();
        if let Some(p) = self.participants.get_mut(&key) {
            for (tid, dt) in p.downtracks.iter_mut() {
                if dt.out_pt.is_some() {
                    continue;
                }
                let Some(track) = self.tracks.get(tid) else {
                    continue;
                };
                let Some(mut sender) = p.pc.rtp_sender(dt.sender_id) else {
                    continue;
                };
                let codecs = &sender.get_parameters().rtp_parameters.codecs;
                dt.out_pt = codecs
                    .iter()
                    .find(|c| {
                        c.rtp_codec
                            .mime_type
                            .eq_ignore_ascii_case(&track.rtp_codec.mime_type)
                            && c.rtp_codec.sdp_fmtp_line == track.rtp_codec.sdp_fmtp_line
                    })
                    .or_else(|| {
                        codecs.iter().find(|c| {
                            c.rtp_codec
                                .mime_type
                                .eq_ignore_ascii_case(&track.rtp_codec.mime_type)
                        })
                    })
                    .map(|c| c.payload_type);
                if dt.out_pt.is_some() {
                    new_subs.push(*tid);
                }
            }
            match p.poll_offer(now) {
                Ok(Some(sdp)) => self.events.push_back(Event::Offer {
                    participant: p.id.clone(),
                    sdp,
                }),
                Ok(None) => {}
                Err(e) => warn!(participant = %p.id, "renegotiation failed: {e}"),
            }
            let connected = p.state == TransportState::Connected;
            flush(&mut p.pc, &mut self.transmits);
            if connected {
                for tid in new_subs {
                    self.request_keyframe(tid, now);
                }
            }
        }
        self.drain(key, now);
    }

    /// Feeds one datagram received on the media socket.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.ingress.datagrams += 1;
        let kind = demux::classify(data);
        let key = match kind {
            PacketKind::Garbage => {
                self.ingress.garbage += 1;
                return;
            }
            PacketKind::Stun => match self.route_stun(from, data) {
                Some(k) => k,
                None => return,
            },
            PacketKind::Dtls | PacketKind::Rtp => match self.by_addr.get(&from) {
                Some(&k) => k,
                None => {
                    self.ingress.unknown_source += 1;
                    return;
                }
            },
        };
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        if kind == PacketKind::Rtp && !is_rtcp(data) && data.len() >= 12 {
            let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
            if !p.remote_ssrcs.is_empty()
                && !p.remote_ssrcs.contains(&ssrc)
                && !p.by_ssrc.contains_key(&ssrc)
            {
                self.ingress.unknown_ssrc += 1;
                return;
            }
        }
        let msg = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.config.local_addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        };
        if let Err(e) = p.pc.handle_read(msg) {
            self.ingress.rejected += 1;
            debug!(participant = %p.id, "rejected datagram: {e}");
        }
        self.drain(key, now);
    }

    /// Routes STUN by the server's ICE username fragment, and binds the sender's address
    /// to the session once the check's MESSAGE-INTEGRITY proves it knows the password.
    fn route_stun(&mut self, from: SocketAddr, data: &[u8]) -> Option<PKey> {
        let Some(info) = demux::parse_stun(data) else {
            self.ingress.bad_stun += 1;
            return None;
        };
        let Some(ufrag) = info.local_ufrag() else {
            // Responses and indications carry no USERNAME: they come from a bound address.
            return match self.by_addr.get(&from) {
                Some(&k) => Some(k),
                None => {
                    self.ingress.bad_stun += 1;
                    None
                }
            };
        };
        let Some(&key) = self.by_ufrag.get(ufrag) else {
            self.ingress.unknown_ufrag += 1;
            return None;
        };
        let p = self.participants.get_mut(&key)?;
        if !demux::check_integrity(data, &info, &p.ice_pwd) {
            self.ingress.bad_credentials += 1;
            return None;
        }
        match self.by_addr.get(&from) {
            Some(&owner) if owner == key => {}
            Some(&owner) => {
                // The address moved to another session (a client reconnected): rebind it.
                if let Some(old) = self.participants.get_mut(&owner) {
                    old.addrs.retain(|a| *a != from);
                }
                self.bind(key, from);
            }
            None => self.bind(key, from),
        }
        Some(key)
    }

    fn bind(&mut self, key: PKey, from: SocketAddr) {
        if let Some(p) = self.participants.get_mut(&key) {
            if let Some(evicted) = p.bind_addr(from) {
                self.by_addr.remove(&evicted);
            }
            self.by_addr.insert(from, key);
        }
    }

    /// Runs the session's timers and everyone's keyframe-request timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<PKey> = self
            .participants
            .iter_mut()
            .filter_map(|(&k, p)| p.pc.poll_timeout().is_some_and(|t| t <= now).then_some(k))
            .collect();
        for key in due {
            if let Some(p) = self.participants.get_mut(&key)
                && let Err(e) = p.pc.handle_timeout(now)
            {
                debug!(participant = %p.id, "timeout: {e}");
            }
            self.drain(key, now);
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
            if let Some(t) = p.pc.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        for t in self.tracks.values() {
            if let Some(t) = t.keyframes.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let idle = self.config.epoch.0; // never before the epoch
        Output::Timeout(next.unwrap_or(idle + MAX_IDLE).max(idle))
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

    fn on_event(&mut self, key: PKey, event: RTCPeerConnectionEvent, now: Instant) {
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
                });
            }
            RTCPeerConnectionState::Closed => p.state = TransportState::Closed,
            _ => {}
        }
    }

    fn publish(&mut self, key: PKey, init: RTCTrackEventInit, now: Instant) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        if p.published.contains_key(&init.track_id) {
            return;
        }
        let Some(receiver) = p.pc.rtp_receiver(init.receiver_id) else {
            return;
        };
        let rtc_track = receiver.track();
        let kind = Kind::from_rtc(rtc_track.kind());
        let Some(codec) = rtc_track
            .codec(init.ssrc)
            .or_else(|| rtc_track.codings().first().map(|c| &c.codec))
            .cloned()
        else {
            warn!(participant = %p.id, "track without a codec");
            return;
        };
        let tid = TrackId(self.next_track);
        self.next_track += 1;
        let track = Track::new(
            tid,
            key,
            p.id.clone(),
            kind,
            codec,
            init.ssrc,
            init.receiver_id,
            self.config.keyframe_interval,
        );
        info!(participant = %p.id, track = %tid, ?kind, codec = track.codec.as_str(), ssrc = init.ssrc, "published");
        p.published.insert(init.track_id, tid);
        p.by_ssrc.insert(init.ssrc, tid);
        self.events.push_back(Event::TrackPublished {
            participant: p.id.clone(),
            track: tid,
            kind,
        });
        let room_id = p.room.clone();
        self.tracks.insert(tid, track);
        let members = match self.rooms.get_mut(&room_id) {
            Some(room) => {
                room.tracks.push(tid);
                room.participants.clone()
            }
            None => Vec::new(),
        };
        for sub in members {
            if sub != key {
                self.subscribe(sub, tid);
                self.after_negotiation(sub, now);
            }
        }
    }

    fn on_rtp(&mut self, key: PKey, pkt: rtc::rtp::Packet, now: Instant) {
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let Some(&tid) = p.by_ssrc.get(&pkt.header.ssrc) else {
            self.ingress.unknown_ssrc += 1;
            return;
        };
        let Some(track) = self.tracks.get_mut(&tid) else {
            return;
        };
        let len = pkt.header.marshal_size() + pkt.payload.len();
        track.record_incoming(pkt.header.sequence_number, len, now);
        let info = PacketInfo {
            ssrc: pkt.header.ssrc,
            seq: pkt.header.sequence_number,
            timestamp: pkt.header.timestamp,
            keyframe: is_keyframe(track.codec, &pkt.payload),
            padding_only: pkt.payload.is_empty(),
        };
        let mut want_keyframe = false;
        for sub in &track.subscribers {
            let Some(sp) = self.participants.get_mut(sub) else {
                continue;
            };
            let Some(dt) = sp.downtracks.get_mut(&tid) else {
                continue;
            };
            let Some(pt) = dt.out_pt.filter(|_| sp.state == TransportState::Connected) else {
                dt.counters.dropped[DropReason::NotNegotiated.index()] += 1;
                continue;
            };
            match dt.forwarder.forward(&info, now) {
                Decision::Drop(reason) => {
                    dt.counters.dropped[reason.index()] += 1;
                    want_keyframe |= reason == DropReason::WaitingForKeyframe;
                }
                Decision::Forward(rw) => {
                    let out = rewritten(&pkt, pt, rw.ssrc, rw.seq, rw.timestamp);
                    let sent = out.payload.len() + 12;
                    let ok = sp
                        .pc
                        .rtp_sender(dt.sender_id)
                        .is_some_and(|mut sender| sender.write_rtp(now, out).is_ok());
                    if ok {
                        dt.counters.packets += 1;
                        dt.counters.bytes += sent as u64;
                        dt.counters.bitrate.record(sent, now);
                    } else {
                        dt.counters.dropped[DropReason::SendFailed.index()] += 1;
                    }
                    flush(&mut sp.pc, &mut self.transmits);
                }
            }
        }
        track.cache.insert(pkt.header.sequence_number, now, pkt);
        if want_keyframe {
            self.request_keyframe(tid, now);
        }
    }

    /// Asks the track's publisher for a keyframe, at most once per interval.
    pub(crate) fn request_keyframe(&mut self, tid: TrackId, now: Instant) {
        let due = self
            .tracks
            .get_mut(&tid)
            .is_some_and(|t| t.kind == Kind::Video && t.keyframes.handle_request(now));
        if due {
            self.send_pli(tid, now);
        }
    }

    fn send_pli(&mut self, tid: TrackId, now: Instant) {
        let Some(track) = self.tracks.get_mut(&tid) else {
            return;
        };
        let Some(p) = self.participants.get_mut(&track.owner) else {
            return;
        };
        track.counters.plis += 1;
        debug!(track = %tid, ssrc = track.ssrc, "PLI to the publisher");
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: track.ssrc,
        };
        if let Some(mut receiver) = p.pc.rtp_receiver(track.receiver_id)
            && let Err(e) = receiver.write_rtcp(now, vec![Box::new(pli)])
        {
            debug!(participant = %p.id, "PLI: {e}");
        }
        flush(&mut p.pc, &mut self.transmits);
    }

    pub(crate) fn push_transmits(&mut self, key: PKey) {
        if let Some(p) = self.participants.get_mut(&key) {
            flush(&mut p.pc, &mut self.transmits);
        }
    }
}

/// The packet as one subscriber receives it: the shared payload under a rewritten header.
/// Header extensions are not forwarded, since their ids are negotiated per session.
pub(crate) fn rewritten(
    pkt: &rtc::rtp::Packet,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            padding: false,
            extension: false,
            marker: pkt.header.marker,
            payload_type,
            sequence_number: seq,
            timestamp,
            ssrc,
            csrc: Vec::new(),
            extension_profile: 0,
            extensions: Vec::new(),
            extensions_padding: 0,
        },
        payload: pkt.payload.clone(),
    }
}

/// RTCP packet types 192–223 share the first-byte range with RTP (RFC 5761).
fn is_rtcp(data: &[u8]) -> bool {
    data.get(1).is_some_and(|b| (192..=223).contains(b))
}

pub(crate) fn flush(pc: &mut RTCPeerConnection, out: &mut VecDeque<Transmit>) {
    while let Some(w) = pc.poll_write() {
        out.push_back(Transmit {
            to: w.transport.peer_addr,
            data: w.message,
        });
    }
}
