//! One load-generator peer: a WebRTC client on the `rtc` crates (ICE, DTLS-SRTP, RTP), or a
//! plain-UDP client of the relay baseline, publishing synthetic media and timing what it
//! receives. Sans-IO apart from its own non-blocking socket; the engine drives it.

use crate::media::{self, Clock, Kind, Stamp};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodecParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use sfu::core::session::config::udp_datagram;
use sfu::testkit::peer::encoding;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Why a peer could not be set up or negotiated.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The WebRTC stack refused something.
    #[error("webrtc: {0}")]
    Rtc(#[from] rtc::shared::error::Error),
    /// A socket error.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// A plain relay peer has no SDP.
    #[error("not a WebRTC peer")]
    NotRtc,
    /// The engine thread that runs the peer is gone.
    #[error("the engine thread is gone")]
    EngineGone,
}

/// What a peer does.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    /// Its id, carried in every payload it publishes.
    pub id: u32,
    /// Whether it publishes audio and video.
    pub publish: bool,
    /// Video bitrate (payload) when publishing.
    pub video_kbps: u32,
    /// Publishes video as three simulcast layers (the top one at the full rate, the others
    /// at a fraction of it); receiving, shows tiles of one of three sizes (by its id), for
    /// the SFU to pick a layer each.
    pub simulcast: bool,
    /// Its room, by number.
    pub room: u32,
}

/// The simulcast layers' rids, lowest first.
pub const RIDS: [&str; 3] = ["q", "h", "f"];

/// Each layer sends a frame out of this many (keyframes on every layer): about the share of
/// the top layer's packets that a browser's lower layers send (150 kbit/s and 500 kbit/s
/// against 1.5 Mbit/s).
pub const LAYER_EVERY: [u64; 3] = [10, 3, 1];

impl Role {
    /// The tile size a receiving peer reports for every publisher, with simulcast: one of
    /// three, so that the receivers are spread over the layers.
    pub fn tile(&self) -> (u32, u32) {
        [(320, 180), (640, 360), (1280, 720)][self.layer()]
    }

    /// The simulcast layer its tile calls for: the one as wide as the tile.
    pub fn layer(&self) -> usize {
        self.id as usize % 3
    }
}

/// Counters one peer keeps; the engine sums them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerCounters {
    /// Media packets it published (a simulcast frame counts once).
    pub sent: u64,
    /// Audio packets it published.
    pub sent_audio: u64,
    /// Video packets it published on each simulcast layer.
    pub sent_layers: [u64; 3],
    /// Media packets it received.
    pub received: u64,
    /// Payload bytes it received.
    pub received_bytes: u64,
    /// Datagrams that could not be sent (socket buffer full).
    pub send_errors: u64,
}

enum Transport {
    Rtc {
        pc: Box<RTCPeerConnection>,
        audio: Option<Track>,
        video: Option<Track>,
    },
    /// The relay baseline: no ICE, no DTLS, no SRTP.
    Plain { relay: SocketAddr },
}

struct Track {
    sender: RTCRtpSenderId,
    pt: u8,
    /// One stream, or a simulcast video's layers, lowest first.
    streams: Vec<Stream>,
    /// RTP clock ticks between two packets.
    ts_step: u32,
    /// Frames sent, for the lower layers' share of them.
    frames: u64,
    /// The ids of the mid and rid header extensions, and the mid, once negotiated (for
    /// simulcast layers).
    rid_exts: Option<(u8, u8, bytes::Bytes)>,
}

struct Stream {
    ssrc: u32,
    rid: Option<&'static str>,
    seq: u16,
    ts: u32,
}

/// A peer and its socket.
pub struct LoadPeer {
    /// What it does.
    pub role: Role,
    /// Its socket, registered with the engine's poll.
    pub socket: mio::net::UdpSocket,
    local: SocketAddr,
    transport: Transport,
    /// Whether media can flow (WebRTC connected, or relay registered).
    pub connected: bool,
    /// Live counters.
    pub counters: PeerCounters,
    next_audio: Instant,
    next_video: Instant,
    video_interval: Duration,
    last_keyframe: Option<Instant>,
    media_seq: [u32; 2],
    /// The WebRTC stack's next timer.
    pub rtc_timeout: Option<Instant>,
}

/// The codec a peer sends, with its payload type: the SFU's first (preferred) one of the
/// kind, Opus or VP8.
fn codec(kind: RtpCodecKind) -> RTCRtpCodecParameters {
    let codecs = if kind == RtpCodecKind::Audio {
        sfu::core::session::config::audio_codecs()
    } else {
        sfu::core::session::config::video_codecs()
    };
    // Both lists are non-empty constants of the media plane.
    codecs
        .into_iter()
        .next()
        .expect("the SFU offers at least one codec of each kind")
}

