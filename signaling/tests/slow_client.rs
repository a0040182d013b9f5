//! Clients that fall behind: every message the protocol depends on is delivered, or the
//! client is disconnected (and rejoins). Before, a full send buffer dropped messages silently:
//! a member that paused reading missed the `sfu-offer` of a newcomer and never saw it, its
//! P2P peer was told `peer-gone` for a member that never left, and acks went missing.

mod common;

use common::{Client, member, server, server_with};
use serde_json::{Value, json};
use sfu::testkit::{AUDIO, Sabotage, VIDEO};
use signaling::Config;
use signaling::config::P2pPolicy;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_pauses_reading_misses_nothing() {
    let s = server().await;
    let mut a = member(&s, "room", "alice", 1).await;
    let b = member(&s, "room", "bob", 2).await;
    // Alice stops reading: her server-side buffers fill while bob signals her, as much as
    // the documented limits let him, and carol joins.
    a.client.sio.paused.store(true, Ordering::Relaxed);
    let paused_at = Instant::now();
    let big = json!({ "type": "offer", "sdp": format!("v=0\r\n{}", "a=x:0123456789abcdef\r\n".repeat(2600)) });
    let small = json!({ "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0" });
    let mut acks = Vec::new();
    let mut sent = 0u32;
    // 16 large descriptions (1 MiB: the byte burst) fill the TCP buffers; then small
    // candidates at the signaling rate: 200 at once, then 100 a second.
    for i in 0..16 {
        acks.push(b.client.sio.emit_with_ack(
            "p2p-signal",
            json!({ "to": a.client.id, "description": big, "order": { "link": "l", "seq": i } }),
        ));
        sent += 1;
    }
    let mut carol = None;
    let tick = Duration::from_millis(10);
    while paused_at.elapsed() < Duration::from_millis(1500) {
        let burst = if sent < 200 { 184 } else { 1 };
        for _ in 0..burst {
            acks.push(b.client.sio.emit_with_ack(
                "p2p-signal",
                json!({ "to": a.client.id, "candidate": small, "order": { "link": "l", "seq": sent } }),
            ));
            sent += 1;
        }
        // Carol joins halfway through: the room moves to the SFU, and the SFU offers alice
        // carol's tracks.
        if carol.is_none() && paused_at.elapsed() > Duration::from_millis(500) {
            carol = Some(member(&s, "room", "carol", 3).await);
        }
        tokio::time::sleep(tick).await;
    }
    let carol = carol.expect("carol joined");
    a.client.sio.paused.store(false, Ordering::Relaxed);

    let mut refused = Vec::new();
    for ack in acks {
        let v = tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .expect("every signal is acked")
            .expect("bob stays connected");
        if let Some(code) = v["error"]["code"].as_str() {
            refused.push(code.to_owned());
        }
    }
    // Alice paused for less than the heartbeat allows, within the documented rates: she
    // stays connected, and gets every message.
    assert!(
        refused.iter().all(|c| c == "rate-limited"),
        "signals to a member that never left were refused: {refused:?}"
    );
    common::wait_until("alice to receive carol's media", async || {
        let st = a.peer.stats();
        st.got(3, AUDIO) > 5 && st.got(3, VIDEO) > 5
    })
    .await;
    assert!(a.client.sio.is_open(), "alice was not disconnected");
    let delivered = sent as usize - refused.len();
    for _ in 0..delivered {
        let v = a.client.next("p2p-signal").await;
        assert_eq!(v["from"], json!(b.client.id));
    }
    assert_eq!(a.client.next("mode").await["mode"], "sfu");
    // Bob's arrival came first; then carol's.
    assert_eq!(a.client.next("peer-joined").await["id"], json!(b.client.id));
    assert_eq!(
        a.client.next("peer-joined").await["id"],
        json!(carol.client.id)
    );
    println!("alice got {delivered} signals of the {sent} sent; the rest were rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_chat_messages_at_once_are_all_acked() {
    let s = server().await;
    let mut c = Client::connect(&s).await;
    c.join("room", "ada").await;
    // Sent while the client is busy elsewhere and reads nothing, for a second: the acks
    // wait at the server meanwhile.
    c.sio.paused.store(true, Ordering::Relaxed);
    let acks: Vec<_> = (0..1000)
        .map(|i| {
            c.sio
                .emit_with_ack("chat", json!({ "text": format!("message {i}") }))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.sio.paused.store(false, Ordering::Relaxed);
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for ack in acks {
        let v: Value = tokio::time::timeout(Duration::from_secs(15), ack)
            .await
            .expect("every chat message is acked in time")
            .expect("the socket stays open");
        let code = v["error"]["code"].as_str().unwrap_or("ok").to_owned();
        *codes.entry(code).or_default() += 1;
    }
    // The burst allowance goes through (and a little more as the bucket refills while the
    // server works through them); the rest is refused, each with its own ack.
    let (ok, limited) = (
        codes.get("ok").copied().unwrap_or(0),
        codes.get("rate-limited").copied().unwrap_or(0),
    );
    assert!(ok >= 10 && ok + limited == 1000, "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_refused_by_signaling_is_followed_by_a_fresh_offer() {
    let mut config = Config::for_tests();
    config.p2p = P2pPolicy::Off;
    let s = server_with(config).await;
    let mut a = member(&s, "room", "alice", 1).await;
    let b = member(&s, "room", "bob", 2).await;
    common::wait_until("alice and bob to hear each other", async || {
        common::everyone_receives(&[&a, &b])
    })
    .await;
    // Alice's answer to the offer of carol's tracks is over 64 KiB: signaling refuses it
    // before the SFU sees it, and must tell the SFU, which offers again.
    a.peer.sabotage_next_answer(Sabotage::TooLarge);
    let carol = member(&s, "room", "carol", 3).await;
    common::wait_until("alice to receive carol after a fresh offer", async || {
        let st = a.peer.stats();
        st.got(3, VIDEO) > 5 && st.got(3, AUDIO) > 5
    })
    .await;
    assert_eq!(a.peer.stats().refused_answers, 1);
    drop(a.client.next("peer-joined").await);
    drop((b, carol));
}

/// A member whose client stops reading while messages are on their way is gone within
/// seconds. Before, the server's writer waited on the full connection for ever, and the
/// heartbeat's close could not finish: the member stayed in the room as a ghost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_leaves_the_room() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    a.join("room", "ada").await;
    let mut b = Client::connect(&s).await;
    b.join("room", "bob").await;
    // Ada stops reading, with a few MB of acks on their way to her: enough to fill the
    // connection, not the server's buffer.
    a.sio.paused.store(true, Ordering::Relaxed);
    let event = "x".repeat(1024);
    for _ in 0..5000 {
        drop(a.sio.emit_with_ack(&event, json!({})));
    }
    let started = Instant::now();
    let left = tokio::time::timeout(
        Duration::from_secs(25),
        b.next_within("peer-left", Duration::from_secs(25)),
    )
    .await
    .expect("ada leaves the room");
    assert_eq!(left["id"], json!(a.id));
    println!("ada was dropped after {:?}", started.elapsed());
}
