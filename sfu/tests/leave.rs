//! A peer that leaves stops at the others, who get a new offer without its tracks, and the
//! SFU frees every table entry it had.

mod common;

use common::{AUDIO, Harness, VIDEO};
use sfu::ParticipantId;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_peer_stops_at_the_others_and_is_freed() {
    let h = Harness::start().await;
    let [a, b, c]: [common::Peer; 3] = h
        .call("room", &["alice", "bob", "carol"])
        .await
        .try_into()
        .ok()
        .unwrap();
    let before = h.sfu.stats().await.unwrap();
    let full = before.tables;
    assert_eq!((full.sessions, full.ufrags, full.tracks), (3, 3, 6));
    // The summary metrics read adds up to what the full report says, read between two.
    let summary = h.sfu.summary().await.unwrap();
    let after = h.sfu.stats().await.unwrap();
    for (lo, mid, hi) in [
        (
            before.totals.packets_in,
            summary.totals.packets_in,
            after.totals.packets_in,
        ),
        (
            before.totals.packets_out,
            summary.totals.packets_out,
            after.totals.packets_out,
        ),
    ] {
        assert!(lo <= mid && mid <= hi, "{lo} <= {mid} <= {hi}");
    }
    assert_eq!(summary.tables, after.tables);

    let offers_before = [a.stats().offers, b.stats().offers];
    h.sfu.leave(ParticipantId(c.id.clone())).await.unwrap();
    c.stop().await;

    let t = h.sfu.stats().await.unwrap();
    assert_eq!(
        (t.tables.sessions, t.tables.ufrags, t.tables.tracks),
        (2, 2, 4)
    );
    // SFU-wide totals keep what carol's tracks and subscriptions counted: never backwards.
    assert!(t.totals.packets_in >= before.totals.packets_in);
    assert!(t.totals.packets_out >= before.totals.packets_out);
    assert!(before.totals.packets_out > 0);
    assert!(
        t.tables.addresses <= 2,
        "carol's address is unbound: {:?}",
        t.tables
    );
    for p in &t.rooms[0].participants {
        assert_eq!(
            p.subscribed.len(),
            2,
            "{} keeps only the other's two tracks",
            p.id
        );
        assert!(p.subscribed.iter().all(|s| s.publisher_id != "carol"));
    }
    // Both remaining peers were sent an offer that removes carol's tracks.
    h.wait_for(
        "renegotiation after the leave",
        Duration::from_secs(5),
        || a.stats().offers > offers_before[0] && b.stats().offers > offers_before[1],
    )
    .await;

    // Nothing of carol's arrives any more, while alice and bob still hear each other.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let carol_at = |p: &common::Peer| {
        let st = p.stats();
        (st.got(3, AUDIO), st.got(3, VIDEO))
    };
    let (ca, cb) = (carol_at(&a), carol_at(&b));
    let (ab, ba) = (a.stats().got(2, AUDIO), b.stats().got(1, AUDIO));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(carol_at(&a), ca);
    assert_eq!(carol_at(&b), cb);
    assert!(a.stats().got(2, AUDIO) > ab + 20 && b.stats().got(1, AUDIO) > ba + 20);

    // When the room empties, it is gone and so is every entry.
    h.sfu.leave(ParticipantId(a.id.clone())).await.unwrap();
    h.sfu.leave(ParticipantId(b.id.clone())).await.unwrap();
    let t = h.sfu.stats().await.unwrap();
    assert!(t.rooms.is_empty());
    assert_eq!(
        (
            t.tables.sessions,
            t.tables.ufrags,
            t.tables.addresses,
            t.tables.tracks
        ),
        (0, 0, 0, 0)
    );
    // With no session left, both are the retired sessions' counts, exactly.
    assert_eq!(h.sfu.summary().await.unwrap().totals, t.totals);
    a.stop().await;
    b.stop().await;
}
