//! The admin API and metrics through axum's `oneshot`: authentication, 404s, payload shapes.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use sfu::{ParticipantId, RoomId, SfuHandle, SfuOptions};
use signaling::Config;
use signaling::app::{admin_app, app};
use signaling::rooms::Member;
use signaling::state::AppState;
use tower::ServiceExt;

fn state(token: Option<&str>) -> AppState {
    let mut config = Config::for_tests();
    config.admin_token = token.map(str::to_owned);
    let (sfu, _events) = SfuHandle::start(SfuOptions::new(config.udp)).expect("media socket");
    AppState::new(config, sfu)
}

async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Puts a member in a room the way the join handler does: signaling state and SFU session.
async fn seat(state: &AppState, room: &str, id: &str, name: &str) {
    let member = Member {
        id: id.into(),
        name: name.into(),
        restricted: false,
    };
    state.rooms.join(room, member, || {}).unwrap();
    state
        .sfu
        .join(RoomId(room.into()), ParticipantId(id.into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_api_call_needs_the_token() {
    let (router, _io) = app(state(Some("s3cret")));
    for (method, uri) in [
        ("GET", "/api/rooms"),
        ("GET", "/api/rooms/x"),
        ("DELETE", "/api/rooms/x"),
        ("DELETE", "/api/rooms/x/participants/y"),
        ("GET", "/api/openapi.json"),
    ] {
        for token in [None, Some("wrong"), Some("s3cret-and-more"), Some("")] {
            let (status, body) = send(&router, method, uri, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
            assert_eq!(json(&body)["error"]["code"], "unauthorized");
        }
    }
    let (status, body) = send(&router, "GET", "/api/rooms", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body), serde_json::json!([]));
    // Probes need no token.
    assert_eq!(
        send(&router, "GET", "/healthz", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&router, "GET", "/metrics", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_a_token_the_api_is_only_on_the_admin_listener() {
    let state = state(None);
    let (public, _io) = app(state.clone());
    let (status, body) = send(&public, "GET", "/api/rooms", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        json(&body)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback")
    );
    let admin = admin_app(state);
    let (status, _) = send(&admin, "GET", "/api/rooms", None).await;
    assert_eq!(status, StatusCode::OK);
    // A page that reached the listener by DNS rebinding carries its own Host name.
    let req = Request::get("/api/rooms")
        .header(header::HOST, "attacker.example:8081")
        .body(Body::empty())
        .unwrap();
    let res = admin.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let req = Request::get("/api/rooms")
        .header(header::HOST, "127.0.0.1:8081")
        .body(Body::empty())
        .unwrap();
    assert_eq!(admin.oneshot(req).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_rooms_and_participants_are_404() {
    let state = state(None);
    seat(&state, "here", "p1", "Ada").await;
    let admin = admin_app(state);
    for (method, uri) in [
        ("GET", "/api/rooms/nowhere"),
        ("DELETE", "/api/rooms/nowhere"),
        ("DELETE", "/api/rooms/nowhere/participants/p1"),
        ("DELETE", "/api/rooms/here/participants/nobody"),
        ("GET", "/api/no/such/thing"),
    ] {
        let (status, body) = send(&admin, method, uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(json(&body)["error"]["code"], "not-found");
    }
    // A known path with a method it does not take: JSON too.
    let (status, body) = send(&admin, "POST", "/api/rooms", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(&body)["error"]["code"], "method-not-allowed");
}

#[tokio::test]
async fn payload_shapes() {
    let state = state(None);
    seat(&state, "shapes", "p1", "Ada").await;
    seat(&state, "shapes", "p2", "Bob").await;
    let admin = admin_app(state);

    let (status, body) = send(&admin, "GET", "/api/rooms", None).await;
    assert_eq!(status, StatusCode::OK);
    let rooms = json(&body);
    let room = &rooms[0];
    assert_eq!(room["name"], "shapes");
    assert_eq!(room["mode"], "p2p");
    assert_eq!(room["participants"], 2);
    assert_eq!(room["tracks"], 0);
    for key in ["created_at", "bitrate_in_bps", "bitrate_out_bps"] {
        assert!(room.get(key).is_some(), "{key} in {room}");
    }
    humantime::parse_rfc3339(room["created_at"].as_str().unwrap()).expect("RFC 3339");

    let (status, body) = send(&admin, "GET", "/api/rooms/shapes", None).await;
    assert_eq!(status, StatusCode::OK);
    let detail = json(&body);
    assert_eq!(detail["mode"], "p2p");
    for key in [
        "packets_in",
        "packets_out",
        "bytes_in",
        "bytes_out",
        "packets_dropped",
    ] {
        assert_eq!(detail["totals"][key], 0, "{key}");
    }
    let p = &detail["participants"][0];
    assert_eq!(
        (p["id"].as_str(), p["name"].as_str()),
        (Some("p1"), Some("Ada"))
    );
    assert_eq!(p["transport"]["state"], "new");
    assert!(p["transport"].get("rtt_ms").is_some());
    assert!(p["joined_at"].is_string());
    assert_eq!(p["published"], serde_json::json!([]));
    assert_eq!(p["subscribed"], serde_json::json!([]));

    // The OpenAPI document describes every path and the payloads.
    let (status, body) = send(&admin, "GET", "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let doc = json(&body);
    for path in [
        "/api/rooms",
        "/api/rooms/{room}",
        "/api/rooms/{room}/participants/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    let schemas = &doc["components"]["schemas"];
    // A published track's own fields, and its counters (declared once, in the SFU).
    for field in ["track_id", "kind", "codec", "ssrc", "bitrate_bps"] {
        assert!(
            schema_has(schemas, "PublishedStats", field),
            "PublishedStats.{field}"
        );
    }
    for field in ["packets", "packets_lost", "nacks", "retransmits", "plis"] {
        assert!(
            schema_has(schemas, "PublishedStats", field),
            "PublishedStats.{field}"
        );
    }
    for field in ["packets_in", "packets_out", "packets_dropped", "dropped"] {
        assert!(schema_has(schemas, "Tally", field), "Tally.{field}");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let state = state(None);
    seat(&state, "m", "p1", "Ada").await;
    let admin = admin_app(state);
    let (status, body) = send(&admin, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} missing from:\n{body}"))
    };
    assert_eq!(value("sfu_rooms"), 1.0);
    assert_eq!(value("sfu_participants"), 1.0);
    assert_eq!(value("sfu_sessions"), 1.0);
    assert_eq!(value("sfu_forwarded_packets_total"), 0.0);
    // Bounded labels: reasons and worker indices only, never a participant or room.
    for s in &scrape.samples {
        for (k, _) in s.labels.iter() {
            assert!(
                ["reason", "mode", "le", "quantile", "worker"].contains(&k.as_str()),
                "label {k}"
            );
        }
    }
}

/// Whether a schema of the OpenAPI document has `field`, directly or through the schemas it
/// composes (a flattened struct is an `allOf` of references).
fn schema_has(schemas: &serde_json::Value, name: &str, field: &str) -> bool {
    let schema = &schemas[name];
    if schema["properties"].get(field).is_some() {
        return true;
    }
    schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|part| {
            part["properties"].get(field).is_some()
                || part["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .is_some_and(|inner| schema_has(schemas, inner, field))
        })
}
