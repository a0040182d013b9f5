//! Test peers: full-ICE WebRTC clients built on the same `rtc` crates as the SFU, each on its
//! own UDP socket, publishing synthetic Opus and video whose payloads carry the publisher's
//! index and a counter, and recording what they receive.
//!
//! Used by this crate's integration tests, by the signaling tests (through Socket.IO) and by
//! the load generator. How a peer reaches the SFU is the [`Signal`] it is given.

#![allow(missing_docs)]

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
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Locks a peer's stats. A holder never panics while holding it (the peer's loop only
/// updates counters), so the lock is never poisoned and `expect` cannot fire.
fn lock(stats: &Arc<Mutex<PeerStats>>) -> std::sync::MutexGuard<'_, PeerStats> {
    stats.lock().expect("peer stats lock poisoned")
}

/// A boxed future, for [`Signal`]'s methods.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How a peer negotiates with the SFU: directly through `SfuHandle`, or over Socket.IO.
pub trait Signal: Send + Sync + 'static {
    /// Sends the peer's offer; returns the SFU's answer.
    fn offer(&self, sdp: String) -> BoxFuture<Result<String, String>>;
    /// Sends the peer's answer to an offer the SFU made.
    fn answer(&self, sdp: String) -> BoxFuture<Result<(), String>>;
}

pub const MAGIC: [u8; 2] = *b"SF";
pub const AUDIO: u8 = 0;
pub const VIDEO: u8 = 1;
const TICK: Duration = Duration::from_millis(20);

/// What a peer observed, for the test's assertions.
#[derive(Default, Debug)]
pub struct PeerStats {
    pub connected: bool,
    /// Packets sent, per kind: the next counter.
    pub sent: [u32; 2],
    /// Counters received, per (publisher index, kind).
    pub received: HashMap<(u8, u8), BTreeSet<u32>>,
    /// Packets received whose payload did not carry our marker.
    pub malformed: u64,
    /// Keyframe requests received from the SFU.
    pub plis: u64,
    /// Offers received from the SFU.
    pub offers: u64,
    /// Answers the SFU accepted.
    pub answers: u64,
    /// Answers the SFU refused (only sabotaged ones are expected to be).
    pub refused_answers: u64,
    /// Size in bytes and m-section count of each offer the SFU made, in order.
    pub offer_sizes: Vec<(usize, usize)>,
    /// RTCP received, by packet type name (for diagnostics).
    pub rtcp: HashMap<String, u64>,
}

impl PeerStats {
    pub fn got(&self, publisher: u8, kind: u8) -> usize {
        self.received.get(&(publisher, kind)).map_or(0, |s| s.len())
    }

    /// Share of counters in `from..to` that arrived.
    pub fn ratio(&self, publisher: u8, kind: u8, from: u32, to: u32) -> f64 {
        let Some(set) = self.received.get(&(publisher, kind)) else {
            return 0.0;
        };
        let n = set.range(from..to).count();
        n as f64 / (to - from).max(1) as f64
    }
}

/// Asserts that `receiver` got at least `min` of what `sender` sent of `kind` between the
/// two readings of its `sent` counters. Takes the receiver's stats lock: hold none.
pub fn assert_delivered(
    receiver: &Peer,
    sender: &Peer,
    kind: u8,
    (start, end): ([u32; 2], [u32; 2]),
    min: f64,
) -> f64 {
    let (from, to) = (start[kind as usize], end[kind as usize]);
    assert!(
        to - from >= 50,
        "{} sent only {} packets",
        sender.id,
        to - from
    );
    let ratio = receiver.stats().ratio(sender.index, kind, from, to);
    assert!(
        ratio >= min,
        "{} received {:.2}% of {}'s kind {kind} (at least {:.0}% expected)",
        receiver.id,
        ratio * 100.0,
        sender.id,
        min * 100.0
    );
    ratio
}

/// Options of one test peer.
#[derive(Clone, Copy)]
pub struct PeerOptions {
    pub publish: bool,
    /// The video codec it publishes.
    pub video: VideoCodec,
    /// Reach the SFU (first address) through another (second; a lossy shim): the SFU's
    /// candidate in every description is rewritten to it.
    pub via: Option<(SocketAddr, SocketAddr)>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            publish: true,
            video: VideoCodec::Vp8,
            via: None,
        }
    }
}

/// How a peer spoils one of its answers, to test the SFU's recovery from a refused one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Sends text that is no session description.
    Garbage,
    /// Pads the real answer past the 64 KiB that signaling accepts.
    TooLarge,
}

