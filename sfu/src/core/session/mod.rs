//! Session: one participant's WebRTC session with the SFU. The only module that names rtc's
//! peer connection: the rest of the core speaks to a session through its verbs and reads what
//! it produced as `SessionOutput`s.
//!
//! A session terminates the participant's ICE (the SFU is ICE-lite) and DTLS-SRTP, takes the
//! participant's offers and answers, makes the SFU's own offers (when, is [`offers`]'s to
//! say), publishes what the participant sends and carries what it subscribes to, each on a
//! sender of its own. [`config`] is what every session negotiates.

pub mod config;
mod negotiation;
pub mod offers;

use crate::core::api::{IceCandidate, JoinOptions, Protocol, Remote, SelectedCandidate, Transmit};
use crate::core::codec::CodecParams;
use crate::core::codec::Kind;
use crate::core::downtrack::Negotiated;
use crate::core::error::{SfuError, rtc_err};
use crate::core::forwarder::Forwarder;
use crate::core::ids::{ParticipantId, RoomId, SessionId, TrackId};

use crate::core::sendpath::SrtpKeys;
use crate::core::throttle::Throttle;
use negotiation::{Negotiation, Sender};
use offers::ANSWER_TIMEOUT;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{RTCDtlsTransport, RTCIceCandidateInit, RTCIceProtocol};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol as _;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// The largest session description the SFU accepts.
pub const MAX_SDP_BYTES: usize = 64 * 1024;

/// How often a connected session that receives no media wakes its WebRTC stack. rtc's ICE
/// agent asks for a wake-up every 200 ms even once connected (its interval starts at the
/// 200 ms check interval and is only ever lowered), though a lite agent then only looks for
/// a peer gone silent; nothing else in such a session has a timer. With a hundred watchers
/// that was 500 wake-ups a second, each walking every handler of the stack: a fifth of the
/// media thread's time in `fanout`. Once a second, ICE's 5 s disconnection timeout is still
/// noticed within a second. Sessions that publish are left alone: their NACK and TWCC
/// feedback timers need the stack's own pace.
const QUIET_TICK: Duration = Duration::from_secs(1);

/// Where the session's transport is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TransportState {
    /// Waiting for ICE and DTLS.
    New,
    /// Media can flow.
    Connected,
    /// ICE or DTLS failed, or the peer went away.
    Failed,
    /// Closed by the SFU.
    Closed,
}

/// Which receiver of a session a published track arrives on: for keyframe requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Receiver(RTCRtpReceiverId);

/// A track the participant started publishing (its first packet arrived).
#[derive(Debug)]
pub(crate) struct OpenedTrack {
    /// The session's own id for it, which it names again when the track closes.
    pub(crate) local_id: String,
    pub(crate) ssrc: u32,
    /// Its RTP stream id, if it is a simulcast layer.
    pub(crate) rid: Option<String>,
    pub(crate) kind: Kind,
    pub(crate) codec: CodecParams,
    pub(crate) receiver: Receiver,
    /// The id of the audio-level header extension (RFC 6464) on its packets, if negotiated.
    pub(crate) audio_level_ext: Option<u8>,
}

/// Another simulcast layer of a track that is open.
#[derive(Debug)]
pub(crate) struct OpenedLayer {
    /// The session's id for the track.
    pub(crate) local_id: String,
    pub(crate) rid: String,
    pub(crate) ssrc: u32,
}

/// What a session produced, for the core to act on.
pub(crate) enum SessionOutput {
    /// A datagram to send.
    Transmit(Transmit),
    /// The transport changed state.
    State(TransportState),
    /// A track started.
    TrackOpened(OpenedTrack),
    /// Another layer of a track started.
    LayerOpened(OpenedLayer),
    /// A track ended (its local id).
    TrackClosed(String),
    /// Media from the participant.
    Rtp(rtc::rtp::Packet),
    /// Feedback from the participant about what it receives on the local track named.
    Rtcp {
        local_track: String,
        packets: Vec<Box<dyn rtc::rtcp::Packet>>,
    },
}

