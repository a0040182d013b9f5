//! The admin API over a live call: rtc-based peers join over Socket.IO, publish through the
//! SFU, and the API's figures are checked against what the peers counted.

mod common;

use common::{admin_json, everyone_receives, http, member, server, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

fn packets_out(room: &Value) -> u64 {
    room["totals"]["packets_out"].as_u64().expect("packets_out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_of_three_as_the_admin_api_sees_it() {
    let s = server().await;
    let a = member(&s, "live", "Ada", 1).await;
    let b = member(&s, "live", "Bob", 2).await;

    // Two members talk P2P: their SFU sessions publish, and the server forwards nothing.
    wait_until("both SFU sessions to publish", async || {
        let room = admin_json(&s, "/api/rooms/live").await;
        room["totals"]["packets_dropped"].as_u64() > Some(50)
    })
    .await;
    let room = admin_json(&s, "/api/rooms/live").await;
    assert_eq!(room["mode"], "p2p");
    assert_eq!(packets_out(&room), 0, "nothing forwarded in P2P: {room}");

    let mut c = member(&s, "live", "Cat", 3).await;
    let peers = [&a, &b, &c];
    wait_until("everyone to receive everyone", async || {
        everyone_receives(&peers)
    })
    .await;

    let list = admin_json(&s, "/api/rooms").await;
    assert_eq!(list[0]["name"], "live");
    assert_eq!(list[0]["mode"], "sfu");
    assert_eq!(list[0]["participants"], 3);
    assert_eq!(list[0]["tracks"], 6);

    let first = admin_json(&s, "/api/rooms/live").await;
    assert_eq!(first["mode"], "sfu");
    let members = first["participants"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for p in members {
        assert_eq!(p["transport"]["state"], "connected", "{p}");
        assert_eq!(p["published"].as_array().unwrap().len(), 2);
        assert_eq!(p["subscribed"].as_array().unwrap().len(), 4);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = admin_json(&s, "/api/rooms/live").await;
    assert!(
        packets_out(&second) > packets_out(&first),
        "packets_out rises"
    );

    // The server's count matches what the peers received, within 5%.
    let received: usize = peers
        .iter()
        .map(|m| {
            m.peer
                .stats()
                .received
                .values()
                .map(|s| s.len())
                .sum::<usize>()
        })
        .sum();
    let sent = packets_out(&second) as f64;
    let diff = (sent - received as f64).abs() / sent;
    assert!(
        diff < 0.05,
        "server forwarded {sent}, peers received {received}"
    );

    // Receiver reports give each session's round-trip time; on loopback it is tiny.
    wait_until("round-trip times", async || {
        let room = admin_json(&s, "/api/rooms/live").await;
        room["participants"].as_array().unwrap().iter().all(|p| {
            p["transport"]["rtt_ms"]
                .as_f64()
                .is_some_and(|ms| (0.0..50.0).contains(&ms))
        })
    })
    .await;

    // The move to the SFU was timed, and /metrics says so.
    let (status, metrics) = http(s.admin_addr.unwrap(), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("sfu_room_switch_to_sfu_seconds_count 1"),
        "{metrics}"
    );

    // An administrator removes Cat: Cat is told why, the others see it leave.
    let (status, body) = http(
        s.admin_addr.unwrap(),
        "DELETE",
        &format!("/api/rooms/live/participants/{}", c.client.id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let removed = c.client.next("removed").await;
    assert!(
        removed["reason"]
            .as_str()
            .unwrap()
            .contains("administrator"),
        "{removed}"
    );
    let room = admin_json(&s, "/api/rooms/live").await;
    assert_eq!(room["participants"].as_array().unwrap().len(), 2);

    // Closing the room removes the rest.
    let (status, body) = http(s.admin_addr.unwrap(), "DELETE", "/api/rooms/live", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["removed"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, _) = http(s.admin_addr.unwrap(), "GET", "/api/rooms/live", None).await;
    assert_eq!(status, 404);
    assert_eq!(admin_json(&s, "/api/rooms").await, json!([]));
    assert_eq!(s.sfu.stats().await.unwrap().tables.sessions, 0);

    for m in [a, b, c] {
        m.peer.stop().await;
    }
    s.shutdown().await;
}
