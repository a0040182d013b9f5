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

/// A self-signed certificate for `name`, written to PEM files in a fresh directory.
fn self_signed(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!(
        "sfu-turn-tls-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key, ck.cert.der().to_vec())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_over_tls_answers_stun_through_a_real_handshake_and_is_in_the_join_ack() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (cert, key, der) = self_signed("turn.example.test");
    let mut config = Config::for_tests();
    config.turn_listen = Some("127.0.0.1:0".parse().unwrap());
    config.turn_tls = Some(signaling::turn_tls::TurnTls {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert,
        key,
        name: Some("turn.example.test".into()),
    });
    let s = server_with(config).await;
    let turn = admin_json(&s, "/api/turn").await;
    let urls: Vec<String> = turn["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    let turns = &urls[2];
    let port: u16 = turns
        .strip_prefix("turns:turn.example.test:")
        .and_then(|r| r.strip_suffix("?transport=tcp"))
        .unwrap_or_else(|| panic!("a turns: URL naming the certificate's host: {turns}"))
        .parse()
        .unwrap();
    let mut a = Client::connect(&s).await;
    let ack = a.join("tls", "Ada").await;
    assert!(
        ack["iceServers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["urls"].as_array().unwrap().iter().any(|u| u == turns)),
        "{ack}"
    );

    // A client that trusts only this certificate completes the handshake and gets a STUN
    // answer inside the TLS stream.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.into()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("turn.example.test").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let id = *b"tls-binding1";
    tls.write_all(&binding_request(id)).await.unwrap();
    let mut head = [0u8; 20];
    tokio::time::timeout(std::time::Duration::from_secs(5), tls.read_exact(&mut head))
        .await
        .expect("a STUN answer over TLS")
        .unwrap();
    assert!(answers(&head, id), "{head:?}");

    // Plain STUN on the TLS port is not answered: the connection is dropped at the handshake.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(&binding_request(*b"plain-bindng"))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read(&mut buf))
        .await
        .expect("the server closes it");
    // Whatever comes back (an alert, or nothing) is not a STUN answer.
    if let Ok(n) = read {
        assert!(n < 20 || buf[..2] != [0x01, 0x01], "{:?}", &buf[..n]);
    }
}

#[test]
fn tls_needs_both_a_certificate_and_a_key_and_the_turn_server() {
    use clap::Parser;
    let load = |args: &[&str]| {
        let mut all = vec!["sfu-server"];
        all.extend_from_slice(args);
        signaling::Config::load(signaling::config::Args::parse_from(all))
    };
    let err = load(&[
        "--turn-listen",
        "127.0.0.1:3478",
        "--turn-tls-cert",
        "c.pem",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("turn_tls_key"), "{err}");
    let err = load(&["--turn-tls-cert", "c.pem", "--turn-tls-key", "k.pem"]).unwrap_err();
    assert!(err.to_string().contains("turn_listen"), "{err}");
    let ok = load(&[
        "--turn-listen",
        "10.0.0.1:3478",
        "--turn-tls-cert",
        "c.pem",
        "--turn-tls-key",
        "k.pem",
    ])
    .unwrap();
    let tls = ok.turn_tls.unwrap();
    assert_eq!(
        tls.listen,
        "10.0.0.1:5349".parse::<std::net::SocketAddr>().unwrap()
    );
}