/// One WebRTC session.
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) participant: ParticipantId,
    pub(crate) room: RoomId,
    pc: RTCPeerConnection,
    ice_pwd: String,
    negotiation: Negotiation,
    /// Published tracks by the session's local id for them.
    published: HashMap<String, TrackId>,
    /// Published tracks by the SSRC they arrive with.
    by_ssrc: HashMap<u32, TrackId>,
    /// SSRCs the remote description announced; empty when it announced none.
    remote_ssrcs: HashSet<u32>,
    /// Subscriptions, by the track they forward, with the sender that carries each.
    subscriptions: HashMap<TrackId, Sender>,
    /// Subscriptions by the local track id that RTCP feedback names.
    by_local_track: HashMap<String, TrackId>,
    /// Transport state, as last reported by the WebRTC stack.
    pub(crate) state: TransportState,
    /// When the session joined.
    pub(crate) joined_at: Instant,
    /// The latest round-trip time its receiver reports gave.
    pub(crate) rtt: Option<Duration>,
    /// Its video is a screen share, which subscribers' layers favour.
    pub(crate) screen_share: bool,
    /// What it may do: receive, publish audio, publish video.
    pub(crate) options: JoinOptions,
    /// Its selected ICE pair, as last read from the transport.
    pub(crate) selected: Option<SelectedCandidate>,
    /// The addresses of the candidates the client sent, with their types (the first few).
    candidate_types: Vec<(Remote, String)>,
    /// Its room talks peer to peer: the descriptions it is sent pause its simulcast layers.
    pub(crate) layers_paused: bool,
    /// Refused offers and answers, for the log.
    refusals: Throttle,
    /// Tracks to subscribe to once the client's first offer has been applied.
    deferred: Vec<TrackId>,
    /// When the stack's timers last ran.
    last_tick: Option<Instant>,
    /// When the stack's timers are next due, as last read.
    stack_deadline: Option<Instant>,
}

impl Session {
    /// A session for `participant` in `room`, reachable at `announce` (and over ICE-TCP at
    /// `tcp`). Returns it with its ICE username fragment, which routes the participant's
    /// connectivity checks to it.
    pub(crate) fn new(
        id: SessionId,
        participant: ParticipantId,
        room: RoomId,
        announce: SocketAddr,
        tcp: Option<SocketAddr>,
        now: Instant,
    ) -> Result<(Session, String), SfuError> {
        let ice_ufrag = random_token(16);
        let ice_pwd = random_token(32);
        let setting_engine = SettingEngineBuilder::new()
            .with_lite(true)
            .with_ice_credentials(ice_ufrag.clone(), ice_pwd.clone())
            // A client's `.local` candidate must not make the server multicast on its LAN:
            // as ICE-lite it learns the client's addresses from the client's own checks.
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let mut media_engine = config::media_engine().map_err(rtc_err)?;
        let registry = config::registry(&mut media_engine).map_err(rtc_err)?;
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(setting_engine)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(rtc_err)?;
        config::add_host_candidate(&mut pc, announce).map_err(rtc_err)?;
        if let Some(tcp) = tcp {
            config::add_tcp_candidate(&mut pc, tcp).map_err(rtc_err)?;
        }
        let session = Session {
            id,
            participant,
            room,
            pc,
            ice_pwd,
            negotiation: Negotiation::default(),
            published: HashMap::new(),
            by_ssrc: HashMap::new(),
            remote_ssrcs: HashSet::new(),
            subscriptions: HashMap::new(),
            by_local_track: HashMap::new(),
            state: TransportState::New,
            joined_at: now,
            rtt: None,
            screen_share: false,
            selected: None,
            options: JoinOptions::default(),
            candidate_types: Vec::new(),
            layers_paused: false,
            refusals: Throttle::default(),
            deferred: Vec::new(),
            last_tick: None,
            stack_deadline: None,
        };
        Ok((session, ice_ufrag))
    }

    /// The password a connectivity check must be signed with.
    pub(crate) fn ice_password(&self) -> &str {
        &self.ice_pwd
    }

    /// Whether RTP with this SSRC may come from this session: one of its tracks, or one its
    /// description announced (or it announced none).
    pub(crate) fn expects_ssrc(&self, ssrc: u32) -> bool {
        self.remote_ssrcs.is_empty()
            || self.remote_ssrcs.contains(&ssrc)
            || self.by_ssrc.contains_key(&ssrc)
    }

