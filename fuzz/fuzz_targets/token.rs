//! A join token from a client: JWT parsing, the algorithm check and the claims.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signaling::auth::JoinVerifier;
use std::sync::OnceLock;

static VERIFIER: OnceLock<JoinVerifier> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let v = VERIFIER.get_or_init(|| JoinVerifier::hs256(b"fuzz-secret-fuzz-secret-fuzz"));
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = v.verify(token, "room");
    }
});
