//! An RTP packet as the SFU reads it: rtc's header and extension parser, then the core's
//! reads of the parsed packet (audio level, keyframe detection, VP8 numbers).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtc::shared::marshal::Unmarshal;

mod payload;

fuzz_target!(|data: &[u8]| {
    let Ok(pkt) = rtc::rtp::Packet::unmarshal(&mut &data[..]) else {
        return;
    };
    for ext in 1..=14 {
        let _ = sfu::core::speaker::audio_level(&pkt.header, ext);
    }
    payload::read(&payload::CODECS, &pkt.payload);
});
