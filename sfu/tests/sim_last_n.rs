//! In memory, on a virtual clock: with Last-N, the SFU forwards video only from the room's N
//! most recent speakers (audio from everyone), and a member who starts talking is seen again
//! from a keyframe, while the least recent speaker's video is held back.

use sfu::testkit::sim::Sim;
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO};
use std::time::Duration;

const ADA: usize = 0;
const BOB: usize = 1;
const CAT: usize = 2;
const DAN: usize = 3;

/// Video packets that peer `to` has received from peer `from`.
fn video(sim: &Sim, to: usize, from: usize) -> usize {
    sim.peer(to).stats().got(sim.peer(from).index(), VIDEO)
}

/// Whether every peer has received more than `min` video packets from each of `shown`
/// (since `before`, a snapshot of `video` by receiver and sender).
fn others_see(sim: &Sim, shown: &[usize], before: &[[usize; 4]; 4], min: usize) -> bool {
    (0..4).all(|to| {
        shown
            .iter()
            .filter(|&&from| from != to)
            .all(|&from| video(sim, to, from) > before[to][from] + min)
    })
}

fn snapshot(sim: &Sim) -> [[usize; 4]; 4] {
    let mut s = [[0; 4]; 4];
    for (to, row) in s.iter_mut().enumerate() {
        for (from, v) in row.iter_mut().enumerate() {
            *v = video(sim, to, from);
        }
    }
    s
}

/// Whether no peer has received video from any of `held` since `before`.
fn held_back(sim: &Sim, held: &[usize], before: &[[usize; 4]; 4]) -> bool {
    (0..4).all(|to| {
        held.iter()
            .all(|&from| video(sim, to, from) == before[to][from])
    })
}

#[test]
fn video_follows_the_two_most_recent_speakers() {
    let mut sim = Sim::with_config(11, |c| c.last_n = 2);
    for (i, name) in ["ada", "bob", "cat", "dan"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    // Nobody has spoken: the first two to join are seen, and everyone is heard.
    let zero = [[0; 4]; 4];
    let heard = |s: &Sim| {
        (0..4).all(|to| {
            (0..4)
                .filter(|&f| f != to)
                .all(|f| s.peer(to).stats().got(s.peer(f).index(), AUDIO) > 20)
        })
    };
    assert!(
        sim.run_until(Duration::from_secs(10), |s| heard(s)
            && others_see(s, &[ADA, BOB], &zero, 20)),
        "Ada's and Bob's video, everyone's audio"
    );
    assert!(
        held_back(&sim, &[CAT, DAN], &zero),
        "no video from Cat or Dan yet"
    );

    // Cat talks: she has the floor within 2 s, and her video reaches everyone; Bob, now the
    // one furthest from having spoken, is held back (Ada joined first, so she stays).
    sim.set_talking(CAT, true);
    takes_the_floor(
        &mut sim,
        CAT,
        Duration::from_secs(3),
        &[ADA, CAT],
        &[BOB, DAN],
    );

    // Dan talks after her: Dan and Cat are the two most recent speakers.
    sim.set_talking(CAT, false);
    sim.set_talking(DAN, true);
    takes_the_floor(
        &mut sim,
        DAN,
        Duration::from_secs(4),
        &[CAT, DAN],
        &[ADA, BOB],
    );
}

const NAMES: [&str; 4] = ["Ada", "Bob", "Cat", "Dan"];

/// `talker`, who has just started talking, is seen by everyone within `within`; then, over
/// 2 s, every member of `shown` is seen and none of `held` is.
fn takes_the_floor(
    sim: &mut Sim,
    talker: usize,
    within: Duration,
    shown: &[usize],
    held: &[usize],
) {
    let names = |who: &[usize]| who.iter().map(|&i| NAMES[i]).collect::<Vec<_>>();
    let before = snapshot(sim);
    assert!(
        sim.run_until(within, |s| others_see(s, &[talker], &before, 10)),
        "{}'s video after they start talking",
        NAMES[talker]
    );
    sim.run_for(Duration::from_millis(500));
    let before = snapshot(sim);
    sim.run_for(Duration::from_secs(2));
    assert!(held_back(sim, held, &before), "{:?} held back", names(held));
    assert!(
        others_see(sim, shown, &before, 50),
        "{:?} seen",
        names(shown)
    );
}
