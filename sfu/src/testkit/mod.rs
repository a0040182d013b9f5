//! Test peers: full-ICE WebRTC clients built on the same `rtc` crates as the SFU, publishing
//! synthetic Opus and video whose payloads carry the publisher's index and a counter, and
//! recording what they receive.
//!
//! - [`peer::PeerCore`] is the peer without IO.
//! - [`udp::Peer`] runs one on its own UDP socket, for the real-socket tests of this crate,
//!   the signaling tests (through Socket.IO) and the load generator. How it reaches the SFU
//!   is the [`Signal`] it is given.
//! - [`sim::Sim`] runs the SFU's core and several peers in memory, with a virtual clock and
//!   optional loss, delay and reordering: faster than real time, and the same every time.

#![allow(missing_docs)]

pub mod peer;
pub mod sim;
pub mod udp;

pub use peer::{PeerCore, PeerError};
pub use udp::Peer;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// Media received, per SSRC.
    pub streams: HashMap<u32, StreamSeen>,
    /// The latest sender report of each SSRC, and when it arrived.
    pub sender_reports: HashMap<u32, (rtc::rtcp::sender_report::SenderReport, std::time::Instant)>,
}

/// What arrived on one SSRC.
#[derive(Debug, Clone, Copy)]
pub struct StreamSeen {
    /// Audio or video.
    pub kind: u8,
    /// The publisher's index.
    pub publisher: u8,
    /// Packets received.
    pub packets: u64,
    /// Payload octets received.
    pub octets: u64,
    /// The newest RTP timestamp, and when its first packet arrived.
    pub newest: (u32, std::time::Instant),
    /// The highest sequence number received.
    pub last_seq: u16,
    /// The simulcast layer (0 the lowest) of the latest video packet.
    pub layer: u8,
    /// Video packets received, per layer.
    pub by_layer: [u64; 4],
    /// Packets missing from the sequence so far, less those that came late (retransmitted).
    pub missing: u64,
    /// `missing`, by the layer of the packet before each gap (a gap at a layer switch is
    /// counted against the layer left).
    pub missing_by_layer: [u64; 4],
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

/// A peer whose observations a test reads: a running [`Peer`], or one of a [`sim::Sim`].
pub trait Observed {
    /// Its index, which its payloads carry.
    fn index(&self) -> u8;
    /// What it observed.
    fn stats(&self) -> std::sync::MutexGuard<'_, PeerStats>;
}

/// Asserts that `receiver` got at least `min` of what `sender` sent of `kind` between the
/// two readings of its `sent` counters. Takes the receiver's stats lock: hold none.
pub fn assert_delivered(
    receiver: &impl Observed,
    sender: &impl Observed,
    kind: u8,
    (start, end): ([u32; 2], [u32; 2]),
    min: f64,
) -> f64 {
    let (from, to) = (start[kind as usize], end[kind as usize]);
    assert!(
        to - from >= 50,
        "peer {} sent only {} packets",
        sender.index(),
        to - from
    );
    let ratio = receiver.stats().ratio(sender.index(), kind, from, to);
    assert!(
        ratio >= min,
        "peer {} received {:.2}% of peer {}'s kind {kind} (at least {:.0}% expected)",
        receiver.index(),
        ratio * 100.0,
        sender.index(),
        min * 100.0
    );
    ratio
}

/// Whether each peer has received more than `min` audio and video packets from every
/// other one.
pub fn everyone_receives<P: Observed>(peers: &[&P], min: usize) -> bool {
    peers.iter().all(|p| {
        let st = p.stats();
        peers
            .iter()
            .filter(|o| o.index() != p.index())
            .all(|o| st.got(o.index(), AUDIO) > min && st.got(o.index(), VIDEO) > min)
    })
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
    /// Stamps its audio with the levels of speech (syllables, and pauses between words),
    /// rather than those of a quiet room.
    pub talking: bool,
    /// Publishes its video as three simulcast layers (rid q, h and f), as a browser does in
    /// a group call, rather than one stream.
    pub simulcast: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            publish: true,
            video: VideoCodec::Vp8,
            via: None,
            talking: false,
            simulcast: false,
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
pub async fn offer_with_media() -> Result<String, PeerError> {
    let mut peer = PeerCore::new(
        "s",
        0,
        SocketAddr::from(([127, 0, 0, 1], 9)),
        PeerOptions::default(),
        Arc::default(),
        Arc::default(),
        Instant::now(),
    )?;
    peer.offer(Instant::now())
}
