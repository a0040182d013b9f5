//! The media socket's first look at a datagram: classification by the first byte (RFC 7983),
//! the STUN walk that finds the USERNAME, and the MESSAGE-INTEGRITY check.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sfu::core::demux;

fuzz_target!(|data: &[u8]| {
    let _ = demux::classify(data);
    let _ = demux::is_rtcp(data);
    if let Some(info) = demux::parse_stun(data) {
        let _ = info.local_ufrag();
        let _ = demux::check_integrity(data, &info, "fuzz-password-fuzz-password");
    }
});