    /// The published track RTP with this SSRC belongs to.
    pub(crate) fn track_of_ssrc(&self, ssrc: u32) -> Option<TrackId> {
        self.by_ssrc.get(&ssrc).copied()
    }

    /// The subscription RTCP about the local track `local_track` is about.
    pub(crate) fn subscription_of(&self, local_track: &str) -> Option<TrackId> {
        self.by_local_track.get(local_track).copied()
    }

    /// Feeds one datagram from `from`, received on `local`.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: Remote,
        data: &[u8],
    ) -> Result<(), SfuError> {
        self.pc
            .handle_read(config::datagram(now, local, from, data))
            .map_err(rtc_err)
    }

    /// The next thing the session produced: a datagram, a state change, a track opened or
    /// closed, media, feedback. Events come first, then what was read, then what to send.
    pub(crate) fn poll_output(&mut self) -> Option<SessionOutput> {
        while let Some(event) = self.pc.poll_event() {
            if let Some(out) = self.on_event(event) {
                return Some(out);
            }
        }
        while let Some(m) = self.pc.poll_read() {
            match m.message {
                RTCMessage::RtpPacket(_, pkt) => return Some(SessionOutput::Rtp(pkt)),
                RTCMessage::RtcpPacket(local_track, packets) => {
                    return Some(SessionOutput::Rtcp {
                        local_track,
                        packets,
                    });
                }
                _ => {}
            }
        }
        self.pc.poll_write().map(|w| {
            SessionOutput::Transmit(Transmit {
                to: w.transport.peer_addr,
                protocol: protocol_of(w.transport.transport_protocol),
                data: w.message,
            })
        })
    }

    fn on_event(&mut self, event: RTCPeerConnectionEvent) -> Option<SessionOutput> {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                debug!(participant = %self.participant, %state, "connection state");
                self.state = match state {
                    RTCPeerConnectionState::Connected => TransportState::Connected,
                    RTCPeerConnectionState::Failed => TransportState::Failed,
                    RTCPeerConnectionState::Closed => TransportState::Closed,
                    _ => return None,
                };
                Some(SessionOutput::State(self.state))
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                if self.published.contains_key(&init.track_id) {
                    // Another simulcast layer of a track already open.
                    return init.rid.map(|rid| {
                        SessionOutput::LayerOpened(OpenedLayer {
                            local_id: init.track_id,
                            rid,
                            ssrc: init.ssrc,
                        })
                    });
                }
                let mut receiver = self.pc.rtp_receiver(init.receiver_id)?;
                let audio_level_ext = config::extension_id(
                    &receiver.get_parameters().rtp_parameters,
                    rtc::sdp::extmap::AUDIO_LEVEL_URI,
                );
                let track = receiver.track();
                let kind = Kind::from_rtc(track.kind());
                let Some(codec) = track
                    .codec(init.ssrc)
                    .or_else(|| track.codings().first().map(|c| &c.codec))
                else {
                    warn!(participant = %self.participant, "track without a codec");
                    return None;
                };
                Some(SessionOutput::TrackOpened(OpenedTrack {
                    local_id: init.track_id,
                    ssrc: init.ssrc,
                    rid: init.rid,
                    kind,
                    codec: codec_params(codec),
                    receiver: Receiver(init.receiver_id),
                    audio_level_ext,
                }))
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnClose(local_id)) => {
                Some(SessionOutput::TrackClosed(local_id))
            }
            _ => None,
        }
    }

    /// Records a track this session publishes, under the local id and SSRC it came with.
    pub(crate) fn add_published(&mut self, opened: &OpenedTrack, track: TrackId) {
        self.published.insert(opened.local_id.clone(), track);
        self.by_ssrc.insert(opened.ssrc, track);
    }

    /// Records another layer of a published track; which track it is.
    pub(crate) fn add_layer(&mut self, layer: &OpenedLayer) -> Option<TrackId> {
        let track = *self.published.get(&layer.local_id)?;
        self.by_ssrc.insert(layer.ssrc, track);
        Some(track)
    }

    /// Forgets a published track by its local id; returns which it was.
    pub(crate) fn remove_published(&mut self, local_id: &str) -> Option<TrackId> {
        let track = self.published.remove(local_id)?;
        self.by_ssrc.retain(|_, t| *t != track);
        Some(track)
    }

    /// Every track this session publishes.
    pub(crate) fn published(&self) -> impl Iterator<Item = TrackId> + '_ {
        self.published.values().copied()
    }

    /// The next instant the session needs the core: its WebRTC stack's timers, or its next
    /// offer after a failed one.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let mut stack = self.pc.poll_timeout();
        if let (Some(at), Some(last)) = (stack, self.last_tick)
            && self.state == TransportState::Connected
            && self.published.is_empty()
        {
            stack = Some(at.max(last + QUIET_TICK));
        }
        self.stack_deadline = stack;
        match (stack, self.negotiation.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the WebRTC stack's timers, if they are due. Whether they are is the deadline
    /// [`Session::poll_timeout`] last read from the stack (it is read again after every
    /// input): asking the stack again would walk every one of its handlers once more, the
    /// costliest part of a wake-up. Its handlers must not run early: the session's timer may
    /// be the negotiation's.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.stack_deadline.is_none_or(|t| t > now) {
            return;
        }
        self.last_tick = Some(now);
        if let Err(e) = self.pc.handle_timeout(now) {
            debug!(participant = %self.participant, "timeout: {e}");
        }
    }

    /// Applies the client's offer and returns the SFU's answer. A refused offer leaves the
    /// session as it was before it, and is logged.
    pub(crate) fn accept_offer(&mut self, sdp: String, now: Instant) -> Result<String, SfuError> {
        // The stack sees the client's layers unpaused whatever the client's mode: it would
        // close and reopen the track each time the pause changed.
        let sdp = simulcast_pause(&sdp, "send", false);
        let result = self
            .negotiation
            .accept_offer(&mut self.pc, sdp, now)
            .map(|answer| simulcast_pause(&answer, "recv", self.layers_paused));
        match &result {
            Ok(_) => self.remote_ssrcs = self.negotiation.take_remote_ssrcs(),
            Err(e) => {
                if let Some(n) = self.refusals.note() {
                    warn!(participant = %self.participant, code = e.code(), refusals = n, "offer refused: {e}");
                }
            }
        }
        result
    }

    /// Whether the client has made its first offer (the SFU offers only after it).
    pub(crate) fn negotiated_once(&self) -> bool {
        self.negotiation.negotiated_once()
    }

    /// Applies the client's answer to the SFU's offer. A refused answer withdraws that offer,
    /// a fresh one follows after a backoff, and the refusal is logged.
    pub(crate) fn accept_answer(&mut self, sdp: String, now: Instant) -> Result<(), SfuError> {
        match self.negotiation.accept_answer(&mut self.pc, sdp, now) {
            Ok(()) => Ok(()),
            Err((e, retry)) => {
                self.log_refused_answer(e.code(), &e, retry);
                Err(e)
            }
        }
    }

    /// The client's answer was refused before it reached the SFU; `reason` says why.
    pub(crate) fn answer_refused(&mut self, now: Instant, reason: &str) {
        let retry = self.negotiation.answer_refused(now);
        self.log_refused_answer("refused-at-edge", &reason, retry);
    }

    /// Logs a refused answer at warn (the first few of a session, then every hundredth):
    /// the client keeps its view of the session only if it learns of the refusal, so this is
    /// worth an operator's eye, with who and what comes next.
    fn log_refused_answer(
        &mut self,
        code: &str,
        why: &dyn std::fmt::Display,
        retry: Option<Duration>,
    ) {
        let Some(n) = self.refusals.note() else {
            return;
        };
        let participant = &self.participant;
        match retry {
            Some(wait) => warn!(%participant, code, refusals = n,
                "answer refused: {why}; a fresh offer follows in {wait:?}"),
            None => warn!(%participant, code, refusals = n, "answer refused: {why}"),
        }
    }

    /// Makes the SFU's next offer, if one is due.
    pub(crate) fn poll_offer(&mut self, now: Instant) -> Option<String> {
        if self.negotiation.answer_overdue(now) {
            warn!(participant = %self.participant, "no answer to the SFU's offer in {ANSWER_TIMEOUT:?} or more; offering again");
        }
        match self.negotiation.poll_offer(&mut self.pc, now) {
            Ok(offer) => offer.map(|sdp| simulcast_pause(&sdp, "recv", self.layers_paused)),
            Err(e) => {
                warn!(participant = %self.participant, "cannot make an offer: {e}");
                None
            }
        }
    }

    /// Adds a remote ICE candidate.
    pub(crate) fn add_candidate(&mut self, candidate: IceCandidate) -> Result<(), SfuError> {
        let typed = candidate_type(&candidate.candidate);
        self.pc
            .add_remote_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_mline_index,
                ..Default::default()
            })
            .map_err(|e| SfuError::BadCandidate(e.to_string()))?;
        if let Some(typed) = typed
            && self.candidate_types.len() < MAX_CANDIDATE_TYPES
        {
            self.candidate_types.push(typed);
        }
        Ok(())
    }

    /// Notes the selected pair for the reports, with the type the client gave the remote
    /// address if it sent that candidate: a pair selected from the client's checks before
    /// its candidates arrived keeps the peer-reflexive type in rtc.
    fn note_selected(&mut self, to: Remote, mut selected: SelectedCandidate) {
        if let Some((_, typ)) = self.candidate_types.iter().find(|(r, _)| *r == to) {
            selected.candidate_type = typ.clone();
        }
        self.selected = Some(selected);
    }

    /// Gives the session a sender for `track`, published by `owner`: the m-section of an
    /// ended subscription of the same kind if one is free, else a new one. The session needs
    /// an offer before media can flow. Returns the Forwarder that feeds it.
    pub(crate) fn subscribe(
        &mut self,
        track: TrackId,
        owner: &ParticipantId,
        kind: Kind,
        codec: &CodecParams,
    ) -> Result<Forwarder, SfuError> {
        let (sender, forwarder) =
            self.negotiation
                .add_sender(&mut self.pc, track, owner, kind, rtc_codec(codec))?;
        self.by_local_track
            .insert(sender.local_track_id.clone(), track);
        self.subscriptions.insert(track, sender);
        Ok(forwarder)
    }

    /// Ends a subscription: its m-section goes inactive in the next exchange, and its sender,
    /// with `forwarder`, waits for the next subscription of its kind.
    pub(crate) fn unsubscribe(&mut self, track: TrackId, forwarder: Forwarder) {
        if let Some(sender) = self.subscriptions.remove(&track) {
            self.by_local_track.remove(&sender.local_track_id);
            self.negotiation
                .remove_sender(&mut self.pc, sender, forwarder);
        }
    }

    /// Keeps `track` to subscribe to once the client's first offer is in: before it, the SFU
    /// cannot offer, and a sender added now could be matched to the wrong m-section.
    pub(crate) fn defer_subscription(&mut self, track: TrackId) {
        self.deferred.push(track);
    }

    /// Takes the subscriptions kept for after the first offer.
    pub(crate) fn take_deferred(&mut self) -> Vec<TrackId> {
        std::mem::take(&mut self.deferred)
    }

    /// Forgets a kept subscription to a track that went away.
    pub(crate) fn forget_deferred(&mut self, track: TrackId) {
        self.deferred.retain(|&t| t != track);
    }

    /// Every track this session subscribes to.
    pub(crate) fn subscriptions(&self) -> impl Iterator<Item = TrackId> + '_ {
        self.subscriptions.keys().copied()
    }

    /// What a subscription sends with (payload type, header extensions), once both sides
    /// have agreed that its m-section sends: `None` while that exchange is still under way.
    pub(crate) fn negotiated(&mut self, track: TrackId, codec: &CodecParams) -> Option<Negotiated> {
        let sender = self.subscriptions.get(&track)?;
        negotiation::negotiated(&mut self.pc, sender, codec)
    }

    /// What the send path needs once the transport is up: the SRTP keys DTLS derived for
    /// what the SFU sends, and the address of the selected ICE pair.
    pub(crate) fn send_transport(&mut self) -> Option<(SrtpKeys, Remote)> {
        let (keys, (to, selected)) = self.with_transport(|t| {
            let keys = t.local_srtp_keys()?;
            let keys = SrtpKeys {
                profile: keys.profile,
                master_key: keys.master_key.clone(),
                master_salt: keys.master_salt.clone(),
            };
            Some((keys, selected_remote(t)?))
        })?;
        self.note_selected(to, selected);
        Some((keys, to))
    }

    /// The remote address of the selected ICE pair: where the participant's media goes.
    pub(crate) fn destination(&mut self) -> Option<Remote> {
        let (to, selected) = self.with_transport(selected_remote)?;
        self.note_selected(to, selected);
        Some(to)
    }

    /// Calls `f` with the session's (bundled) DTLS transport, reached through any
    /// negotiated transceiver that receives or sends: rtc offers no other way to it. A
    /// session whose every m-section is inactive has none yet.
    fn with_transport<T>(&mut self, f: impl Fn(&RTCDtlsTransport<'_>) -> Option<T>) -> Option<T> {
        let transceivers: Vec<_> = self.pc.get_transceivers().collect();
        transceivers.into_iter().find_map(|id| {
            if let Some(found) = self
                .pc
                .rtp_receiver(RTCRtpReceiverId::from(id))
                .and_then(|r| f(&r.transport()?))
            {
                return Some(found);
            }
            let sender = self.pc.rtp_sender(RTCRtpSenderId::from(id))?;
            f(&sender.transport()?)
        })
    }

    /// Asks the publisher of the track arriving on `receiver` (SSRC `media_ssrc`) for a
    /// keyframe.
    pub(crate) fn send_pli(&mut self, now: Instant, receiver: Receiver, media_ssrc: u32) {
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        if let Some(mut r) = self.pc.rtp_receiver(receiver.0)
            && let Err(e) = r.write_rtcp(now, vec![Box::new(pli)])
        {
            debug!(participant = %self.participant, "PLI: {e}");
        }
    }

    /// Closes the peer connection; what it still has to send is left in its output.
    pub(crate) fn close(&mut self) {
        if let Err(e) = self.pc.close() {
            debug!(participant = %self.participant, "close: {e}");
        }
    }
}

