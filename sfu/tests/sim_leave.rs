//! In memory: a member leaves. The others are offered its tracks' end, receive nothing more
//! of it, and the SFU holds nothing of it.

use sfu::Event;
use sfu::testkit::sim::Sim;
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO, everyone_receives};
use std::time::Duration;

#[test]
fn a_leaver_stops_at_the_others_and_is_freed() {
    let mut sim = Sim::new(2);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    assert!(sim.run_until(Duration::from_secs(10), |s| {
        let peers: Vec<_> = (0..3).map(|i| s.peer(i)).collect();
        everyone_receives(&peers, 10)
    }));
    let offers = [sim.peer(0).stats().offers, sim.peer(1).stats().offers];
    sim.leave(2);
    let t = sim.sfu.table_sizes();
    assert_eq!((t.sessions, t.ufrags, t.tracks), (2, 2, 4));
    // Both stayers are offered the end of cat's tracks, and answer.
    assert!(sim.run_until(Duration::from_secs(2), |s| {
        (0..2).all(|i| {
            let st = s.peer(i).stats();
            st.offers > offers[i] && st.answers == st.offers
        })
    }));
    let cat = |sim: &Sim, i: usize| {
        let st = sim.peer(i).stats();
        (st.got(3, AUDIO), st.got(3, VIDEO))
    };
    sim.run_for(Duration::from_millis(200));
    let seen = [cat(&sim, 0), cat(&sim, 1)];
    sim.run_for(Duration::from_secs(2));
    assert_eq!([cat(&sim, 0), cat(&sim, 1)], seen, "nothing more of cat");
    let (ab, ba) = (
        sim.peer(0).stats().got(2, VIDEO),
        sim.peer(1).stats().got(1, VIDEO),
    );
    sim.run_for(Duration::from_secs(1));
    assert!(sim.peer(0).stats().got(2, VIDEO) > ab + 40);
    assert!(sim.peer(1).stats().got(1, VIDEO) > ba + 40);

    for i in 0..2 {
        sim.leave(i);
    }
    let t = sim.sfu.table_sizes();
    assert_eq!((t.sessions, t.ufrags, t.addresses, t.tracks), (0, 0, 0, 0));
    assert_eq!(t.timers, 0, "no timer left behind");
    assert!(sim.sfu.stats(sim.now()).rooms.is_empty());
    let published = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::TrackPublished { .. }))
        .count();
    assert_eq!(published, 6);
}
