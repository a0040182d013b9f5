//! The embedded TURN server as the join ack and the admin API show it. (Browsers relay a
//! whole call through it in `client/e2e/turn.test.mjs`.)

mod common;

use common::{Client, admin_json, http, server_with};
use signaling::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_get_the_embedded_turn_server_with_credentials_of_their_own() {
    let mut config = Config::for_tests();
    config.turn_listen = Some("127.0.0.1:0".parse().unwrap());
    config.turn_secret = Some("between-us".into());
    let s = server_with(config).await;
    let turn = admin_json(&s, "/api/turn").await;
    assert_eq!(turn["enabled"], true);
    assert_eq!(turn["allocations"], 0);
    let urls = turn["urls"].as_array().unwrap().clone();
    assert_eq!(urls.len(), 2);
    let port = urls[0]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    assert_ne!(port, "0", "the port actually bound is announced");
    assert!(urls[1].as_str().unwrap().ends_with("?transport=tcp"));

    let mut a = Client::connect(&s).await;
    let ack = a.join("relay", "Ada").await;
    let entry = ack["iceServers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["urls"] == serde_json::Value::Array(urls.clone()))
        .expect("the embedded server in the join ack")
        .clone();
    let username = entry["username"].as_str().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, a.id);
    let expiry: u64 = expiry.parse().unwrap();
    assert_eq!(
        entry["credential"],
        signaling::turn_rest::password("between-us", username)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry > now + 3600, "valid for the configured day");

    let (status, metrics) = http(s.admin_addr.unwrap(), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("sfu_turn_allocations 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_turn_listen_the_admin_api_says_so() {
    let s = server_with(Config::for_tests()).await;
    let turn = admin_json(&s, "/api/turn").await;
    assert_eq!(turn["enabled"], false);
    let mut a = Client::connect(&s).await;
    let ack = a.join("plain", "Bo").await;
    assert_eq!(ack["iceServers"], serde_json::json!([]));
}
