//! In memory: loss on one subscriber's link. Its NACKs are answered from the SFU's cache,
//! and it gets nearly all the video, while the others are untouched.

use sfu::testkit::sim::{Link, Sim};
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO, assert_delivered};
use std::time::Duration;

#[test]
fn nack_recovers_five_percent_loss_and_reordering() {
    let mut sim = Sim::new(8);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.peer(2).stats().got(1, VIDEO) > 5 && s.peer(2).stats().got(2, VIDEO) > 5
    }));
    // Cat's link loses 5% both ways, with 20 ms of delay and up to 10 ms of jitter.
    sim.set_link(
        2,
        Link {
            loss: 0.05,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            ..Link::default()
        },
    );
    let start = [sim.peer(0).stats().sent, sim.peer(1).stats().sent];
    sim.run_for(Duration::from_secs(20));
    let end = [sim.peer(0).stats().sent, sim.peer(1).stats().sent];
    // A last second for the repairs of the last packets.
    sim.run_for(Duration::from_secs(1));
    for p in 0..2 {
        let video = assert_delivered(sim.peer(2), sim.peer(p), VIDEO, (start[p], end[p]), 0.99);
        let (from, to) = (start[p][AUDIO as usize], end[p][AUDIO as usize]);
        let audio = sim
            .peer(2)
            .stats()
            .ratio(sim.peer(p).index(), AUDIO, from, to);
        println!("cat from {p}: video {video:.4}, audio {audio:.4} (no NACK for Opus)");
        assert!(audio < 0.99, "the link did lose packets: audio {audio}");
        // Ada and bob are untouched.
        assert_delivered(
            sim.peer(1 - p),
            sim.peer(p),
            VIDEO,
            (start[p], end[p]),
            0.999,
        );
    }
    let totals = sim.sfu.stats(sim.now()).totals;
    assert!(totals.nacks > 0 && totals.retransmits > 0, "{totals:?}");
}
