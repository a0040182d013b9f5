//! In memory, on a virtual clock: a member that only watches, and joins before anyone
//! publishes, has no m-section that sends when its transport comes up. Media reaches it once
//! its first subscription is negotiated.

use sfu::testkit::sim::Sim;
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO};
use std::time::Duration;

#[test]
fn a_watcher_who_came_first_receives_a_later_publisher() {
    let mut sim = Sim::new(2);
    let watcher = sim.join(
        "room",
        "watcher",
        1,
        PeerOptions {
            publish: false,
            ..PeerOptions::default()
        },
    );
    // Its transport comes up in an empty room.
    sim.run_for(Duration::from_secs(2));
    assert!(sim.peer(watcher).stats().connected);
    let publisher = sim.join("room", "publisher", 2, PeerOptions::default());
    let index = sim.peer(publisher).index;
    let got = |s: &Sim| {
        let st = s.peer(watcher).stats();
        st.got(index, AUDIO) >= 50 && st.got(index, VIDEO) >= 50
    };
    assert!(
        sim.run_until(Duration::from_secs(10), got),
        "the watcher receives"
    );
}
