//! Every validation error gets a stable code, and the socket stays usable.

mod common;

use common::{Client, server, server_with};
use serde_json::{Value, json};
use signaling::Config;

fn code(ack: &Value) -> &str {
    ack["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error ack, got {ack}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_error_codes() {
    let s = server().await;
    let mut c = Client::connect(&s).await;

    // Before joining.
    assert_eq!(
        code(&c.call("chat", json!({ "text": "hi" })).await),
        "not-joined"
    );
    assert_eq!(
        code(&c.call("sfu-offer", json!({ "sdp": "v=0" })).await),
        "not-joined"
    );
    assert_eq!(
        code(&c.call("typing", json!({ "typing": true })).await),
        "not-joined"
    );
    assert_eq!(
        code(&c.call("no-such-event", json!({})).await),
        "unknown-event"
    );

    // Joining with bad input.
    assert_eq!(
        code(&c.call("join", json!({ "room": "a b", "name": "x" })).await),
        "bad-room-name"
    );
    assert_eq!(
        code(
            &c.call("join", json!({ "room": "x".repeat(65), "name": "x" }))
                .await
        ),
        "bad-room-name"
    );
    assert_eq!(
        code(&c.call("join", json!({ "room": "ok", "name": "" })).await),
        "bad-name"
    );
    assert_eq!(
        code(
            &c.call("join", json!({ "room": "ok", "name": "n".repeat(65) }))
                .await
        ),
        "bad-name"
    );
    assert_eq!(
        code(&c.call("join", json!({ "room": 5 })).await),
        "bad-request"
    );
    assert_eq!(
        code(&c.call("join", json!("just a string")).await),
        "bad-request"
    );
    // An array of the fields in order is no object, though serde would read one from it.
    assert_eq!(
        code(&c.call("join", json!(["room", "x"])).await),
        "bad-request"
    );
    // A name that reorders or hides text could pass for another member's (on a client of
    // its own: joins are limited to bursts of 10).
    let n = Client::connect(&s).await;
    for name in ["Ada\u{202E}gnp.exe", "Bob\u{200B}", "\u{2067}Cat"] {
        assert_eq!(
            code(&n.call("join", json!({ "room": "ok", "name": name })).await),
            "bad-name",
            "{name:?}"
        );
    }

    // The socket is still usable.
    c.join("ok", "Ada").await;
    assert_eq!(
        code(&c.call("join", json!({ "room": "ok", "name": "Ada" })).await),
        "already-joined"
    );
    assert_eq!(
        code(&c.call("chat", json!({ "text": "x".repeat(4097) })).await),
        "too-large"
    );
    assert_eq!(
        code(&c.call("chat", json!({ "text": "   " })).await),
        "bad-request"
    );
    assert_eq!(
        code(&c.call("chat", json!({ "txt": "typo" })).await),
        "bad-request"
    );
    assert_eq!(
        code(
            &c.call("sfu-offer", json!({ "sdp": "x".repeat(64 * 1024 + 1) }))
                .await
        ),
        "too-large"
    );
    assert_eq!(
        code(&c.call("sfu-offer", json!({ "sdp": "not sdp" })).await),
        "bad-sdp"
    );
    assert_eq!(
        code(&c.call("sfu-answer", json!({ "sdp": "v=0\r\n" })).await),
        "bad-sdp"
    );
    assert_eq!(
        code(
            &c.call("sfu-candidate", json!({ "candidate": "candidate:junk" }))
                .await
        ),
        "bad-candidate"
    );
    assert_eq!(
        code(&c.call("p2p-signal", json!({ "to": "x" })).await),
        "bad-request"
    );
    assert_eq!(
        code(&c.call("typing", json!({ "typing": "yes" })).await),
        "bad-request"
    );

    // Rate limit: bursts of 10 chat messages, then refusals.
    let mut limited = 0;
    for i in 0..20 {
        let ack = c.call("chat", json!({ "text": format!("m{i}") })).await;
        if ack.get("error").is_some() {
            assert_eq!(code(&ack), "rate-limited");
            limited += 1;
        }
    }
    assert!(
        limited >= 5,
        "only {limited} of 20 rapid messages were limited"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        c.call("chat", json!({ "text": "after a pause" }))
            .await
            .get("id")
            .is_some()
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_names_a_member_of_your_room_and_a_sane_size() {
    let s = server().await;
    let mut a = Client::connect(&s).await;
    let mut b = Client::connect(&s).await;
    let mut c = Client::connect(&s).await;
    let view = |peer: &str, width: u64| json!({ "peer": peer, "width": width, "height": 360, "visible": false });

    assert_eq!(code(&a.call("view", view("x", 640)).await), "not-joined");
    let a_id = a.join("v1", "Ada").await["id"].as_str().unwrap().to_owned();
    let b_id = b.join("v1", "Bob").await["id"].as_str().unwrap().to_owned();
    let c_id = c.join("v2", "Cat").await["id"].as_str().unwrap().to_owned();

    assert_eq!(a.call("view", view(&b_id, 640)).await, json!({}));
    assert_eq!(
        a.call(
            "view",
            json!({ "peer": b_id, "width": 640, "height": 360, "visible": true })
        )
        .await,
        json!({})
    );
    // Someone in another room, yourself, or no one: not in your room.
    assert_eq!(code(&a.call("view", view(&c_id, 640)).await), "not-in-room");
    assert_eq!(code(&a.call("view", view(&a_id, 640)).await), "not-in-room");
    assert_eq!(
        code(&a.call("view", view("nobody", 640)).await),
        "not-in-room"
    );
    // Sizes past any screen, and payloads of the wrong shape.
    assert_eq!(
        code(&a.call("view", view(&b_id, 100_000)).await),
        "bad-request"
    );
    assert_eq!(
        code(&a.call("view", json!({ "peer": b_id })).await),
        "bad-request"
    );
    assert_eq!(
        code(
            &a.call(
                "view",
                json!({ "peer": b_id, "width": -1, "height": 1, "visible": true })
            )
            .await
        ),
        "bad-request"
    );
    // The socket stays usable.
    assert_eq!(a.call("view", view(&b_id, 320)).await, json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_says_so() {
    let mut config = Config::for_tests();
    config.max_room_size = 2;
    let s = server_with(config).await;
    let mut a = Client::connect(&s).await;
    let mut b = Client::connect(&s).await;
    let c = Client::connect(&s).await;
    a.join("small", "A").await;
    b.join("small", "B").await;
    let ack = c
        .call("join", json!({ "room": "small", "name": "C" }))
        .await;
    assert_eq!(code(&ack), "room-full");
    assert!(ack["error"]["message"].as_str().unwrap().contains("full"));
    // Another room is fine.
    assert!(
        c.call("join", json!({ "room": "big", "name": "C" }))
            .await
            .get("id")
            .is_some()
    );
    s.shutdown().await;
}

/// Every request sent with an ack callback gets an ack, even with no payload at all, with
/// extra arguments, or with one of the wrong type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_an_ack_whatever_its_payload() {
    let s = server().await;
    let c = Client::connect(&s).await;
    let events = [
        "join",
        "leave",
        "p2p-signal",
        "p2p-failed",
        "p2p-ready",
        "sfu-offer",
        "sfu-answer",
        "sfu-candidate",
        "sfu-restart",
        "chat",
        "typing",
        "media-state",
        "view",
        "no-such-event",
    ];
    let payloads: [Vec<Value>; 5] = [
        vec![],
        vec![Value::Null],
        vec![json!(42)],
        vec![json!([1, 2])],
        vec![json!({}), json!("extra")],
    ];
    for event in events {
        for args in &payloads {
            let ack = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                c.sio.emit_args_with_ack(event, args.clone()),
            )
            .await
            .unwrap_or_else(|_| panic!("no ack for {event} with {args:?}"))
            .expect("still connected");
            assert!(
                ack.get("error").is_some(),
                "{event} with {args:?} was accepted: {ack}"
            );
        }
    }
    s.shutdown().await;
}