fn bind() -> std::io::Result<(mio::net::UdpSocket, SocketAddr)> {
    let std = std::net::UdpSocket::bind("127.0.0.1:0")?;
    std.set_nonblocking(true)?;
    let local = std.local_addr()?;
    Ok((mio::net::UdpSocket::from_std(std), local))
}

/// A PeerConnection on `local`, with no interceptors: a load test needs no NACKs or
/// reports from the generator, and it keeps the generator cheap.
fn peer_connection(local: SocketAddr, now: Instant) -> Result<RTCPeerConnection, PeerError> {
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(sfu::core::session::config::media_engine()?)
        .with_interceptor_registry(rtc::interceptor::Registry::new())
        .build(now)?;
    sfu::core::session::config::add_host_candidate(&mut pc, local)?;
    Ok(pc)
}

impl LoadPeer {
    fn with_transport(
        role: Role,
        socket: mio::net::UdpSocket,
        local: SocketAddr,
        transport: Transport,
        now: Instant,
    ) -> LoadPeer {
        let pps = media::video_pps(role.video_kbps.max(1));
        LoadPeer {
            role,
            socket,
            local,
            transport,
            connected: false,
            counters: PeerCounters::default(),
            next_audio: now,
            next_video: now,
            video_interval: Duration::from_secs_f64(1.0 / pps),
            last_keyframe: None,
            media_seq: [0; 2],
            rtc_timeout: None,
        }
    }

