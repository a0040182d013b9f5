//! What the core reads from a media payload, shared by the `rtp` and `keyframe` targets.
use sfu::core::codec::{self, Codec};
use sfu::core::vp8::{Vp8Numbers, Vp8Rewrite};

/// Every codec the keyframe detectors tell apart.
pub const CODECS: [Codec; 6] = [
    Codec::Opus,
    Codec::Vp8,
    Codec::Vp9,
    Codec::H264,
    Codec::Av1,
    Codec::Other,
];

/// Runs `codecs`' keyframe detectors on `payload`, reads a VP8 frame size, and rewrites a
/// copy's VP8 picture numbers as forwarding does.
pub fn read(codecs: &[Codec], payload: &[u8]) {
    for &c in codecs {
        let _ = codec::is_keyframe(c, payload);
    }
    let _ = codec::vp8_size(payload);
    if let Some(n) = Vp8Numbers::parse(payload) {
        let mut copy = payload.to_vec();
        let rewrite = Vp8Rewrite {
            at: n,
            picture_id: 0x7fff,
            tl0picidx: 0xff,
        };
        rewrite.apply(&mut copy);
    }
}
