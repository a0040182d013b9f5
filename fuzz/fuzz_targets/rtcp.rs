//! A compound RTCP packet, as rtc parses the feedback (receiver reports, NACKs, PLIs,
//! TWCC) that the core then reads.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = bytes::Bytes::copy_from_slice(data);
    if let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut buf) {
        for p in packets {
            let _ = p.destination_ssrc();
            let _ = p.raw_size();
            let _ = p.header();
        }
    }
});