/// The remote address of the transport's selected ICE candidate pair.
/// `sdp` with the simulcast layers of direction `dir` (`send` or `recv`) paused (`~rid`) or
/// not. Browsers take the pause state of every description they apply as whether to send
/// each layer, so what the SFU receives is described as the room is: paused while it talks
/// peer to peer, sent while the SFU forwards. Otherwise a description made from an offer of
/// the other mode would stop, or start, the client's layers behind its back.
pub(crate) fn simulcast_pause(sdp: &str, dir_wanted: &str, paused: bool) -> String {
    if !sdp.contains("a=simulcast:") {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + 8);
    for line in sdp.split_inclusive('\n') {
        let Some(rest) = line.strip_prefix("a=simulcast:") else {
            out.push_str(line);
            continue;
        };
        let (body, eol) = rest.split_at(rest.trim_end_matches(['\r', '\n']).len());
        let mut words = body.split(' ');
        out.push_str("a=simulcast:");
        let mut first = true;
        while let Some(dir) = words.next() {
            let list = words.next().unwrap_or_default();
            if !first {
                out.push(' ');
            }
            first = false;
            out.push_str(dir);
            out.push(' ');
            if dir != dir_wanted {
                out.push_str(list);
                continue;
            }
            let ids: Vec<String> = list
                .split(';')
                .map(|id| {
                    let id = id.trim_start_matches('~');
                    if paused {
                        format!("~{id}")
                    } else {
                        id.to_owned()
                    }
                })
                .collect();
            out.push_str(&ids.join(";"));
        }
        out.push_str(eol);
    }
    out
}

