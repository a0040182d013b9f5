//! In memory, on a virtual clock: a subscriber that does not show a member's video (its tile
//! scrolled away, its tab hidden) is sent none of it, keeps hearing that member, and gets the
//! video again, from a keyframe, when it shows it again.

use sfu::testkit::sim::Sim;
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO, everyone_receives};
use std::time::Duration;

#[test]
fn a_hidden_tile_gets_no_video_and_a_shown_one_gets_it_back() {
    let mut sim = Sim::new(21);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    let all = |s: &Sim| everyone_receives(&(0..3).map(|i| s.peer(i)).collect::<Vec<_>>(), 20);
    assert!(sim.run_until(Duration::from_secs(10), all), "media flows");
    let (ada, bob, cat) = (0, 1, 2);
    let got = |s: &Sim, to: usize, from: usize, kind: u8| {
        s.peer(to).stats().got(s.peer(from).index(), kind)
    };

    // Ada hides Bob.
    let (ada_id, bob_id) = (sim.peer(ada).id.clone(), sim.peer(bob).id.clone());
    let now = sim.now();
    sim.sfu
        .set_view(now, &ada_id, &bob_id, false, (640, 360))
        .unwrap();
    sim.run_for(Duration::from_millis(200));
    let before = (
        got(&sim, ada, bob, VIDEO),
        got(&sim, ada, bob, AUDIO),
        got(&sim, ada, cat, VIDEO),
        got(&sim, cat, bob, VIDEO),
    );
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        got(&sim, ada, bob, VIDEO),
        before.0,
        "Ada gets no video of Bob"
    );
    assert!(
        got(&sim, ada, bob, AUDIO) > before.1 + 50,
        "but still hears him"
    );
    assert!(got(&sim, ada, cat, VIDEO) > before.2 + 50, "and sees Cat");
    assert!(
        got(&sim, cat, bob, VIDEO) > before.3 + 50,
        "and Cat still sees Bob"
    );

    // Shown again: Bob's video comes back (the SFU asks him for a keyframe to start on).
    let now = sim.now();
    sim.sfu
        .set_view(now, &ada_id, &bob_id, true, (640, 360))
        .unwrap();
    let resumed = got(&sim, ada, bob, VIDEO);
    assert!(
        sim.run_until(Duration::from_secs(2), |s| got(s, ada, bob, VIDEO)
            > resumed + 20),
        "Bob's video back at Ada"
    );

    // Only members the SFU knows can be named.
    let now = sim.now();
    assert!(
        sim.sfu
            .set_view(now, &ada_id, &"nobody".into(), false, (640, 360))
            .is_err()
    );
}
