//! Joining, the peer list, leaving, and disconnect cleanup, over real Socket.IO.

mod common;

use common::{Client, server};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_lists_peers_and_announces_arrivals_and_departures() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let ack = a.join("standup", "Ada").await;
    assert_eq!(ack["peers"], json!([]));
    assert_eq!(ack["mode"], "p2p");
    assert_eq!(ack["iceServers"], json!([]));
    assert_eq!(ack["chatHistory"], json!([]));

    let mut b = Client::connect(&s).await;
    let ack = b.join("standup", "Grace").await;
    assert_eq!(ack["peers"], json!([{ "id": a.id, "name": "Ada" }]));
    assert_eq!(
        a.next("peer-joined").await,
        json!({ "id": b.id, "name": "Grace" })
    );

    // Both have an (idle) SFU session.
    let stats = s.sfu.stats().await.unwrap();
    assert_eq!(stats.tables.sessions, 2);

    // Leaving is acked, announced, and frees the SFU session; the socket stays usable.
    assert_eq!(b.call("leave", json!({})).await, json!({}));
    assert_eq!(
        a.next("peer-left").await,
        json!({ "id": b.id, "reason": "left" })
    );
    assert_eq!(s.sfu.stats().await.unwrap().tables.sessions, 1);
    assert_eq!(
        b.call("leave", json!({})).await["error"]["code"],
        "not-joined"
    );
    b.join("standup", "Grace again").await;
    assert_eq!(a.next("peer-joined").await["name"], "Grace again");

    // Disconnecting counts as leaving.
    let b_id = b.id.clone();
    b.disconnect().await;
    assert_eq!(
        a.next("peer-left").await,
        json!({ "id": b_id, "reason": "disconnected" })
    );
    assert_eq!(s.sfu.stats().await.unwrap().tables.sessions, 1);
    assert_eq!(s.state.rooms.sizes(), vec![("standup".to_owned(), 1)]);
    a.disconnect().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s.state.rooms.sizes().is_empty());
    assert_eq!(s.sfu.stats().await.unwrap().tables.sessions, 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_clients_first() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    a.join("r", "Ada").await;
    let shutdown = tokio::spawn(s.shutdown());
    assert!(a.next("server-shutdown").await["reason"].is_string());
    shutdown.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_secret_gives_each_member_its_own_short_lived_credentials() {
    let mut config = signaling::Config::for_tests();
    config.turn = vec!["turn:turn.example.org:3478".into()];
    config.turn_secret = Some("shared-with-coturn".into());
    config.turn_ttl = Duration::from_secs(600);
    let s = common::server_with(config).await;
    let mut a = Client::connect(&s).await;
    let ack = a.join("creds", "Ada").await;
    let turn = &ack["iceServers"][0];
    assert_eq!(turn["urls"], json!(["turn:turn.example.org:3478"]));
    let username = turn["username"].as_str().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, a.id);
    let expiry: u64 = expiry.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "{expiry} vs {now}"
    );
    // The password is the one a TURN server with the same secret computes.
    let issued = std::time::UNIX_EPOCH + Duration::from_secs(expiry - 600);
    let expected = signaling::turn_rest::mint(
        "shared-with-coturn",
        &a.id,
        issued,
        Duration::from_secs(600),
    );
    assert_eq!(turn["credential"], expected.credential);
    let mut b = Client::connect(&s).await;
    let other = b.join("creds", "Bob").await;
    assert_ne!(other["iceServers"][0]["username"], turn["username"]);
}
