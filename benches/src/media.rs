//! The synthetic media the load generator sends: RTP payloads that the SFU forwards like
//! real VP8 and Opus, each carrying who sent it, its own sequence number and its send time.

use std::time::{Duration, Instant};

/// Video payload size: a typical full-MTU video packet.
pub const VIDEO_PAYLOAD: usize = 1100;
/// Audio payload size: Opus at about 32 kbit/s, 20 ms frames.
pub const AUDIO_PAYLOAD: usize = 80;
/// Time between audio packets (20 ms Opus frames).
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// A keyframe every this long, so a subscriber that joins late starts within it.
pub const KEYFRAME_EVERY: Duration = Duration::from_secs(2);

const MAGIC: [u8; 2] = *b"LG";
/// Bytes of the header inside the payload: codec prefix, magic, publisher, kind, seq, time.
pub const HEADER: usize = 2 + 2 + 4 + 1 + 4 + 8;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Opus-sized audio.
    Audio = 0,
    /// VP8-framed video.
    Video = 1,
}

/// What a received payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publishing peer.
    pub publisher: u32,
    /// Audio or video.
    pub kind: Kind,
    /// The publisher's count of packets of this kind.
    pub seq: u32,
    /// Microseconds since the generator's epoch when it was sent.
    pub sent_us: u64,
}

/// Video packets per second for a bitrate, counting the payload only.
pub fn video_pps(kbps: u32) -> f64 {
    f64::from(kbps) * 1000.0 / 8.0 / VIDEO_PAYLOAD as f64
}

/// Appends a payload of the kind's size to `buf`. The first bytes make the SFU's VP8
/// keyframe detection see a keyframe, or a delta frame.
pub fn write_payload(buf: &mut Vec<u8>, stamp: Stamp, keyframe: bool) {
    let start = buf.len();
    buf.extend_from_slice(match (stamp.kind, keyframe) {
        (Kind::Video, true) => &[0x10, 0x00],
        (Kind::Video, false) => &[0x10, 0x01],
        (Kind::Audio, _) => &[0xfc, 0xff],
    });
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&stamp.publisher.to_be_bytes());
    buf.push(stamp.kind as u8);
    buf.extend_from_slice(&stamp.seq.to_be_bytes());
    buf.extend_from_slice(&stamp.sent_us.to_be_bytes());
    buf.resize(start + payload_len(stamp.kind), 0xab);
}

/// The size of a payload of `kind`.
pub fn payload_len(kind: Kind) -> usize {
    match kind {
        Kind::Video => VIDEO_PAYLOAD,
        Kind::Audio => AUDIO_PAYLOAD,
    }
}

/// Reads a payload written by [`write_payload`]; `None` for anything else.
pub fn read_payload(p: &[u8]) -> Option<Stamp> {
    if p.len() < HEADER || p[2..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let kind = match p[8] {
        0 => Kind::Audio,
        1 => Kind::Video,
        _ => return None,
    };
    let mut t = [0u8; 8];
    t.copy_from_slice(&p[13..21]);
    Some(Stamp {
        publisher: u32_at(4),
        kind,
        seq: u32_at(9),
        sent_us: u64::from_be_bytes(t),
    })
}

/// The generator's clock: microseconds since it started, shared by publishers and
/// subscribers in one process, so one-way latency needs no clock sync.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock(Instant::now())
    }

    /// Microseconds from the epoch to `t`.
    pub fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.0).as_micros() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let mut buf = Vec::new();
        let s = Stamp {
            publisher: 7,
            kind: Kind::Video,
            seq: 123_456,
            sent_us: 9_876_543_210,
        };
        write_payload(&mut buf, s, true);
        assert_eq!(buf.len(), VIDEO_PAYLOAD);
        assert_eq!(&buf[..2], &[0x10, 0x00]);
        assert_eq!(read_payload(&buf), Some(s));
        let a = Stamp {
            kind: Kind::Audio,
            ..s
        };
        buf.clear();
        write_payload(&mut buf, a, false);
        assert_eq!(buf.len(), AUDIO_PAYLOAD);
        assert_eq!(read_payload(&buf), Some(a));
        // It appends: behind a header, the payload reads back from where it starts.
        let mut framed = vec![0u8; 12];
        write_payload(&mut framed, a, false);
        assert_eq!(read_payload(&framed[12..]), Some(a));
        assert_eq!(read_payload(&buf[..10]), None);
        assert_eq!(read_payload(&[0u8; 40]), None);
    }

    #[test]
    fn rates() {
        assert!((video_pps(1000) - 113.6).abs() < 0.1);
    }
}