/// A running peer.
pub struct Peer {
    /// The participant id.
    pub id: String,
    pub index: u8,
    pub stats: Arc<Mutex<PeerStats>>,
    /// Spoils the next answers, one entry each, front first.
    pub sabotage: Arc<Mutex<std::collections::VecDeque<Sabotage>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    /// Starts a peer. `offers` carries the offers the SFU makes to it, in order.
    pub fn spawn(
        signal: Arc<dyn Signal>,
        offers: mpsc::UnboundedReceiver<String>,
        id: &str,
        index: u8,
        opts: PeerOptions,
    ) -> Peer {
        let stats: Arc<Mutex<PeerStats>> = Arc::default();
        let sabotage: Arc<Mutex<std::collections::VecDeque<Sabotage>>> = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (st, sab) = (stats.clone(), sabotage.clone());
        let p = id.to_owned();
        let task = tokio::spawn(async move {
            let ctl = Control {
                stats: st,
                sabotage: sab,
            };
            if let Err(e) = run_peer(signal, p.clone(), index, opts, ctl, offers, stop_rx).await {
                panic!("peer {p} failed: {e}");
            }
        });
        Peer {
            id: id.to_owned(),
            index,
            stats,
            sabotage,
            stop: Some(stop_tx),
            task,
        }
    }
    pub fn stats(&self) -> std::sync::MutexGuard<'_, PeerStats> {
        lock(&self.stats)
    }

    /// Spoils the peer's next answer in this way.
    pub fn sabotage_next_answer(&self, how: Sabotage) {
        // Never poisoned: holders only push or pop.
        self.sabotage.lock().expect("sabotage lock").push_back(how);
    }

    /// Stops the peer without telling the SFU (the caller calls `leave`).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// Whether each peer has received more than `min` audio and video packets from every
/// other one.
pub fn everyone_receives(peers: &[&Peer], min: usize) -> bool {
    peers.iter().all(|p| {
        let st = p.stats();
        peers
            .iter()
            .filter(|o| o.index != p.index)
            .all(|o| st.got(o.index, AUDIO) > min && st.got(o.index, VIDEO) > min)
    })
}

/// The video codecs a test peer can publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    H264,
    Vp9,
    Av1,
}

impl VideoCodec {
    fn rtp(self) -> (&'static str, &'static str, u8) {
        match self {
            VideoCodec::Vp8 => ("video/VP8", "", 96),
            VideoCodec::Vp9 => ("video/VP9", "profile-id=0", 98),
            VideoCodec::H264 => (
                "video/H264",
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                102,
            ),
            VideoCodec::Av1 => ("video/AV1", "", 45),
        }
    }

