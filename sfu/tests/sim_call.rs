//! In memory, on a virtual clock: three peers join a room, and each receives the other two,
//! faster than real time and the same way every time.

use sfu::testkit::sim::Sim;
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO, everyone_receives};
use std::time::{Duration, Instant};

/// Three peers in a room, run until each has 50 packets of every kind from the others.
fn call(seed: u64) -> (Sim, Duration) {
    let mut sim = Sim::new(seed);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    let all = |s: &Sim| {
        let peers: Vec<_> = (0..3).map(|i| s.peer(i)).collect();
        everyone_receives(&peers, 50)
    };
    assert!(sim.run_until(Duration::from_secs(10), all), "media flows");
    let took = sim.elapsed();
    (sim, took)
}

#[test]
fn three_peers_receive_each_other() {
    let wall = Instant::now();
    let (mut sim, took) = call(1);
    // Every peer connected, and media started within a second of virtual time.
    assert!(took < Duration::from_secs(3), "media after {took:?}");
    // Ten more seconds: the streams keep flowing, none is lost on clean links.
    let before: Vec<[u32; 2]> = (0..3).map(|i| sim.peer(i).stats().sent).collect();
    sim.run_for(Duration::from_secs(10));
    for r in 0..3 {
        for s in (0..3).filter(|&s| s != r) {
            let (from, to) = (before[s], sim.peer(s).stats().sent);
            for kind in [AUDIO, VIDEO] {
                let ratio = sim.peer(r).stats().ratio(
                    sim.peer(s).index(),
                    kind,
                    from[kind as usize],
                    to[kind as usize] - 1,
                );
                assert!(ratio > 0.99, "{r} got {ratio} of {s}'s kind {kind}");
            }
        }
    }
    println!(
        "media after {took:?} of virtual time; {:?} of virtual time took {:?} of real time",
        sim.elapsed(),
        wall.elapsed()
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (a, took_a) = call(7);
    let (b, took_b) = call(7);
    assert_eq!(took_a, took_b, "media started at the same virtual instant");
    for i in 0..3 {
        let (sa, sb) = (a.peer(i).stats(), b.peer(i).stats());
        assert_eq!(sa.sent, sb.sent);
        assert_eq!(sa.received, sb.received);
    }
}
