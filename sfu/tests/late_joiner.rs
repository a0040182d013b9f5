//! A fourth peer joining a call of three makes the SFU ask every publisher for a keyframe,
//! and starts receiving everyone's video (the test peers send keyframes only when asked).

mod common;

use common::{Harness, PeerOptions, VIDEO};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_triggers_a_keyframe_request_at_every_publisher() {
    let h = Harness::start().await;
    let [a, b, c]: [common::Peer; 3] = h
        .call("room", &["alice", "bob", "carol"])
        .await
        .try_into()
        .ok()
        .unwrap();
    // Let the keyframe requests of the first three settle past the debounce interval.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before: Vec<u64> = [&a, &b, &c].iter().map(|p| p.stats().plis).collect();

    let d = h.peer("room", "dave", 4, PeerOptions::default()).await;
    h.wait_for(
        "dave to receive everyone's video",
        Duration::from_secs(15),
        || {
            let st = d.stats();
            [&a, &b, &c].iter().all(|p| st.got(p.index, VIDEO) > 5)
        },
    )
    .await;
    for (p, before) in [&a, &b, &c].iter().zip(before) {
        let after = p.stats().plis;
        assert!(
            after > before,
            "{} got no keyframe request after dave joined ({before} → {after})",
            p.id
        );
    }
    // And the others now see dave too.
    h.wait_all_receiving(&[&a, &b, &c, &d], Duration::from_secs(15))
        .await;
    for p in [a, b, c, d] {
        p.stop().await;
    }
}
