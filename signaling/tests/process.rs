//! The server as an operating system runs it: a process of its own, with its own limits and
//! signals.

mod common;

use common::process::Process;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// SIGTERM, which Docker, Kubernetes and systemd send, takes the graceful path of Ctrl-C:
/// clients are told, and the process exits cleanly. Before, it killed the process outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let mut server = Process::start(&[], &[]);
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let sio = signaling::sio_client::Sio::connect(server.http, tx)
        .await
        .expect("connects");
    let ack = sio
        .call(
            "join",
            serde_json::json!({ "room": "r", "name": "Ada" }),
            common::WAIT,
        )
        .await
        .expect("joins");
    assert!(ack.get("id").is_some(), "{ack}");
    server.signal("TERM");
    let told = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some((event, _)) = events.recv().await {
            if event == "server-shutdown" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(told, Ok(true), "clients hear that the server is going");
    let status = server.wait(Duration::from_secs(15));
    assert!(
        status.success(),
        "a clean exit, not death by signal: {status}"
    );
}

/// A slow-loris client holds 1,100 connections, each with half a request, against a server
/// whose open files are limited to 1,024. A new user still joins and gets media; the stalled
/// connections are cut off by the header timeout. Before, none was ever closed, and with the
/// files used up every new user's connection timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_does_not_lock_others_out() {
    let (_, soft) = signaling::limits::raise_open_files().expect("own limit");
    assert!(
        soft >= 4096,
        "the test itself needs files for 1,100 connections"
    );
    let server = Process::start(&["prlimit", "--nofile=1024:1024", "--"], &["--p2p", "off"]);
    // The attacker comes from another loopback address than the users.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..1100 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().unwrap())
            .expect("bind 127.0.0.2");
        match socket.connect(server.http).await {
            Ok(mut s) => {
                // Half a request, never finished.
                let _ = s
                    .write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
                    .await;
                stalled.push(s);
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
    println!("1,100 stalled connections in {:?}", started.elapsed());

    // While they are held, a new user's page loads, metrics answer, and two members join
    // and get each other's media through the SFU.
    let (status, _) = common::http(server.http, "GET", "/", None).await;
    assert_eq!(status, 200);
    let a = common::member_at(server.http, "room", "alice", 1).await;
    let b = common::member_at(server.http, "room", "bob", 2).await;
    common::wait_until("alice and bob to get each other's media", async || {
        common::everyone_receives(&[&a, &b])
    })
    .await;

    // The stalled connections are all closed by the server, by the per-address cap at once or
    // by the header timeout within seconds.
    let mut open = 0;
    for s in &mut stalled {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(8), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => open += 1,
        }
    }
    assert_eq!(
        open, 0,
        "stalled connections still held after the header timeout"
    );
    println!(
        "every stalled connection closed within {:?}",
        started.elapsed()
    );
}

/// At start the server raises its soft limit on open files to the hard limit, and says so.
#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    let server = Process::start(&["prlimit", "--nofile=1024:4096", "--"], &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id()))
        .expect("the server's limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open files line");
    let soft: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(soft, ["4096", "4096"], "{open_files}");
}
