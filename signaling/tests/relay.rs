//! The P2P relay reaches only the named peer, and only within the same room.

mod common;

use common::{Client, server};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2p_signals_stay_within_the_room() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let mut b = Client::connect(&s).await;
    let mut c = Client::connect(&s).await;
    let mut outsider = Client::connect(&s).await;
    a.join("one", "A").await;
    b.join("one", "B").await;
    c.join("one", "C").await;
    outsider.join("two", "O").await;

    let offer = json!({ "type": "offer", "sdp": "v=0\r\n" });
    let ack = a
        .call("p2p-signal", json!({ "to": b.id, "description": offer }))
        .await;
    assert_eq!(ack, json!({}));
    assert_eq!(
        b.next("p2p-signal").await,
        json!({ "from": a.id, "description": offer })
    );
    let cand = json!({ "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0" });
    let order = json!({ "link": "l1", "seq": 1 });
    b.call(
        "p2p-signal",
        json!({ "to": a.id, "candidate": cand, "order": order }),
    )
    .await;
    assert_eq!(
        a.next("p2p-signal").await,
        json!({ "from": b.id, "candidate": cand, "order": order })
    );
    b.call("p2p-signal", json!({ "to": a.id, "candidate": cand }))
        .await;
    assert_eq!(
        a.next("p2p-signal").await,
        json!({ "from": b.id, "candidate": cand })
    );
    // Only the named peer got it.
    assert!(!c.sees("p2p-signal", Duration::from_millis(300)).await);

    // Across rooms: refused, and nothing arrives.
    let ack = outsider
        .call("p2p-signal", json!({ "to": a.id, "description": offer }))
        .await;
    assert_eq!(ack["error"]["code"], "not-in-room");
    let ack = a
        .call(
            "p2p-signal",
            json!({ "to": outsider.id, "candidate": cand }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "not-in-room");
    let ack = a
        .call(
            "p2p-signal",
            json!({ "to": "no-such-socket", "candidate": cand }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "not-in-room");
    assert!(!a.sees("p2p-signal", Duration::from_millis(300)).await);
    assert!(
        !outsider
            .sees("p2p-signal", Duration::from_millis(100))
            .await
    );
    s.shutdown().await;
}
