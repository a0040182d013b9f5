//! A test peer without IO: a full-ICE WebRTC client built on the same `rtc` crates as the SFU,
//! publishing synthetic Opus and video whose payloads carry the publisher's index and a
//! counter, and recording what it receives. It is handed datagrams and the time, and says what
//! to send and when to wake it: [`super::udp`] drives it on a real socket, [`super::sim`] in
//! memory with a virtual clock.

use super::{AUDIO, MAGIC, PeerOptions, PeerStats, Sabotage, VIDEO, VideoCodec, lock};
use bytes::{Bytes, BytesMut};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_nack, configure_rtcp_reports, configure_twcc,
};
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection};
use rtc::sansio::Protocol;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a peer's failure is.
pub type PeerError = Box<dyn std::error::Error + Send + Sync>;

/// How often a publishing peer sends a packet of each kind.
pub const TICK: Duration = Duration::from_millis(20);

/// One of the peer's outgoing tracks.
struct Sender {
    kind: u8,
    id: RTCRtpSenderId,
    pt: u8,
    /// One stream, or a simulcast camera's three layers (lowest first).
    streams: Vec<Stream>,
}

/// One RTP stream of a sender: a simulcast layer, or the only stream.
struct Stream {
    ssrc: u32,
    /// Its RTP stream id, for a simulcast layer.
    rid: Option<&'static str>,
    seq: u16,
    ts: u32,
    /// Its first sequence number: only its first packets name the layer.
    first_seq: u16,
}

/// Like a browser (which stops once the receiver's reports show the stream is known), a
/// layer's first this many packets carry the mid and rid header extensions, and no others.
const NAMED_PACKETS: u16 = 100;

/// A simulcast camera's layers: rid, packets per frame, bytes per packet. At 50 frames a
/// second that is about 150 kbit/s, 500 kbit/s and 1.5 Mbit/s, as a browser sends.
pub const SIMULCAST: [(&str, usize, usize); 3] = [("q", 1, 375), ("h", 2, 625), ("f", 4, 940)];

/// A test peer's WebRTC session and media, without IO.
pub struct PeerCore {
    index: u8,
    opts: PeerOptions,
    pc: RTCPeerConnection,
    senders: Vec<Sender>,
    want_keyframe: bool,
    stats: Arc<Mutex<PeerStats>>,
    sabotage: Arc<Mutex<VecDeque<Sabotage>>>,
    /// The SSRC each publisher's packets last came with, by publisher index.
    from_ssrc: HashMap<u8, u32>,
    /// Media stopped by the test.
    paused: bool,
}

