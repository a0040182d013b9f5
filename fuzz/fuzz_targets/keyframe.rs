//! The keyframe detectors (VP8, VP9, H.264, AV1) and the VP8 descriptor rewrite, on any
//! payload: the first byte picks the codec.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod payload;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let codec = payload::CODECS[usize::from(pick) % payload::CODECS.len()];
    payload::read(&[codec], bytes);
});
