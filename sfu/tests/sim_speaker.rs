//! In memory, on a virtual clock: the SFU reads the audio level (RFC 6464) that publishers
//! stamp on their packets, and tells signaling who is speaking as the floor changes hands.

use sfu::Event;
use sfu::testkit::sim::Sim;
use sfu::testkit::{PeerOptions, everyone_receives};
use std::time::Duration;

/// The speakers announced since `from` (virtual time index into the events).
fn speakers(sim: &Sim, from: usize) -> Vec<(Duration, String, Vec<String>)> {
    let start = sim.now() - sim.elapsed();
    sim.events[from..]
        .iter()
        .filter_map(|(at, e)| match e {
            Event::ActiveSpeaker {
                speaker, ranked, ..
            } => Some((
                at.duration_since(start),
                speaker.0.clone(),
                ranked.iter().map(|p| p.0.clone()).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn the_active_speaker_follows_who_talks() {
    let mut sim = Sim::new(3);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    let peers = |s: &Sim| everyone_receives(&(0..3).map(|i| s.peer(i)).collect::<Vec<_>>(), 20);
    assert!(sim.run_until(Duration::from_secs(10), peers), "media flows");

    // Everyone quiet: nobody has the floor.
    let mark = sim.events.len();
    sim.run_for(Duration::from_secs(3));
    assert_eq!(speakers(&sim, mark), vec![], "silence elects nobody");

    // Bob talks: he takes the floor within two seconds.
    sim.set_talking(1, true);
    let t = sim.elapsed();
    sim.run_for(Duration::from_secs(4));
    let got = speakers(&sim, mark);
    let (at, who, ranked) = got.first().expect("an active speaker").clone();
    assert_eq!(who, sim.peer(1).id.0.clone(), "{got:?}");
    assert!(at - t < Duration::from_secs(2), "after {:?}", at - t);
    assert_eq!(ranked.first(), Some(&who));
    assert_eq!(
        ranked.len(),
        3,
        "everyone who sends audio is ranked: {ranked:?}"
    );

    // Bob stops, Cat talks: the floor moves to her, and only once (announcements before it
    // may still name Bob, with a new ranking).
    let mark = sim.events.len();
    sim.set_talking(1, false);
    sim.set_talking(2, true);
    sim.run_for(Duration::from_secs(5));
    let got = speakers(&sim, mark);
    let changes: Vec<&String> = got.iter().map(|(_, s, _)| s).fold(Vec::new(), |mut v, s| {
        if v.last() != Some(&s) {
            v.push(s);
        }
        v
    });
    let (bob, cat) = (&sim.peer(1).id.0, &sim.peer(2).id.0);
    let after_bob: Vec<&String> = changes.into_iter().skip_while(|s| *s == bob).collect();
    assert_eq!(after_bob, vec![cat], "{got:?}");

    // At most one announcement per 300 ms decision.
    assert!(got.len() <= 17, "{} announcements in 5 s", got.len());
}