impl PeerCore {
    /// A peer at `local`, publishing audio and video if `opts` says so.
    pub fn new(
        id: &str,
        index: u8,
        local: SocketAddr,
        opts: PeerOptions,
        stats: Arc<Mutex<PeerStats>>,
        sabotage: Arc<Mutex<VecDeque<Sabotage>>>,
        now: Instant,
    ) -> Result<PeerCore, PeerError> {
        let mut pc = build_pc(local, now).map_err(|e| e.to_string())?;
        let mut senders = Vec::new();
        if opts.publish {
            for (k, kind) in [(AUDIO, RtpCodecKind::Audio), (VIDEO, RtpCodecKind::Video)] {
                let rids: Vec<Option<&'static str>> = if k == VIDEO && opts.simulcast {
                    SIMULCAST.iter().map(|l| Some(l.0)).collect()
                } else {
                    vec![None]
                };
                let streams: Vec<Stream> = rids
                    .into_iter()
                    .map(|rid| {
                        let seq = rand::random();
                        Stream {
                            ssrc: rand::random(),
                            rid,
                            seq,
                            ts: rand::random(),
                            first_seq: seq,
                        }
                    })
                    .collect();
                let encodings = streams
                    .iter()
                    .map(|s| encoding(s.rid, s.ssrc, codec(kind, opts.video)))
                    .collect();
                let track = MediaStreamTrack::new(
                    format!("stream-{id}"),
                    format!("{id}-{k}"),
                    format!("{id}-{k}"),
                    kind,
                    encodings,
                );
                let sid = pc.add_track(track)?;
                let tid = pc.get_transceivers().last().ok_or("no transceiver")?;
                if kind == RtpCodecKind::Video {
                    // Offer every codec, ours first, as a browser does: the SFU can then send
                    // this peer any other publisher's codec.
                    let ours = codec(kind, opts.video);
                    let mut all = crate::core::session::config::video_codecs();
                    all.sort_by_key(|c| {
                        c.rtp_codec.mime_type != ours.mime_type
                            || c.rtp_codec.sdp_fmtp_line != ours.sdp_fmtp_line
                    });
                    pc.rtp_transceiver(tid)
                        .ok_or("no transceiver")?
                        .set_codec_preferences(all)?;
                }
                senders.push(Sender {
                    kind: k,
                    id: sid,
                    pt: if k == AUDIO { 111 } else { opts.video.rtp().2 },
                    streams,
                });
            }
        } else {
            // Like a browser with nothing to send: receive-only m-lines, so the offer
            // carries ICE and DTLS parameters.
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(rtc::rtp_transceiver::RTCRtpTransceiverInit {
                        direction: rtc::rtp_transceiver::RTCRtpTransceiverDirection::Recvonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )?;
            }
        }
        Ok(PeerCore {
            index,
            opts,
            pc,
            senders,
            want_keyframe: true,
            stats,
            sabotage,
            from_ssrc: HashMap::new(),
            paused: false,
        })
    }

    /// The peer's first offer.
    pub fn offer(&mut self, now: Instant) -> Result<String, PeerError> {
        let offer = self.pc.create_offer(None)?;
        self.pc.set_local_description(now, offer)?;
        Ok(self
            .pc
            .local_description()
            .ok_or("no local description")?
            .sdp)
    }

    /// Applies the SFU's answer to the first offer.
    pub fn accept_answer(&mut self, answer: String, now: Instant) -> Result<(), PeerError> {
        let answer = self.redirected(answer);
        self.pc
            .set_remote_description(now, RTCSessionDescription::answer(answer)?)?;
        Ok(())
    }

    /// Applies an offer the SFU made; returns the answer to send, spoiled if a sabotage was
    /// asked for (then the second value is true).
    pub fn answer_offer(&mut self, sdp: String, now: Instant) -> Result<(String, bool), PeerError> {
        {
            let mut st = lock(&self.stats);
            st.offers += 1;
            st.offer_sizes
                .push((sdp.len(), sdp.matches("\nm=").count()));
        }
        let sdp = self.redirected(sdp);
        let inactive = inactive_mids(&sdp);
        self.pc
            .set_remote_description(now, RTCSessionDescription::offer(sdp)?)?;
        // rtc 0.21.1 stops a transceiver whose m-section is offered inactive, and a stopped
        // one answers `recvonly` for good, even when offered inactive again. Browsers answer
        // inactive, which lets the SFU reuse the m-section: do the same.
        let ids: Vec<_> = self.pc.get_transceivers().collect();
        for t in ids {
            if let Some(mut t) = self.pc.rtp_transceiver(t)
                && t.mid().as_ref().is_some_and(|m| inactive.contains(m))
            {
                t.set_direction(RTCRtpTransceiverDirection::Inactive);
            }
        }
        let answer = self.pc.create_answer(None)?;
        self.pc.set_local_description(now, answer)?;
        let sdp = self
            .pc
            .local_description()
            .ok_or("no local description")?
            .sdp;
        // Never poisoned: holders only push or pop.
        let spoil = self.sabotage.lock().expect("sabotage lock").pop_front();
        let sdp = match spoil {
            None => sdp,
            Some(Sabotage::Garbage) => "v=0\r\nthis is no answer\r\n".to_owned(),
            Some(Sabotage::TooLarge) => {
                format!("{sdp}{}", "a=x-padding:0123456789abcdef\r\n".repeat(2500))
            }
        };
        Ok((sdp, spoil.is_some()))
    }

    /// Notes what became of an answer: refusing a sabotaged one is expected.
    pub fn answered(&self, accepted: Result<(), String>, sabotaged: bool) -> Result<(), PeerError> {
        match accepted {
            Ok(()) => lock(&self.stats).answers += 1,
            Err(_) if sabotaged => lock(&self.stats).refused_answers += 1,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// A datagram from `from`, received on `local`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), PeerError> {
        self.pc
            .handle_read(crate::core::session::config::udp_datagram(
                now, local, from, data,
            ))?;
        Ok(())
    }

    /// Records what the session delivered: its state, media, feedback.
    pub fn drain(&mut self) {
        while let Some(ev) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = ev {
                lock(&self.stats).connected = s == RTCPeerConnectionState::Connected;
            }
        }
        while let Some(m) = self.pc.poll_read() {
            match m.message {
                RTCMessage::RtpPacket(_, pkt) => {
                    if let Some((publisher, kind)) = record(&self.stats, &pkt.payload) {
                        self.from_ssrc.insert(publisher, pkt.header.ssrc);
                        note_stream(&self.stats, &pkt, publisher, kind, m.now);
                    }
                }
                RTCMessage::RtcpPacket(_, pkts) => {
                    for p in pkts {
                        let name = format!("{:?}", p.header().packet_type);
                        let mut st = lock(&self.stats);
                        *st.rtcp.entry(name).or_default() += 1;
                        if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                            st.sender_reports.insert(sr.ssrc, (sr.clone(), m.now));
                        }
                        if p.as_any().is::<PictureLossIndication>() {
                            st.plis += 1;
                            self.want_keyframe = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.pc
            .poll_write()
            .map(|w| (w.transport.peer_addr, w.message))
    }

    /// When the session's timers next need the peer.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), PeerError> {
        self.pc.handle_timeout(now)?;
        Ok(())
    }

    /// Starts or stops talking: the audio level its packets carry.
    pub fn set_talking(&mut self, on: bool) {
        self.opts.talking = on;
    }

    /// Stops or resumes sending media, as a muted camera and microphone would.
    pub fn set_publishing(&mut self, on: bool) {
        self.paused = !on;
    }

    /// Sends one packet of each kind, if connected: a keyframe when one was asked for.
    pub fn tick(&mut self, now: Instant) -> Result<(), PeerError> {
        if !lock(&self.stats).connected || self.paused {
            return Ok(());
        }
        // Keyframes only when asked: a late joiner's video proves the PLI path.
        let keyframe = std::mem::take(&mut self.want_keyframe);
        for s in &mut self.senders {
            let named_by = rid_extensions(&mut self.pc, s.id);
            let Some(mut sender) = self.pc.rtp_sender(s.id) else {
                continue;
            };
            let level_ext = crate::core::session::config::extension_id(
                &sender.get_parameters().rtp_parameters,
                rtc::sdp::extmap::AUDIO_LEVEL_URI,
            );
            for (layer, stream) in s.streams.iter_mut().enumerate() {
                let (count, size) = match stream.rid {
                    Some(_) => (SIMULCAST[layer].1, SIMULCAST[layer].2),
                    None if s.kind == VIDEO => (1, 1000),
                    None => (1, 120),
                };
                stream.ts = stream
                    .ts
                    .wrapping_add(if s.kind == AUDIO { 960 } else { 1800 });
                for part in 0..count {
                    let counter = {
                        let mut st = lock(&self.stats);
                        let c = st.sent[s.kind as usize];
                        st.sent[s.kind as usize] += 1;
                        c
                    };
                    let first = part == 0;
                    let mut payload = payload(
                        self.opts.video,
                        self.index,
                        s.kind,
                        counter,
                        keyframe && first,
                    );
                    let mut p = Vec::from(&payload[..]);
                    p[10] = layer as u8;
                    p.resize(size.max(12), 0xab);
                    payload = Bytes::from(p);
                    stream.seq = stream.seq.wrapping_add(1);
                    let mut header = rtc::rtp::header::Header {
                        version: 2,
                        marker: part + 1 == count,
                        payload_type: s.pt,
                        sequence_number: stream.seq,
                        timestamp: stream.ts,
                        ssrc: stream.ssrc,
                        ..Default::default()
                    };
                    if let Some(id) = level_ext.filter(|_| s.kind == AUDIO) {
                        let level = audio_level(self.opts.talking, counter);
                        header.set_extension(id, Bytes::copy_from_slice(&[level]))?;
                    }
                    let named = stream.seq.wrapping_sub(stream.first_seq) < NAMED_PACKETS;
                    if let (Some(rid), Some((mid_id, rid_id, mid)), true) =
                        (stream.rid, &named_by, named)
                    {
                        // As browsers do: each layer's packets name their m-section and
                        // layer, which is how the SFU learns the layer's SSRC.
                        header.set_extension(*mid_id, mid.clone())?;
                        header.set_extension(*rid_id, Bytes::from_static(rid.as_bytes()))?;
                    }
                    sender.write_rtp(now, rtc::rtp::Packet { header, payload })?;
                }
            }
        }
        Ok(())
    }

    /// Asks the SFU for a keyframe of the video from `publisher` (by its index), as a decoder
    /// that lost its reference would. False if nothing of it has arrived yet.
    pub fn request_keyframe(&mut self, now: Instant, publisher: u8) -> bool {
        let Some(&media_ssrc) = self.from_ssrc.get(&publisher) else {
            return false;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        let receiver = self.pc.get_receivers().next();
        receiver
            .and_then(|r| self.pc.rtp_receiver(r))
            .is_some_and(|mut r| r.write_rtcp(now, vec![Box::new(pli)]).is_ok())
    }

    /// Sends `bytes` as one RTCP compound, exactly as given (SRTCP-protected like any other):
    /// for tests of what the SFU makes of malformed or hostile feedback.
    pub fn send_raw_rtcp(&mut self, now: Instant, bytes: &[u8]) -> bool {
        let raw = rtc::rtcp::raw_packet::RawPacket(Bytes::copy_from_slice(bytes));
        let receiver = self.pc.get_receivers().next();
        receiver
            .and_then(|r| self.pc.rtp_receiver(r))
            .is_some_and(|mut r| r.write_rtcp(now, vec![Box::new(raw)]).is_ok())
    }

    /// Closes the session; what it still has to send stays in its output.
    pub fn close(&mut self) {
        let _ = self.pc.close();
    }

    /// Points the SFU's candidate at the shim the peer goes through, if it has one.
    fn redirected(&self, sdp: String) -> String {
        match self.opts.via {
            Some((sfu, via)) => sdp.replace(
                &format!("{} {} typ", sfu.ip(), sfu.port()),
                &format!("{} {} typ", via.ip(), via.port()),
            ),
            None => sdp,
        }
    }
}

fn codec(kind: RtpCodecKind, video: VideoCodec) -> RTCRtpCodec {
    if kind == RtpCodecKind::Audio {
        RTCRtpCodec {
            mime_type: "audio/opus".into(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
            rtcp_feedback: vec![],
        }
    } else {
        let (mime, fmtp, _) = video.rtp();
        RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback: vec![],
        }
    }
}

/// One encoding of a track sent with `ssrc` in `codec`: a simulcast layer named `rid`, or
/// the only one.
pub fn encoding(rid: Option<&str>, ssrc: u32, codec: RTCRtpCodec) -> RTCRtpEncodingParameters {
    RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            rid: rid.unwrap_or_default().to_owned(),
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec,
        ..Default::default()
    }
}

/// The ids of the mid and rid header extensions `sender` negotiated, and its mid: what a
/// simulcast layer's first packets carry.
pub fn rid_extensions(
    pc: &mut RTCPeerConnection,
    sender: RTCRtpSenderId,
) -> Option<(u8, u8, Bytes)> {
    let mid = pc
        .rtp_transceiver(sender.into())
        .and_then(|t| t.mid().clone())?;
    let params = pc
        .rtp_sender(sender)?
        .get_parameters()
        .rtp_parameters
        .clone();
    let ext = |uri| crate::core::session::config::extension_id(&params, uri);
    Some((
        ext(rtc::sdp::extmap::SDES_MID_URI)?,
        ext(rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI)?,
        Bytes::from(mid.into_bytes()),
    ))
}

/// A client peer connection at `local`, configured as a browser's: NACK, reports, and
/// transport-wide sequence numbers on what it sends.
pub(super) fn build_pc(
    local: SocketAddr,
    now: Instant,
) -> Result<RTCPeerConnection, Box<dyn std::error::Error>> {
    use crate::core::session::config;
    let mut media = config::media_engine()?;
    let registry = configure_nack(rtc::interceptor::Registry::new(), &mut media);
    let registry = configure_twcc(configure_rtcp_reports(registry), &mut media)?.with(
        config::FEEDBACK_TAP_SLOT,
        // Test peers see every RTCP packet, so tests can check reports and TWCC arrive.
        config::FeedbackTap::new(|_| true),
    );
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build(now)?;
    config::add_host_candidate(&mut pc, local)?;
    Ok(pc)
}

/// The mids of the m-sections that `sdp` offers as inactive.
fn inactive_mids(sdp: &str) -> Vec<String> {
    let mut mids = Vec::new();
    let (mut mid, mut inactive) = (None, false);
    for line in sdp.lines().chain(std::iter::once("m=")) {
        if line.starts_with("m=") {
            if let (Some(m), true) = (mid.take(), inactive) {
                mids.push(m);
            }
            inactive = false;
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            mid = Some(m.trim().to_owned());
        } else if line.trim() == "a=inactive" {
            inactive = true;
        }
    }
    mids
}

/// A payload start the SFU reads as a keyframe or not for the codec, then the marker,
/// the publisher's index, the kind and the counter. Video is padded to a realistic size.
fn payload(video: VideoCodec, index: u8, kind: u8, counter: u32, keyframe: bool) -> Bytes {
    let mut p = Vec::with_capacity(1000);
    p.extend_from_slice(&video.prefix(keyframe));
    p.extend_from_slice(&MAGIC);
    p.push(index);
    p.push(kind);
    p.extend_from_slice(&counter.to_be_bytes());
    p.resize(if kind == VIDEO { 1000 } else { 120 }, 0xab);
    Bytes::from(p)
}

/// Counts a packet of ours on its SSRC.
fn note_stream(
    stats: &Arc<Mutex<PeerStats>>,
    pkt: &rtc::rtp::Packet,
    publisher: u8,
    kind: u8,
    now: Instant,
) {
    let mut st = lock(stats);
    let s = st
        .streams
        .entry(pkt.header.ssrc)
        .or_insert_with(|| super::StreamSeen {
            kind,
            publisher,
            packets: 0,
            octets: 0,
            newest: (pkt.header.timestamp, now),
            last_seq: pkt.header.sequence_number.wrapping_sub(1),
            layer: 0,
            by_layer: [0; 4],
            missing: 0,
            missing_by_layer: [0; 4],
        });
    s.packets += 1;
    let seq = pkt.header.sequence_number;
    let ahead = seq.wrapping_sub(s.last_seq);
    let layer = match pkt.payload.get(10) {
        Some(&l) if kind == VIDEO => usize::from(l).min(3),
        _ => 0,
    };
    if ahead < 0x8000 {
        // A gap the SFU left in its own numbering: packets that did not arrive (yet), of
        // the layer that came before them.
        let gap = u64::from(ahead.saturating_sub(1));
        s.missing += gap;
        s.missing_by_layer[usize::from(s.layer)] += gap;
        s.last_seq = seq;
        s.layer = layer as u8;
    } else if ahead.wrapping_neg() < 0x1000 {
        // A late one, or a retransmission, filling a gap (SRTP drops duplicates).
        s.missing = s.missing.saturating_sub(1);
        s.missing_by_layer[layer] = s.missing_by_layer[layer].saturating_sub(1);
    }
    if kind == VIDEO {
        s.by_layer[layer] += 1;
    }
    s.octets += pkt.payload.len() as u64;
    if (pkt.header.timestamp.wrapping_sub(s.newest.0) as i32) > 0 {
        s.newest = (pkt.header.timestamp, now);
    }
}

/// Records a received payload; returns its publisher's index and kind, if it is one of ours.
fn record(stats: &Arc<Mutex<PeerStats>>, payload: &[u8]) -> Option<(u8, u8)> {
    let mut st = lock(stats);
    if payload.len() < 10 || payload[2..4] != MAGIC {
        st.malformed += 1;
        return None;
    }
    let counter = u32::from_be_bytes([payload[6], payload[7], payload[8], payload[9]]);
    let from = (payload[4], payload[5]);
    st.received.entry(from).or_default().insert(counter);
    Some(from)
}

/// The audio level of packet number `counter` (RFC 6464: -dBov, 0 the loudest): speech in
/// syllables with a pause between words, or a quiet room.
fn audio_level(talking: bool, counter: u32) -> u8 {
    let ms = u64::from(counter) * TICK.as_millis() as u64;
    match (talking, ms % 1_100, ms % 220) {
        (true, ..900, ..160) => 40,
        (true, ..900, _) => 75,
        _ => 95,
    }
}
