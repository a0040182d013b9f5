//! The server on several media workers: a worker's failure reaches its rooms' members as
//! `sfu-failed` and no one else, they get new sessions with `sfu-restart`, and the admin API
//! and the metrics show each worker and their sum.

mod common;

use common::{Client, admin_json, http, server_with};
use serde_json::{Value, json};
use sfu::RoomId;
use signaling::Config;
use std::time::Duration;

fn two_workers() -> Config {
    let mut c = Config::for_tests();
    c.workers = 2;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_worker_tells_only_its_members_who_then_restart() {
    let s = server_with(two_workers()).await;
    let mut members = Vec::new();
    for (room, name) in [
        ("alpha", "Ada"),
        ("alpha", "Alan"),
        ("beta", "Bea"),
        ("beta", "Bo"),
    ] {
        let mut c = Client::connect(&s).await;
        c.join(room, name).await;
        members.push(c);
    }
    let (a, b) = (
        s.sfu
            .worker_of(&RoomId::from("alpha"))
            .expect("alpha placed"),
        s.sfu.worker_of(&RoomId::from("beta")).expect("beta placed"),
    );
    assert_ne!(a, b);
    let workers = admin_json(&s, "/api/workers").await;
    assert_eq!(workers["total"]["participants"], 4);
    let rooms = admin_json(&s, "/api/rooms").await;
    let worker_of = |rooms: &Value, name: &str| {
        rooms
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["worker"].clone())
    };
    assert_eq!(worker_of(&rooms, "alpha"), Some(json!(a)));
    assert_eq!(worker_of(&rooms, "beta"), Some(json!(b)));

    s.sfu.crash_worker(a).unwrap();
    let (alpha, beta) = members.split_at_mut(2);
    for c in alpha.iter_mut() {
        assert_eq!(c.next("sfu-failed").await, json!({}));
    }
    for c in beta.iter_mut() {
        assert!(!c.sees("sfu-failed", Duration::from_millis(500)).await);
    }
    // Each lost member asks for a new session, and the room is placed again.
    for c in alpha.iter() {
        assert_eq!(c.call("sfu-restart", json!({})).await, json!({}));
    }
    assert!(s.sfu.worker_of(&RoomId::from("alpha")).is_some());
    let workers = admin_json(&s, "/api/workers").await;
    assert_eq!(workers["total"]["participants"], 4, "{workers}");
    assert_eq!(workers["workers"][a]["restarts"], 1, "{workers}");
    assert_eq!(workers["workers"][a]["alive"], true, "{workers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_listed_with_their_sum_and_in_the_metrics() {
    let s = server_with(two_workers()).await;
    let mut clients = Vec::new();
    for (room, name) in [("one", "A"), ("one", "B"), ("one", "C"), ("two", "D")] {
        let mut c = Client::connect(&s).await;
        c.join(room, name).await;
        clients.push(c);
    }
    let v = admin_json(&s, "/api/workers").await;
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    for key in ["rooms", "participants", "down_tracks"] {
        let sum: u64 = workers.iter().map(|w| w[key].as_u64().unwrap()).sum();
        assert_eq!(v["total"][key].as_u64().unwrap(), sum, "{key}: {v}");
    }
    assert_eq!(v["total"]["rooms"], 2);
    assert_eq!(v["total"]["participants"], 4);
    let ports: Vec<&str> = workers
        .iter()
        .map(|w| w["media_addr"].as_str().unwrap())
        .collect();
    assert_ne!(ports[0], ports[1]);

    let (status, text) = http(s.admin_addr.unwrap(), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let rooms_of = |w: usize| {
        text.lines()
            .find(|l| l.starts_with(&format!("sfu_worker_rooms{{worker=\"{w}\"}}")))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no rooms line for worker {w}:\n{text}"))
    };
    assert_eq!(rooms_of(0) + rooms_of(1), 2.0);
    assert!(
        text.contains("sfu_worker_cpu_seconds{worker=\"1\"}"),
        "{text}"
    );
    let (status, doc) = http(s.admin_addr.unwrap(), "GET", "/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc.contains("/api/workers"));
}
