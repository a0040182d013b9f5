//! The mode policy with real SFU sessions: rtc-based peers negotiate over Socket.IO and
//! publish through the server's SFU, exactly as the browser client does.

mod common;

use common::{Client, admin_json, everyone_receives, member, server, server_with, wait_until};
use serde_json::json;
use sfu::SubscribedStats;
use sfu::testkit::VIDEO;
use signaling::Server;
use signaling::config::P2pPolicy;
use std::time::Duration;

/// Sums a counter over every subscription in `room`.
async fn subscribed(s: &Server, room: &str, counter: fn(&SubscribedStats) -> u64) -> u64 {
    let stats = s.sfu.stats().await.unwrap();
    stats
        .rooms
        .iter()
        .filter(|r| r.name == room)
        .flat_map(|r| &r.participants)
        .flat_map(|p| &p.subscribed)
        .map(counter)
        .sum()
}

/// Packets the SFU sent to subscribers in `room`.
async fn forwarded(s: &Server, room: &str) -> u64 {
    subscribed(s, room, |d| d.counters.packets).await
}

/// Packets that reached the SFU in `room` but were held back because it is P2P.
async fn held(s: &Server, room: &str) -> u64 {
    subscribed(s, room, |d| {
        d.counters
            .dropped
            .of(sfu::core::forwarder::DropReason::Paused)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_member_moves_the_room_to_the_sfu_and_back_after_the_hold_down() {
    let s = server().await;
    let mut a = member(&s, "call", "Ada", 1).await;
    let mut b = member(&s, "call", "Bob", 2).await;

    // Two members: P2P. Their SFU sessions connect and publish, but nothing is forwarded.
    wait_until("both SFU sessions to publish", async || {
        held(&s, "call").await > 50
    })
    .await;
    assert_eq!(
        forwarded(&s, "call").await,
        0,
        "the server forwards no media for a P2P room"
    );
    assert_eq!(a.peer.stats().got(2, VIDEO), 0);

    // A third joins: everyone is told, and media flows through the SFU.
    let c = member(&s, "call", "Cat", 3).await;
    for m in [&mut a, &mut b] {
        assert_eq!(
            m.client.next("mode").await,
            json!({ "mode": "sfu", "reason": "third-member" })
        );
    }
    let peers = [&a, &b, &c];
    wait_until("everyone to receive everyone through the SFU", async || {
        everyone_receives(&peers)
    })
    .await;
    assert!(forwarded(&s, "call").await > 0);

    // Back to two: after the hold-down the room returns to P2P.
    let c_id = c.client.id.clone();
    c.client.disconnect().await;
    c.peer.stop().await;
    for m in [&mut a, &mut b] {
        assert_eq!(m.client.next("peer-left").await["id"], c_id);
    }
    let left_at = std::time::Instant::now();
    for m in [&mut a, &mut b] {
        assert_eq!(
            m.client.next("mode").await,
            json!({ "mode": "p2p", "reason": "hold-down" })
        );
    }
    assert!(
        left_at.elapsed() >= Duration::from_millis(900),
        "the hold-down was honoured"
    );

    // Make before break: the SFU keeps forwarding until both report their P2P media flows.
    let before = forwarded(&s, "call").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        forwarded(&s, "call").await > before,
        "still forwarding while P2P comes up"
    );
    for m in [&a, &b] {
        assert_eq!(m.client.call("p2p-ready", json!({})).await, json!({}));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = forwarded(&s, "call").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        forwarded(&s, "call").await,
        stopped,
        "forwarding stopped once both had P2P"
    );

    for m in [a, b] {
        m.peer.stop().await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2p_off_and_p2p_failure_use_the_sfu_for_two() {
    // --p2p off: a room of two forwards through the SFU from the start.
    let mut config = signaling::Config::for_tests();
    config.p2p = P2pPolicy::Off;
    let s = server_with(config).await;
    let a = member(&s, "off", "Ada", 1).await;
    let b = member(&s, "off", "Bob", 2).await;
    wait_until("media through the SFU", async || {
        a.peer.stats().got(2, VIDEO) > 10 && b.peer.stats().got(1, VIDEO) > 10
    })
    .await;
    for m in [a, b] {
        m.peer.stop().await;
    }
    s.shutdown().await;

    // A P2P pair whose ICE failed moves to the SFU.
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let mut b = Client::connect(&s).await;
    assert_eq!(a.join("pair", "Ada").await["mode"], "p2p");
    assert_eq!(b.join("pair", "Bob").await["mode"], "p2p");
    assert_eq!(a.call("p2p-failed", json!({})).await, json!({}));
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.next("mode").await,
            json!({ "mode": "sfu", "reason": "p2p-failed" })
        );
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_client_is_removed_by_the_ping_timeout() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let ghost = Client::connect(&s).await;
    a.join("r", "Ada").await;
    let mut ghost = ghost;
    ghost.join("r", "Ghost").await;
    assert_eq!(a.next("peer-joined").await["name"], "Ghost");
    assert_eq!(s.sfu.stats().await.unwrap().tables.sessions, 2);
    // No goodbye: it just stops answering pings.
    ghost
        .sio
        .silent
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let left = tokio::time::timeout(Duration::from_secs(15), a.next("peer-left"))
        .await
        .expect("removed within 15 s");
    assert_eq!(left, json!({ "id": ghost.id, "reason": "disconnected" }));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "removed within a few seconds"
    );
    assert_eq!(
        s.sfu.stats().await.unwrap().tables.sessions,
        1,
        "its SFU session is freed"
    );
    s.shutdown().await;
}

/// Three members joining at once: whichever join's forwarding change reaches the SFU last,
/// the room ends on the SFU with forwarding on. (A join used to apply the mode it saw, so
/// one that saw the room P2P could turn forwarding off after the third had turned it on,
/// leaving a room in the SFU mode in which nothing was forwarded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_leave_a_room_of_three_forwarding() {
    let s = server().await;
    for round in 0..8 {
        let room = format!("rush-{round}");
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(Client::connect(&s).await);
        }
        let joins = clients
            .iter()
            .enumerate()
            .map(|(i, c)| c.call("join", json!({ "room": room, "name": format!("m{i}") })));
        for ack in futures_util::future::join_all(joins).await {
            assert!(ack.get("error").is_none(), "{ack}");
        }
        // Give every queued change time to land.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let detail = admin_json(&s, &format!("/api/rooms/{room}")).await;
        assert_eq!(detail["mode"], "sfu", "{detail}");
        assert_eq!(detail["forwarding"], true, "round {round}: {detail}");
        for c in clients {
            c.disconnect().await;
        }
    }
}
