//! A session description from a client, as rtc parses it when the SFU applies an offer or
//! an answer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cursor = std::io::Cursor::new(data);
    let _ = rtc::sdp::description::session::SessionDescription::unmarshal(&mut cursor);
});
