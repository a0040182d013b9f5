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

/// A STUN Binding request with this transaction id.
fn binding_request(id: [u8; 12]) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    m.extend_from_slice(&id);
    m
}

/// Whether `answer` is a Binding success response to transaction `id`.
fn answers(answer: &[u8], id: [u8; 12]) -> bool {
    answer.len() >= 20 && answer[..2] == [0x01, 0x01] && answer[8..20] == id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_turn_port_answers_stun_over_udp_and_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = Config::for_tests();
    config.turn_listen = Some("127.0.0.1:0".parse().unwrap());
    let s = server_with(config).await;
    let turn = admin_json(&s, "/api/turn").await;
    let url = turn["urls"][0].as_str().unwrap();
    let port: u16 = url
        .trim_start_matches("turn:127.0.0.1:")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let wait = std::time::Duration::from_secs(5);

    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let id = *b"udp-binding1";
    udp.send_to(&binding_request(id), addr).await.unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(wait, udp.recv_from(&mut buf))
        .await
        .expect("a UDP answer")
        .unwrap();
    assert!(answers(&buf[..n], id), "{:?}", &buf[..n]);

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let id = *b"tcp-binding1";
    tcp.write_all(&binding_request(id)).await.unwrap();
    let mut head = [0u8; 20];
    tokio::time::timeout(wait, tcp.read_exact(&mut head))
        .await
        .expect("a TCP answer")
        .unwrap();
    assert!(answers(&head, id), "{head:?}");

    // An Allocate without credentials is refused with 401, never granted: the relay is not
    // open to whoever finds the port.
    let id = *b"anonymous-al";
    let mut allocate = vec![0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    allocate.extend_from_slice(&id);
    // REQUESTED-TRANSPORT: UDP.
    allocate.extend_from_slice(&[0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
    udp.send_to(&allocate, addr).await.unwrap();
    let (n, _) = tokio::time::timeout(wait, udp.recv_from(&mut buf))
        .await
        .expect("an answer to the Allocate")
        .unwrap();
    let answer = &buf[..n];
    assert_eq!(
        answer[..2],
        [0x01, 0x13],
        "an Allocate error response: {answer:?}"
    );
    assert_eq!(answer[8..20], id);
    // ERROR-CODE (0x0009): class 4, number 1.
    let attrs = &answer[20..];
    let mut i = 0;
    let mut code = None;
    while i + 4 <= attrs.len() {
        let (kind, len) = (
            u16::from_be_bytes([attrs[i], attrs[i + 1]]),
            usize::from(u16::from_be_bytes([attrs[i + 2], attrs[i + 3]])),
        );
        if kind == 0x0009 && len >= 4 {
            code = Some(u16::from(attrs[i + 6]) * 100 + u16::from(attrs[i + 7]));
        }
        i += 4 + len.div_ceil(4) * 4;
    }
    assert_eq!(code, Some(401), "{answer:?}");
}
