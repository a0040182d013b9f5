//! Chat: acks, order, broadcast, history for late joiners; and the typing indicator.

mod common;

use common::{Client, server};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_acked_ordered_broadcast_and_remembered() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let mut b = Client::connect(&s).await;
    let mut other_room = Client::connect(&s).await;
    a.join("room", "Ada").await;
    b.join("room", "Grace").await;
    other_room.join("elsewhere", "Eve").await;

    let mut ids = Vec::new();
    for i in 0..5 {
        let ack = a
            .call("chat", json!({ "text": format!("hello {i}") }))
            .await;
        assert!(ack["ts"].as_u64().unwrap() > 0);
        ids.push(ack["id"].as_u64().unwrap());
    }
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    for (i, id) in ids.iter().enumerate() {
        let msg = b.next("chat").await;
        assert_eq!(msg["text"], format!("hello {i}"));
        assert_eq!(
            (msg["from"].as_str().unwrap(), msg["name"].as_str().unwrap()),
            (a.id.as_str(), "Ada")
        );
        assert_eq!(msg["id"], *id);
    }
    assert!(!other_room.sees("chat", Duration::from_millis(300)).await);
    assert!(
        !a.sees("chat", Duration::from_millis(100)).await,
        "the sender has its ack"
    );

    // A late joiner sees the conversation.
    let mut late = Client::connect(&s).await;
    let ack = late.join("room", "Late").await;
    let history = ack["chatHistory"].as_array().unwrap();
    assert_eq!(history.len(), 5);
    assert_eq!(history[0]["text"], "hello 0");
    assert_eq!(history[4]["text"], "hello 4");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_others() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let mut b = Client::connect(&s).await;
    a.join("room", "Ada").await;
    b.join("room", "Grace").await;
    assert_eq!(a.call("typing", json!({ "typing": true })).await, json!({}));
    assert_eq!(
        b.next("typing").await,
        json!({ "id": a.id, "name": "Ada", "typing": true })
    );
    a.call("typing", json!({ "typing": false })).await;
    assert_eq!(b.next("typing").await["typing"], false);
    assert!(!a.sees("typing", Duration::from_millis(200)).await);

    // Camera and microphone state reach the others the same way.
    let ack = a
        .call("media-state", json!({ "audio": true, "video": false }))
        .await;
    assert_eq!(ack, json!({}));
    assert_eq!(
        b.next("media-state").await,
        json!({ "id": a.id, "name": "Ada", "audio": true, "video": false, "screen": false })
    );
    // A shared screen is said so; the SFU marks the member's video for priority.
    a.call(
        "media-state",
        json!({ "audio": true, "video": true, "screen": true }),
    )
    .await;
    assert_eq!(b.next("media-state").await["screen"], true);
    let ack = a.call("media-state", json!({ "audio": "on" })).await;
    assert_eq!(ack["error"]["code"], "bad-request");
    s.shutdown().await;
}
