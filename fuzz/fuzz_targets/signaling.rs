//! Every signaling payload decoder, as the handlers run them: JSON, then the typed request
//! (which refuses anything but one object), then its size and format checks. The first
//! byte picks the event.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signaling::messages::{
    CandidateMessage, ChatRequest, JoinRequest, MediaStateRequest, P2pSignal, RemoveMemberRequest,
    Request, SdpMessage, TypingRequest, ViewRequest, parse,
};

fn check<T: Request>(v: serde_json::Value) {
    if let Ok(req) = parse::<T>(v) {
        let _ = req.validate();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    match pick % 9 {
        0 => check::<JoinRequest>(v),
        1 => check::<P2pSignal>(v),
        2 => check::<SdpMessage>(v),
        3 => check::<CandidateMessage>(v),
        4 => check::<ChatRequest>(v),
        5 => check::<TypingRequest>(v),
        6 => check::<MediaStateRequest>(v),
        7 => check::<RemoveMemberRequest>(v),
        _ => check::<ViewRequest>(v),
    }
});
