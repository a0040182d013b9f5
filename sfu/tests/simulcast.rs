//! Over real sockets and DTLS-SRTP: a publisher sends three simulcast layers; one subscriber
//! reaches the SFU through a shim that limits its downlink to 400 kbit/s. That subscriber
//! settles on the low layer and loses under 2% of it over 10 s, while the other receives the
//! high layer.

mod common;

use common::shaper::Shaper;
use common::{Harness, PeerOptions, StreamSeen, VIDEO};
use std::time::Duration;

const PUBLISHER: u8 = 1;

fn video(p: &sfu::testkit::Peer) -> Option<StreamSeen> {
    p.stats()
        .streams
        .values()
        .find(|s| s.kind == VIDEO && s.publisher == PUBLISHER)
        .copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_subscriber_gets_the_low_layer_and_the_other_the_high_one() {
    let h = Harness::start().await;
    let shaper = Shaper::start(h.sfu.announce_addr(), 400_000).await;
    let publisher = PeerOptions {
        simulcast: true,
        ..PeerOptions::default()
    };
    let watcher = PeerOptions {
        publish: false,
        ..PeerOptions::default()
    };
    let p = h.peer("room", "pub", PUBLISHER, publisher).await;
    let limited = h
        .peer(
            "room",
            "limited",
            2,
            PeerOptions {
                via: Some((h.sfu.announce_addr(), shaper.addr)),
                ..watcher
            },
        )
        .await;
    let other = h.peer("room", "other", 3, watcher).await;
    let layer = |peer: &sfu::testkit::Peer| video(peer).map(|s| s.layer);
    h.wait_for(
        "the limited one on the low layer, the other on the high one",
        Duration::from_secs(20),
        || layer(&limited) == Some(0) && layer(&other) == Some(2),
    )
    .await;

    let (before, other_before) = (video(&limited).unwrap(), video(&other).unwrap());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (after, other_after) = (video(&limited).unwrap(), video(&other).unwrap());
    let received = after.packets - before.packets;
    let share = |n: u64, of: u64| n as f64 * 100.0 / (of as f64).max(1.0);
    let missing = after.missing.saturating_sub(before.missing);
    let low = after.by_layer[0] - before.by_layer[0];
    let low_missing = after.missing_by_layer[0].saturating_sub(before.missing_by_layer[0]);
    let (lost, low_lost) = (
        share(missing, received),
        share(low_missing, low + low_missing),
    );
    eprintln!(
        "limited: {received} packets in 10 s, {low} of the low layer; lost {lost:.2}% of all, \
         {low_lost:.2}% of the low layer; {} dropped by the shim; other: {} of the high layer",
        shaper.dropped(),
        other_after.by_layer[2] - other_before.by_layer[2]
    );
    assert!(received >= 400, "the low layer flows: {received} packets");
    assert!(
        low * 10 >= received * 8,
        "mostly the low layer: {low} of {received}"
    );
    assert!(low_lost < 2.0, "lost {low_lost:.2}% of the low layer");
    // Moves up to the middle layer that meet the limit (one every few seconds at most) cost
    // a few of its packets each.
    assert!(lost < 5.0, "lost {lost:.2}% of all");
    assert_eq!(other_after.layer, 2);
    assert!(other_after.by_layer[2] - other_before.by_layer[2] > 1500);
    for peer in [p, limited, other] {
        peer.stop().await;
    }
}
