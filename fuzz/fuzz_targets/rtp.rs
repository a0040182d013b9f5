//! An RTP packet as the SFU reads it: rtc's header and extension parser, then the core's
//! reads of the parsed packet (audio level, keyframe detection, VP8 numbers).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtc::shared::marshal::Unmarshal;
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
    let Ok(pkt) = rtc::rtp::Packet::unmarshal(&mut &data[..]) else {
        return;
    };
    for ext in 1..=14 {
        let _ = sfu::core::speaker::audio_level(&pkt.header, ext);
    }
    for c in CODECS {
        let _ = codec::is_keyframe(c, &pkt.payload);
    }
    let _ = codec::vp8_size(&pkt.payload);
    if let Some(n) = sfu::core::vp8::Vp8Numbers::parse(&pkt.payload) {
        let mut copy = pkt.payload.to_vec();
        let rewrite = sfu::core::vp8::Vp8Rewrite {
            at: n,
            picture_id: 0x7fff,
            tl0picidx: 0xff,
        };
        rewrite.apply(&mut copy);
    }
});
