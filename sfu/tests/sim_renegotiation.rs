//! In memory: the SFU's offers, when an answer is refused or never comes, on a virtual clock
//! that lets the backoff be checked to the millisecond.

use sfu::Event;
use sfu::testkit::sim::Sim;
use sfu::testkit::{Observed, PeerOptions, Sabotage, VIDEO};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
use sfu::testkit::Observed as _;

/// When the SFU made each offer to `who`, from the `since`th event on.
fn offers_to(sim: &Sim, who: &str, since: usize) -> Vec<Instant> {
    sim.events[since..]
        .iter()
        .filter(|(_, e)| matches!(e, Event::Offer { participant, .. } if participant.0 == who))
        .map(|(at, _)| *at)
        .collect()
}

#[test]
fn refused_answers_are_followed_by_fresh_offers_after_a_growing_wait() {
    let mut sim = Sim::new(3);
    sim.join("room", "ada", 1, PeerOptions::default());
    sim.join("room", "bob", 2, PeerOptions::default());
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.peer(0).stats().got(2, VIDEO)
            > 5)
    );
    // Ada's next three answers are refused; cat's arrival makes the first offer.
    for _ in 0..3 {
        sim.sabotage_next_answer(0, Sabotage::Garbage);
    }
    let mark = sim.events.len();
    sim.join("room", "cat", 3, PeerOptions::default());
    assert!(
        sim.run_until(Duration::from_secs(10), |s| offers_to(s, "ada", mark).len()
            >= 4),
        "four offers to ada"
    );
    let at = offers_to(&sim, "ada", mark);
    let waits: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // 0.5 s, then 1 s, then 2 s after each refusal (the answers take no time here).
    assert_eq!(waits, [500, 1000, 2000], "waits between offers");
    // The fourth answer is taken: ada receives cat.
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.peer(0).stats().got(3, VIDEO)
            > 5)
    );
    assert_eq!(sim.peer(0).stats().refused_answers, 3);
}

#[test]
fn an_offer_left_unanswered_is_made_again_after_ten_seconds() {
    let mut sim = Sim::new(4);
    sim.join("room", "ada", 1, PeerOptions::default());
    assert!(sim.run_until(Duration::from_secs(5), |s| s.peer(0).stats().connected));
    // Bob's tracks are offered to ada, and the offer is lost on its way.
    sim.lose_next_offers(0, 1);
    let mark = sim.events.len();
    sim.join("room", "bob", 2, PeerOptions::default());
    assert!(
        sim.run_until(Duration::from_secs(30), |s| offers_to(s, "ada", mark).len()
            >= 2)
    );
    let at = offers_to(&sim, "ada", mark);
    let waited = at[1] - at[0];
    println!("offered again after {waited:?}");
    assert_eq!(waited, Duration::from_secs(10));
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.peer(0).stats().got(2, VIDEO)
            > 5)
    );
}