    /// Two bytes that make the payload look like the start of a keyframe, or of a delta
    /// frame, to the SFU's keyframe detection for this codec.
    fn prefix(self, keyframe: bool) -> [u8; 2] {
        match (self, keyframe) {
            (VideoCodec::Vp8, true) => [0x10, 0x00],
            (VideoCodec::Vp8, false) => [0x10, 0x01],
            (VideoCodec::H264, true) => [0x65, 0x88],
            (VideoCodec::H264, false) => [0x41, 0x9a],
            (VideoCodec::Vp9, true) => [0x08, 0x00],
            (VideoCodec::Vp9, false) => [0x48, 0x00],
            (VideoCodec::Av1, true) => [0x08, 0x00],
            (VideoCodec::Av1, false) => [0x00, 0x00],
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

struct Sender {
    id: RTCRtpSenderId,
    ssrc: u32,
    pt: u8,
    seq: u16,
    ts: u32,
}

fn build_pc(local: SocketAddr) -> Result<RTCPeerConnection, Box<dyn std::error::Error>> {
    let mut media = crate::core::session::config::media_engine()?;
    // Like a browser: NACK, reports, and transport-wide sequence numbers on what it sends.
    let registry = configure_nack(rtc::interceptor::Registry::new(), &mut media);
    let registry = configure_twcc(configure_rtcp_reports(registry), &mut media)?.with(
        crate::core::session::config::FEEDBACK_TAP_SLOT,
        // Test peers see every RTCP packet, so tests can check reports and TWCC arrive.
        crate::core::session::config::FeedbackTap::new(|_| true),
    );
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build(Instant::now())?;
    crate::core::session::config::add_host_candidate(&mut pc, local)?;
    Ok(pc)
}

/// Points the answer's candidate at the shim instead of the SFU.
fn redirect(sdp: &str, sfu: SocketAddr, via: SocketAddr) -> String {
    sdp.replace(
        &format!("{} {} typ", sfu.ip(), sfu.port()),
        &format!("{} {} typ", via.ip(), via.port()),
    )
}

/// What a peer's loop shares with its handle.
struct Control {
    stats: Arc<Mutex<PeerStats>>,
    sabotage: Arc<Mutex<std::collections::VecDeque<Sabotage>>>,
}

async fn run_peer(
    signal: Arc<dyn Signal>,
    id: String,
    index: u8,
    opts: PeerOptions,
    ctl: Control,
    mut offers: mpsc::UnboundedReceiver<String>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stats = ctl.stats;
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let mut pc = build_pc(local).map_err(|e| e.to_string())?;
    let mut senders: Vec<(u8, Sender)> = Vec::new();
    if opts.publish {
        for (k, kind) in [(AUDIO, RtpCodecKind::Audio), (VIDEO, RtpCodecKind::Video)] {
            let ssrc = rand::random::<u32>();
            let track = MediaStreamTrack::new(
                format!("stream-{id}"),
                format!("{id}-{k}"),
                format!("{id}-{k}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec(kind, opts.video),
                    ..Default::default()
                }],
            );
            let sid = pc.add_track(track)?;
            if kind == RtpCodecKind::Video {
                // Offer every codec, ours first, as a browser does: the SFU can then send this
                // peer any other publisher's codec.
                let ours = codec(kind, opts.video);
                let mut all = crate::core::session::config::video_codecs();
                all.sort_by_key(|c| {
                    c.rtp_codec.mime_type != ours.mime_type
                        || c.rtp_codec.sdp_fmtp_line != ours.sdp_fmtp_line
                });
                let tid = pc.get_transceivers().last().ok_or("no transceiver")?;
                pc.rtp_transceiver(tid)
                    .ok_or("no transceiver")?
                    .set_codec_preferences(all)?;
            }
            senders.push((
                k,
                Sender {
                    id: sid,
                    ssrc,
                    pt: if k == AUDIO { 111 } else { opts.video.rtp().2 },
                    seq: rand::random(),
                    ts: rand::random(),
                },
            ));
        }
    }
    let offer = pc.create_offer(None)?;
    pc.set_local_description(Instant::now(), offer)?;
    let sdp = pc.local_description().ok_or("no local description")?.sdp;
    let mut answer = signal.offer(sdp).await?;
    if let Some((sfu, via)) = opts.via {
        answer = redirect(&answer, sfu, via);
    }
    pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(answer)?)?;

    let mut buf = vec![0u8; 2048];
    let mut ticker = tokio::time::interval(TICK);
    let mut want_keyframe = true;
    loop {
        while let Some(w) = pc.poll_write() {
            let _ = socket.send_to(&w.message, w.transport.peer_addr).await;
        }
        while let Some(ev) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = ev {
                lock(&stats).connected = s == RTCPeerConnectionState::Connected;
            }
        }
        while let Some(m) = pc.poll_read() {
            match m.message {
                RTCMessage::RtpPacket(_, pkt) => record(&stats, &pkt.payload),
                RTCMessage::RtcpPacket(_, pkts) => {
                    for p in pkts {
                        let name = format!("{:?}", p.header().packet_type);
                        *lock(&stats).rtcp.entry(name).or_default() += 1;
                        if p.as_any().is::<PictureLossIndication>() {
                            lock(&stats).plis += 1;
                            want_keyframe = true;
                        }
                    }
                }
                _ => {}
            }
        }
        let deadline = pc
            .poll_timeout()
            .unwrap_or(Instant::now() + Duration::from_secs(1));
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::select! {
            _ = &mut stop => break,
            _ = sleep => { pc.handle_timeout(Instant::now())?; }
            r = socket.recv_from(&mut buf) => {
                let (n, from) = r?;
                pc.handle_read(TaggedBytesMut {
                    now: Instant::now(),
                    transport: TransportContext {
                        local_addr: local,
                        peer_addr: from,
                        ecn: None,
                        transport_protocol: TransportProtocol::UDP,
                    },
                    message: BytesMut::from(&buf[..n]),
                })?;
            }
            Some(sdp) = offers.recv() => {
                {
                    let mut st = lock(&stats);
                    st.offers += 1;
                    st.offer_sizes.push((sdp.len(), sdp.matches("\nm=").count()));
                }
                let sdp = match opts.via {
                    Some((sfu, via)) => redirect(&sdp, sfu, via),
                    None => sdp,
                };
                let inactive = inactive_mids(&sdp);
                pc.set_remote_description(Instant::now(), RTCSessionDescription::offer(sdp)?)?;
                // rtc 0.21.1 stops a transceiver whose m-section is offered inactive, and a
                // stopped one answers `recvonly` for good, even when offered inactive again.
                // Browsers answer inactive, which lets the SFU reuse the m-section: do the same.
                let ids: Vec<_> = pc.get_transceivers().collect();
                for t in ids {
                    if let Some(mut t) = pc.rtp_transceiver(t)
                        && t.mid().as_ref().is_some_and(|m| inactive.contains(m))
                    {
                        t.set_direction(RTCRtpTransceiverDirection::Inactive);
                    }
                }
                let answer = pc.create_answer(None)?;
                pc.set_local_description(Instant::now(), answer)?;
                let sdp = pc.local_description().ok_or("no local description")?.sdp;
                // Never poisoned: holders only push or pop.
                let spoil = ctl.sabotage.lock().expect("sabotage lock").pop_front();
                let sdp = match spoil {
                    None => sdp,
                    Some(Sabotage::Garbage) => "v=0\r\nthis is no answer\r\n".to_owned(),
                    Some(Sabotage::TooLarge) => {
                        format!("{sdp}{}", "a=x-padding:0123456789abcdef\r\n".repeat(2500))
                    }
                };
                match signal.answer(sdp).await {
                    Ok(()) => lock(&stats).answers += 1,
                    Err(_) if spoil.is_some() => lock(&stats).refused_answers += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            _ = ticker.tick() => {
                if !lock(&stats).connected {
                    continue;
                }
                // Keyframes only when asked: a late joiner's video proves the PLI path.
                let keyframe = want_keyframe;
                want_keyframe = false;
                for (k, s) in senders.iter_mut() {
                    let counter = {
                        let mut st = lock(&stats);
                        let c = st.sent[*k as usize];
                        st.sent[*k as usize] += 1;
                        c
                    };
                    let payload = payload(opts.video, index, *k, counter, keyframe);
                    s.seq = s.seq.wrapping_add(1);
                    s.ts = s.ts.wrapping_add(if *k == AUDIO { 960 } else { 1800 });
                    let pkt = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: true,
                            payload_type: s.pt,
                            sequence_number: s.seq,
                            timestamp: s.ts,
                            ssrc: s.ssrc,
                            ..Default::default()
                        },
                        payload,
                    };
                    if let Some(mut sender) = pc.rtp_sender(s.id) {
                        sender.write_rtp(Instant::now(), pkt)?;
                    }
                }
            }
        }
    }
    let _ = pc.close();
    while let Some(w) = pc.poll_write() {
        let _ = socket.send_to(&w.message, w.transport.peer_addr).await;
    }
    Ok(())
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

fn record(stats: &Arc<Mutex<PeerStats>>, payload: &[u8]) {
    let mut st = lock(stats);
    if payload.len() < 10 || payload[2..4] != MAGIC {
        st.malformed += 1;
        return;
    }
    let counter = u32::from_be_bytes([payload[6], payload[7], payload[8], payload[9]]);
    st.received
        .entry((payload[4], payload[5]))
        .or_default()
        .insert(counter);
}

/// A VP8 packet of `payload_len` bytes as the SFU receives it from rtc: parsed out of the
/// decrypted `BytesMut`, so that its payload is a shared `Bytes` whose clones only bump a
/// reference count (a `Bytes` made straight from a `Vec` would allocate on its first clone).
/// It starts a keyframe, or a delta frame.
pub fn received_vp8(
    seq: u16,
    timestamp: u32,
    payload_len: usize,
    keyframe: bool,
) -> rtc::rtp::Packet {
    use rtc::shared::marshal::{Marshal, Unmarshal};
    const KEY: [u8; 5] = [0x10, 0x00, 0x9d, 0x01, 0x2a];
    const DELTA: [u8; 2] = [0x10, 0x01];
    let head: &[u8] = if keyframe { &KEY } else { &DELTA };
    let mut payload = vec![0xab; payload_len.max(head.len())];
    payload[..head.len()].copy_from_slice(head);
    let pkt = rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            payload_type: 96,
            sequence_number: seq,
            timestamp,
            ssrc: 0x1234_5678,
            ..Default::default()
        },
        payload: payload.into(),
    };
    // Marshalling a version-2 header with no extensions into a fresh buffer, and parsing back
    // what was just written, cannot fail.
    let mut raw = pkt.marshal().expect("a plain RTP packet marshals");
    rtc::rtp::Packet::unmarshal(&mut raw).expect("a marshalled RTP packet parses")
}

/// A real offer with Opus and VP8 tracks (and their `a=ssrc` lines), from a peer that is never
/// run: for tests that speak to the SFU with hand-made packets.
pub async fn offer_with_media() -> Result<String, Box<dyn std::error::Error>> {
    let mut pc = build_pc(SocketAddr::from(([127, 0, 0, 1], 9)))?;
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let track = MediaStreamTrack::new(
            "s".into(),
            format!("t-{kind}"),
            "l".into(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(rand::random()),
                    ..Default::default()
                },
                codec: codec(kind, VideoCodec::Vp8),
                ..Default::default()
            }],
        );
        pc.add_track(track)?;
    }
    let offer = pc.create_offer(None)?;
    pc.set_local_description(Instant::now(), offer)?;
    Ok(pc.local_description().ok_or("no local description")?.sdp)
}