    /// A WebRTC peer and its first offer. Like a browser it offers its tracks (or nothing),
    /// and the SFU offers the subscriptions later.
    pub fn rtc(role: Role, now: Instant) -> Result<(LoadPeer, String), PeerError> {
        let (socket, local) = bind()?;
        let mut pc = peer_connection(local, now)?;
        let (mut audio, mut video) = (None, None);
        if role.publish {
            let video_pps = media::video_pps(role.video_kbps.max(1));
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                let codec = codec(kind);
                let rids: Vec<Option<&'static str>> =
                    if role.simulcast && kind == RtpCodecKind::Video {
                        RIDS.iter().copied().map(Some).collect()
                    } else {
                        vec![None]
                    };
                let streams: Vec<Stream> = rids
                    .into_iter()
                    .map(|rid| Stream {
                        ssrc: rand::random(),
                        rid,
                        seq: rand::random(),
                        ts: rand::random(),
                    })
                    .collect();
                let name = format!("lg{}-{kind}", role.id);
                let encodings = streams
                    .iter()
                    .map(|s| encoding(s.rid, s.ssrc, codec.rtp_codec.clone()))
                    .collect();
                let track = MediaStreamTrack::new(
                    format!("lg{}", role.id),
                    name.clone(),
                    name,
                    kind,
                    encodings,
                );
                let sender = pc.add_track(track)?;
                let mut t = Track {
                    sender,
                    pt: codec.payload_type,
                    streams,
                    // 20 ms of 48 kHz audio.
                    ts_step: 960,
                    frames: 0,
                    rid_exts: None,
                };
                if kind == RtpCodecKind::Audio {
                    audio = Some(t);
                } else {
                    t.ts_step = (90_000.0 / video_pps) as u32;
                    video = Some(t);
                }
            }
        } else {
            // Like a browser with nothing to send: receive-only m-lines, so the offer
            // carries ICE and DTLS parameters.
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )?;
            }
        }
        let offer = pc.create_offer(None)?;
        pc.set_local_description(now, offer)?;
        let sdp = pc.local_description().map(|d| d.sdp).unwrap_or_default();
        let mut peer = LoadPeer::with_transport(
            role,
            socket,
            local,
            Transport::Rtc {
                pc: Box::new(pc),
                audio,
                video,
            },
            now,
        );
        peer.drain(now, &mut |_, _| {});
        Ok((peer, sdp))
    }

    /// A receive-only WebRTC peer that answers the server's offer, as a Janus subscriber
    /// does; returns it and its answer.
    pub fn rtc_answering(
        role: Role,
        offer: String,
        now: Instant,
    ) -> Result<(LoadPeer, String), PeerError> {
        let (socket, local) = bind()?;
        let transport = Transport::Rtc {
            pc: Box::new(peer_connection(local, now)?),
            audio: None,
            video: None,
        };
        let role = Role {
            publish: false,
            ..role
        };
        let mut peer = LoadPeer::with_transport(role, socket, local, transport, now);
        let sdp = peer.answer_offer(offer, now)?;
        peer.drain(now, &mut |_, _| {});
        Ok((peer, sdp))
    }

    /// A relay-baseline peer, registered with the relay for `room`.
    pub fn plain(
        role: Role,
        relay: SocketAddr,
        room: &str,
        now: Instant,
    ) -> Result<LoadPeer, PeerError> {
        let (socket, local) = bind()?;
        socket.send_to(format!("JOIN {room}").as_bytes(), relay)?;
        let mut peer =
            LoadPeer::with_transport(role, socket, local, Transport::Plain { relay }, now);
        // No handshake: registered with the relay by the datagram above.
        peer.connected = true;
        Ok(peer)
    }

    /// Applies the SFU's answer to our offer.
    pub fn apply_answer(&mut self, sdp: String, now: Instant) -> Result<(), PeerError> {
        let Transport::Rtc { pc, .. } = &mut self.transport else {
            return Err(PeerError::NotRtc);
        };
        pc.set_remote_description(now, RTCSessionDescription::answer(sdp)?)?;
        self.rtc_timeout = None;
        Ok(())
    }

    /// Answers an offer the SFU made (new subscriptions).
    pub fn answer_offer(&mut self, sdp: String, now: Instant) -> Result<String, PeerError> {
        let Transport::Rtc { pc, .. } = &mut self.transport else {
            return Err(PeerError::NotRtc);
        };
        pc.set_remote_description(now, RTCSessionDescription::offer(sdp)?)?;
        let answer = pc.create_answer(None)?;
        pc.set_local_description(now, answer)?;
        self.rtc_timeout = None;
        Ok(pc.local_description().map(|d| d.sdp).unwrap_or_default())
    }

    /// Reads every datagram waiting on the socket. `on_media` gets each media payload's
    /// stamp with its arrival time.
    pub fn on_readable(
        &mut self,
        buf: &mut [u8],
        on_media: &mut dyn FnMut(Stamp, Instant),
    ) -> Result<(), PeerError> {
        loop {
            let (n, from) = match self.socket.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            };
            let now = Instant::now();
            match &mut self.transport {
                Transport::Rtc { pc, .. } => {
                    // A datagram the stack rejects (a stray, a late retransmit) is not fatal.
                    let _ = pc.handle_read(udp_datagram(now, self.local, from, &buf[..n]));
                    self.rtc_timeout = None;
                }
                Transport::Plain { .. } => {
                    if n > 12
                        && let Some(stamp) = media::read_payload(&buf[12..n])
                    {
                        self.counters.received += 1;
                        self.counters.received_bytes += (n - 12) as u64;
                        on_media(stamp, now);
                    }
                }
            }
        }
        self.drain(Instant::now(), on_media);
        Ok(())
    }

    /// Runs the WebRTC stack's timers if due.
    pub fn on_timer(&mut self, now: Instant) {
        if let Transport::Rtc { pc, .. } = &mut self.transport
            && self.rtc_timeout.is_none_or(|t| t <= now)
        {
            let _ = pc.handle_timeout(now);
            self.rtc_timeout = None;
            self.drain(now, &mut |_, _| {});
        }
    }

    /// Sends the media that is due, if publishing.
    pub fn send_due_media(&mut self, now: Instant, clock: &Clock, scratch: &mut Vec<u8>) {
        if !self.role.publish || !self.connected {
            return;
        }
        // A generator that fell behind skips ahead rather than bursting.
        for next in [&mut self.next_audio, &mut self.next_video] {
            if now.saturating_duration_since(*next) > Duration::from_millis(200) {
                *next = now;
            }
        }
        while self.next_audio <= now {
            self.next_audio += media::AUDIO_INTERVAL;
            self.send_one(Kind::Audio, false, now, clock, scratch);
        }
        while self.next_video <= now {
            self.next_video += self.video_interval;
            let keyframe = self
                .last_keyframe
                .is_none_or(|t| now.duration_since(t) >= media::KEYFRAME_EVERY);
            if keyframe {
                self.last_keyframe = Some(now);
            }
            self.send_one(Kind::Video, keyframe, now, clock, scratch);
        }
        self.drain(now, &mut |_, _| {});
    }

    fn send_one(
        &mut self,
        kind: Kind,
        keyframe: bool,
        now: Instant,
        clock: &Clock,
        scratch: &mut Vec<u8>,
    ) {
        let seq = self.media_seq[kind as usize];
        self.media_seq[kind as usize] += 1;
        let stamp = Stamp {
            publisher: self.role.id,
            kind,
            seq,
            sent_us: clock.us(now),
        };
        match &mut self.transport {
            Transport::Rtc { pc, audio, video } => {
                let track = match kind {
                    Kind::Audio => audio.as_mut(),
                    Kind::Video => video.as_mut(),
                };
                let Some(t) = track else { return };
                // Written straight into the buffer the packets keep; every layer carries the
                // same stamp, so that whichever one a subscriber gets counts the same.
                let mut payload = Vec::with_capacity(media::payload_len(kind));
                media::write_payload(&mut payload, stamp, keyframe);
                let payload = bytes::Bytes::from(payload);
                if t.streams.len() > 1 && t.rid_exts.is_none() {
                    t.rid_exts = sfu::testkit::peer::rid_extensions(pc, t.sender);
                }
                let mut sent = false;
                let frame = t.frames;
                t.frames += 1;
                let layered = t.streams.len() > 1;
                for (layer, s) in t.streams.iter_mut().enumerate() {
                    if layered && !keyframe && frame % LAYER_EVERY[layer] != 0 {
                        continue;
                    }
                    s.seq = s.seq.wrapping_add(1);
                    s.ts = s.ts.wrapping_add(t.ts_step);
                    let mut header = rtc::rtp::header::Header {
                        version: 2,
                        // Each synthetic packet is a whole frame.
                        marker: true,
                        payload_type: t.pt,
                        sequence_number: s.seq,
                        timestamp: s.ts,
                        ssrc: s.ssrc,
                        ..Default::default()
                    };
                    if let (Some(rid), Some((mid_id, rid_id, mid))) = (s.rid, &t.rid_exts) {
                        let _ = header.set_extension(*mid_id, mid.clone());
                        let _ = header
                            .set_extension(*rid_id, bytes::Bytes::from_static(rid.as_bytes()));
                    }
                    let pkt = rtc::rtp::Packet {
                        header,
                        payload: payload.clone(),
                    };
                    if let Some(mut sender) = pc.rtp_sender(t.sender)
                        && sender.write_rtp(now, pkt).is_ok()
                    {
                        sent = true;
                        if layered {
                            self.counters.sent_layers[layer] += 1;
                        }
                    }
                }
                if sent {
                    self.counters.sent += 1;
                    if kind == Kind::Audio {
                        self.counters.sent_audio += 1;
                    }
                }
            }
            Transport::Plain { relay } => {
                // A 12-byte RTP-like header in front, so packet sizes match the SFU run; its
                // sequence number is the media's own, from 1.
                let rtp_seq = (seq as u16).wrapping_add(1);
                scratch.clear();
                scratch.extend_from_slice(&[0x80, 96]);
                scratch.extend_from_slice(&rtp_seq.to_be_bytes());
                scratch.extend_from_slice(&[0; 8]);
                media::write_payload(scratch, stamp, keyframe);
                match self.socket.send_to(scratch, *relay) {
                    Ok(_) => self.counters.sent += 1,
                    Err(_) => self.counters.send_errors += 1,
                }
            }
        }
    }

    /// Sends what the stack wrote, notes state changes, and hands received media on.
    fn drain(&mut self, now: Instant, on_media: &mut dyn FnMut(Stamp, Instant)) {
        let Transport::Rtc { pc, .. } = &mut self.transport else {
            return;
        };
        while let Some(w) = pc.poll_write() {
            if self
                .socket
                .send_to(&w.message, w.transport.peer_addr)
                .is_err()
            {
                self.counters.send_errors += 1;
            }
        }
        while let Some(ev) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = ev {
                self.connected = s == RTCPeerConnectionState::Connected;
            }
        }
        while let Some(m) = pc.poll_read() {
            if let RTCMessage::RtpPacket(_, pkt) = m.message
                && let Some(stamp) = media::read_payload(&pkt.payload)
            {
                self.counters.received += 1;
                self.counters.received_bytes += pkt.payload.len() as u64;
                on_media(stamp, now);
            }
        }
        if self.rtc_timeout.is_none() {
            self.rtc_timeout = pc.poll_timeout();
        }
    }

    /// When this peer next needs attention: its stack's timer or its next media packet.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let media =
            (self.role.publish && self.connected).then(|| self.next_audio.min(self.next_video));
        match (self.rtc_timeout, media) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes the WebRTC session.
    pub fn close(&mut self) {
        if let Transport::Rtc { pc, .. } = &mut self.transport {
            let _ = pc.close();
            while let Some(w) = pc.poll_write() {
                let _ = self.socket.send_to(&w.message, w.transport.peer_addr);
            }
        }
    }
}
