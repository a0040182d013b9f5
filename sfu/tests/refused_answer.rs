//! A member's answer to the SFU's offer is refused. The SFU withdraws that offer and makes a
//! fresh one, so the member still sees whoever joins; before, the session waited for good
//! for an answer that would never come.

mod common;

use common::{AUDIO, Harness, PeerOptions, Sabotage, VIDEO};
use sfu::ParticipantId;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_answer_is_followed_by_a_fresh_offer() {
    let h = Harness::start().await;
    let [a, b]: [common::Peer; 2] = h
        .call("room", &["alice", "bob"])
        .await
        .try_into()
        .ok()
        .unwrap();
    // Alice's next answer is garbage.
    a.sabotage_next_answer(Sabotage::Garbage);
    let offers_before = a.stats().offers;
    let carol = h.peer("room", "carol", 3, PeerOptions::default()).await;
    h.wait_for("alice's garbage answer", Duration::from_secs(10), || {
        a.stats().refused_answers == 1
    })
    .await;
    // Bob, whose answers are fine, sees carol meanwhile.
    h.wait_for("bob to receive carol", Duration::from_secs(10), || {
        b.stats().got(3, VIDEO) > 3
    })
    .await;
    h.wait_for_or(
        "alice to receive carol after a fresh offer",
        Duration::from_secs(10),
        || {
            let st = a.stats();
            st.got(3, AUDIO) > 3 && st.got(3, VIDEO) > 3
        },
        || format!("{:?}", a.stats()),
    )
    .await;
    assert!(a.stats().offers >= offers_before + 2, "a second offer came");

    // An answer over 64 KiB is refused too, and followed by a fresh offer as well.
    a.sabotage_next_answer(Sabotage::TooLarge);
    let dave = h.peer("room", "dave", 4, PeerOptions::default()).await;
    h.wait_for("alice's oversized answer", Duration::from_secs(10), || {
        a.stats().refused_answers == 2
    })
    .await;
    h.wait_for("alice to receive dave", Duration::from_secs(10), || {
        a.stats().got(4, VIDEO) > 3
    })
    .await;
    for p in [carol, dave] {
        h.sfu.leave(ParticipantId(p.id.clone())).await.unwrap();
        p.stop().await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_no_offer_waiting_is_refused_and_changes_nothing() {
    let h = Harness::start().await;
    let [a, b]: [common::Peer; 2] = h
        .call("room", &["alice", "bob"])
        .await
        .try_into()
        .ok()
        .unwrap();
    let err = h
        .sfu
        .answer(ParticipantId::from("alice"), "v=0\r\n".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad-sdp");
    h.sfu
        .answer_refused(ParticipantId::from("alice"), "test".into())
        .await
        .unwrap();
    let offers = a.stats().offers;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(a.stats().offers, offers, "no offer was outstanding to redo");
    a.stop().await;
    b.stop().await;
}