fn selected_remote(t: &RTCDtlsTransport<'_>) -> Option<(Remote, SelectedCandidate)> {
    let pair = t.ice_transport().get_selected_candidate_pair()?;
    let remote = pair.remote();
    let ip: std::net::IpAddr = remote.address.parse().ok()?;
    let protocol = match pair.local().protocol {
        RTCIceProtocol::Tcp => Protocol::Tcp,
        _ => Protocol::Udp,
    };
    let to = Remote {
        protocol,
        addr: SocketAddr::new(ip, remote.port),
    };
    let selected = SelectedCandidate {
        protocol,
        candidate_type: remote.typ.to_string(),
        address: to.addr.to_string(),
    };
    Some((to, selected))
}

/// Candidates of a client whose types are kept for the reports.
const MAX_CANDIDATE_TYPES: usize = 16;

/// The address and type of an ICE candidate line (`candidate:F C udp P 10.0.0.2 5000 typ
/// host …`), when it has them.
fn candidate_type(line: &str) -> Option<(Remote, String)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let protocol = match fields.get(2)?.to_ascii_lowercase().as_str() {
        "udp" => Protocol::Udp,
        "tcp" => Protocol::Tcp,
        _ => return None,
    };
    let ip: std::net::IpAddr = fields.get(4)?.parse().ok()?;
    let port: u16 = fields.get(5)?.parse().ok()?;
    let typ = fields.get(7).filter(|_| fields.get(6) == Some(&"typ"))?;
    if !matches!(*typ, "host" | "srflx" | "prflx" | "relay") {
        return None;
    }
    let addr = SocketAddr::new(ip, port);
    Some((Remote { protocol, addr }, (*typ).to_owned()))
}

