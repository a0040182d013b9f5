//! In memory: keyframe requests. A late joiner's video starts with one request to each
//! publisher, and subscribers asking at once cost the publisher one request per interval.

use sfu::testkit::sim::Sim;
use sfu::testkit::{Observed, PeerOptions, VIDEO};
use std::time::Duration;

#[test]
fn a_late_joiner_gets_a_keyframe_with_one_request_per_publisher() {
    let mut sim = Sim::new(5);
    sim.join("room", "ada", 1, PeerOptions::default());
    sim.join("room", "bob", 2, PeerOptions::default());
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.peer(0).stats().got(2, VIDEO) > 5 && s.peer(1).stats().got(1, VIDEO) > 5
    }));
    // Settle past the keyframe interval, so that the count below is the late joiner's alone.
    sim.run_for(Duration::from_secs(1));
    let plis = [sim.peer(0).stats().plis, sim.peer(1).stats().plis];
    let joined = sim.now();
    sim.join("room", "cat", 3, PeerOptions::default());
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        let st = s.peer(2).stats();
        st.got(1, VIDEO) > 0 && st.got(2, VIDEO) > 0
    }));
    let took = sim.now() - joined;
    println!("the late joiner's first video after {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    sim.run_for(Duration::from_secs(2));
    for (i, before) in plis.into_iter().enumerate() {
        assert_eq!(
            sim.peer(i).stats().plis - before,
            1,
            "one keyframe request to publisher {i}"
        );
    }
}

#[test]
fn requests_from_many_subscribers_are_debounced() {
    let mut sim = Sim::new(6);
    let names = ["ada", "bob", "cat", "dan", "eve"];
    for (i, name) in names.iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        (1..5).all(|i| s.peer(i).stats().got(1, VIDEO) > 5)
    }));
    // Four subscribers each ask for a keyframe of ada's video every 50 ms for 4 s, as decoders
    // that keep losing their reference would: ada hears one request per 500 ms at most.
    sim.run_for(Duration::from_secs(1));
    let before = sim.peer(0).stats().plis;
    for _ in 0..80 {
        for i in 1..5 {
            assert!(sim.request_keyframe(i, 1));
        }
        sim.run_for(Duration::from_millis(50));
    }
    let plis = sim.peer(0).stats().plis - before;
    println!("320 requests in 4 s reached ada as {plis}");
    assert!((8..=9).contains(&plis), "{plis} requests in 4 s at 500 ms");
}
