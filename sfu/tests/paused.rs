//! A room whose members talk peer to peer keeps its SFU sessions connected but forwards
//! nothing; turning forwarding back on resumes media at once, starting on a keyframe.

mod common;

use sfu::core::forwarder::DropReason;

use common::{AUDIO, Harness, VIDEO};
use sfu::RoomId;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_room_forwards_nothing_and_resumes() {
    let h = Harness::start().await;
    let peers = h.call("room", &["alice", "bob", "carol"]).await;
    let room = RoomId::from("room");

    h.sfu.set_forwarding(room.clone(), false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent_out = |s: &sfu::SfuStats| -> u64 {
        s.rooms[0]
            .participants
            .iter()
            .flat_map(|p| &p.subscribed)
            .map(|d| d.counters.packets)
            .sum()
    };
    let before = h.sfu.stats().await.unwrap();
    let got: Vec<usize> = peers.iter().map(|p| p.stats().got(1, AUDIO)).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = h.sfu.stats().await.unwrap();
    assert_eq!(
        sent_out(&after),
        sent_out(&before),
        "nothing is forwarded while paused"
    );
    let paused: u64 = after.rooms[0]
        .participants
        .iter()
        .flat_map(|p| &p.subscribed)
        .map(|d| d.counters.dropped.of(DropReason::Paused))
        .sum();
    assert!(
        paused > 100,
        "publishers kept sending and the SFU counted the drops"
    );
    assert_eq!(peers[1].stats().got(1, AUDIO), got[1]);

    let plis: Vec<u64> = peers.iter().map(|p| p.stats().plis).collect();
    h.sfu.set_forwarding(room, true).await.unwrap();
    let (v2, v3) = (
        peers[1].stats().got(1, VIDEO),
        peers[2].stats().got(1, VIDEO),
    );
    h.wait_for("video to resume", Duration::from_secs(5), || {
        peers[1].stats().got(1, VIDEO) > v2 + 10 && peers[2].stats().got(1, VIDEO) > v3 + 10
    })
    .await;
    for (p, before) in peers.iter().zip(plis) {
        assert!(
            p.stats().plis > before,
            "{} was asked for a keyframe on resume",
            p.id
        );
    }
    for p in peers {
        p.stop().await;
    }
}