fn protocol_of(p: rtc::shared::TransportProtocol) -> Protocol {
    match p {
        rtc::shared::TransportProtocol::TCP => Protocol::Tcp,
        _ => Protocol::Udp,
    }
}

/// The SFU's description of a negotiated codec.
fn codec_params(c: &RTCRtpCodec) -> CodecParams {
    CodecParams {
        mime_type: c.mime_type.clone(),
        clock_rate: c.clock_rate,
        channels: c.channels,
        fmtp: c.sdp_fmtp_line.clone(),
    }
}

/// rtc's description of a codec the SFU forwards.
fn rtc_codec(c: &CodecParams) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: c.mime_type.clone(),
        clock_rate: c.clock_rate,
        channels: c.channels,
        sdp_fmtp_line: c.fmtp.clone(),
        rtcp_feedback: vec![],
    }
}

impl Kind {
    pub(crate) fn from_rtc(kind: RtpCodecKind) -> Kind {
        if kind == RtpCodecKind::Video {
            Kind::Video
        } else {
            Kind::Audio
        }
    }

    pub(crate) fn to_rtc(self) -> RtpCodecKind {
        match self {
            Kind::Audio => RtpCodecKind::Audio,
            Kind::Video => RtpCodecKind::Video,
        }
    }
}

/// ICE credentials: letters and digits, from the operating system's random source.
fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_line_gives_its_address_and_type() {
        let (r, t) = candidate_type(
            "candidate:1 1 UDP 2122 192.0.2.7 5000 typ srflx raddr 10.0.0.2 rport 5000",
        )
        .unwrap();
        assert_eq!(
            (r.protocol, r.addr.to_string(), t.as_str()),
            (Protocol::Udp, "192.0.2.7:5000".into(), "srflx")
        );
        let (r, t) =
            candidate_type("candidate:2 1 tcp 1518 203.0.113.9 9 typ host tcptype active").unwrap();
        assert_eq!((r.protocol, t.as_str()), (Protocol::Tcp, "host"));
        // mDNS names, unknown types and short lines are not kept.
        assert_eq!(
            candidate_type("candidate:3 1 udp 1 abcd.local 5000 typ host"),
            None
        );
        assert_eq!(
            candidate_type("candidate:4 1 udp 1 192.0.2.7 5000 typ weird"),
            None
        );
        assert_eq!(candidate_type("candidate:5 1 udp"), None);
        assert_eq!(candidate_type(""), None);
    }

    #[test]
    fn the_layers_received_are_paused_with_the_room() {
        let sdp = "v=0\r\na=rid:q recv\r\na=simulcast:recv ~q;h;~f\r\na=other\r\n";
        assert_eq!(
            simulcast_pause(sdp, "recv", false),
            "v=0\r\na=rid:q recv\r\na=simulcast:recv q;h;f\r\na=other\r\n"
        );
        assert_eq!(
            simulcast_pause(sdp, "recv", true),
            "v=0\r\na=rid:q recv\r\na=simulcast:recv ~q;~h;~f\r\na=other\r\n"
        );
        let send = "a=simulcast:send ~q;h\r\n";
        assert_eq!(
            simulcast_pause(send, "recv", false),
            send,
            "only the direction named"
        );
        assert_eq!(
            simulcast_pause(send, "send", false),
            "a=simulcast:send q;h\r\n"
        );
        assert_eq!(simulcast_pause("v=0\r\n", "recv", true), "v=0\r\n");
    }

    #[test]
    fn tokens_are_random_alphanumerics() {
        let a = random_token(16);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_token(16));
    }
}
