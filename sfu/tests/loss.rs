//! 5% of the SFU's RTP to one subscriber is dropped by a shim; NACKs answered from the
//! SFU's retransmission cache still deliver at least 99% of the video.

mod common;

use common::proxy::LossyProxy;
use common::{AUDIO, Harness, PeerOptions, VIDEO};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_recovers_five_percent_loss() {
    let h = Harness::start().await;
    let proxy = LossyProxy::start(h.sfu.announce_addr(), 5).await;
    let a = h.peer("room", "alice", 1, PeerOptions::default()).await;
    let b = h.peer("room", "bob", 2, PeerOptions::default()).await;
    let lossy = PeerOptions {
        via: Some((h.sfu.announce_addr(), proxy.addr)),
        ..PeerOptions::default()
    };
    let c = h.peer("room", "carol", 3, lossy).await;
    h.wait_all_receiving(&[&a, &b, &c], Duration::from_secs(15))
        .await;

    let start = [a.stats().sent, b.stats().sent];
    let (dropped0, passed0) = (proxy.dropped(), proxy.passed());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = [a.stats().sent, b.stats().sent];
    let (dropped, passed) = (proxy.dropped() - dropped0, proxy.passed() - passed0);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let loss = dropped as f64 / (dropped + passed) as f64;
    assert!(
        (0.03..0.08).contains(&loss),
        "the shim dropped {:.1}%",
        loss * 100.0
    );
    for (i, p) in [&a, &b].iter().enumerate() {
        let video = common::assert_delivered(&c, *p, VIDEO, (start[i], end[i]), 0.99);
        let (from, to) = (start[i][AUDIO as usize], end[i][AUDIO as usize]);
        let audio = c.stats().ratio(p.index, AUDIO, from, to);
        eprintln!(
            "carol from {}: video {:.2}%, audio {:.2}% (no NACK for Opus)",
            p.id,
            video * 100.0,
            audio * 100.0
        );
    }
    let stats = h.sfu.stats().await.unwrap();
    let retransmits: u64 = stats.rooms[0]
        .participants
        .iter()
        .flat_map(|p| &p.published)
        .map(|t| t.counters.retransmits)
        .sum();
    assert!(retransmits > 0, "no packet was re-sent from the cache");
    for p in [a, b, c] {
        p.stop().await;
    }
}
