//! The keyframe detectors (VP8, VP9, H.264, AV1) and the VP8 descriptor rewrite, on any
//! payload: the first byte picks the codec.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sfu::core::codec::{self, Codec};

const CODECS: [Codec; 6] = [
    Codec::Opus,
    Codec::Vp8,
    Codec::Vp9,
    Codec::H264,
    Codec::Av1,
    Codec::Other,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let _ = codec::is_keyframe(CODECS[usize::from(pick) % CODECS.len()], payload);
    let _ = codec::vp8_size(payload);
    if let Some(n) = sfu::core::vp8::Vp8Numbers::parse(payload) {
        let mut copy = payload.to_vec();
        let rewrite = sfu::core::vp8::Vp8Rewrite {
            at: n,
            picture_id: 0x7fff,
            tl0picidx: 0xff,
        };
        rewrite.apply(&mut copy);
    }
});
