//! Cluster mode (`--redis`): nodes register in a real Redis (Debian's `redis-server`,
//! started here on a loopback port), list each other and each other's rooms, place each
//! room on one node, and forget a node that dies.

mod common;

use common::process::Process;
use common::{Client, WAIT, admin_json, server_with, wait_until};
use serde_json::{Value, json};
use signaling::{Config, Server};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own, without persistence, on a free loopback port.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Redis::start_on(port).await
    }

    async fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian's redis-server package; .ci/run installs it)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server listens");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Redis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn node(redis: &Redis, id: &str) -> Server {
    let mut config = Config::for_tests();
    config.redis = Some(redis.url());
    config.node_id = id.to_owned();
    server_with(config).await
}

fn node_ids(nodes: &Value) -> Vec<String> {
    nodes["nodes"]
        .as_array()
        .expect("a node list")
        .iter()
        .map(|n| n["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The rooms a node lists, as `(name, node, participants)`.
async fn rooms(server: &Server) -> Vec<(String, String, u64)> {
    let list = admin_json(server, "/api/rooms").await;
    list.as_array()
        .expect("a room list")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_owned(),
                r["node"].as_str().expect("node").to_owned(),
                r["participants"].as_u64().expect("participants"),
            )
        })
        .collect()
}

async fn join(server: &Server, room: &str, name: &str) -> (Client, Value) {
    let client = Client::connect(server).await;
    let ack = client
        .call("join", json!({ "room": room, "name": name }))
        .await;
    (client, ack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_each_other_and_each_others_rooms_and_a_room_lives_on_one_node() {
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, "node-a").await, node(&redis, "node-b").await);
    wait_until("both nodes registered", async || {
        node_ids(&admin_json(&a, "/api/nodes").await) == ["node-a", "node-b"]
    })
    .await;
    let nodes = admin_json(&b, "/api/nodes").await;
    assert_eq!(nodes["node"], "node-b");
    assert_eq!(nodes["cluster"], true);
    let first = &nodes["nodes"][0];
    assert_eq!(first["url"], format!("http://{}", a.http_addr));
    assert_eq!(first["media"][0], a.sfu.announce_addr().to_string());

    let (ada, ack) = join(&a, "standup", "Ada").await;
    assert!(ack.get("error").is_none(), "{ack}");
    let (bob, ack) = join(&a, "standup", "Bob").await;
    assert!(ack.get("error").is_none(), "{ack}");
    let (cat, ack) = join(&b, "retro", "Cat").await;
    assert!(ack.get("error").is_none(), "{ack}");
    let want = vec![
        ("retro".to_owned(), "node-b".to_owned(), 1),
        ("standup".to_owned(), "node-a".to_owned(), 2),
    ];
    for server in [&a, &b] {
        wait_until(
            "both rooms listed, once each, with their node",
            async || rooms(server).await == want,
        )
        .await;
    }
    let load = admin_json(&a, "/api/nodes").await;
    assert_eq!(load["nodes"][0]["load"]["rooms"], 1);
    assert_eq!(load["nodes"][0]["load"]["participants"], 2);

    // A room lives on one node: joining it through another is refused, with where it is.
    let (_dan, ack) = join(&b, "standup", "Dan").await;
    assert_eq!(ack["error"]["code"], "room-on-other-node", "{ack}");
    let message = ack["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("node-a") && message.contains(&a.http_addr.to_string()),
        "{message}"
    );

    // Once its members have gone, its node gives it up and another may take it.
    ada.disconnect().await;
    bob.disconnect().await;
    wait_until("the empty room freed", async || {
        let (dan, ack) = join(&b, "standup", "Dan").await;
        dan.disconnect().await;
        ack.get("error").is_none()
    })
    .await;
    cat.disconnect().await;
    a.shutdown().await;
    // A node that shuts down leaves at once, not when its registration expires.
    wait_until("node-a gone", async || {
        node_ids(&admin_json(&b, "/api/nodes").await) == ["node-b"]
    })
    .await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_gone_within_its_expiry_and_its_rooms_are_taken_over() {
    let redis = Redis::start().await;
    let a = node(&redis, "node-a").await;
    // The binary, so that it can be killed outright.
    let url = redis.url();
    let mut b = Process::start(&[], &["--redis", &url, "--node-id", "node-b"]);
    let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
    let sio = signaling::sio_client::Sio::connect(b.http, tx)
        .await
        .expect("connects");
    let ack = common::call(&sio, "join", json!({ "room": "ops", "name": "Eve" })).await;
    assert!(ack.get("error").is_none(), "{ack}");
    wait_until("node-b and its room listed", async || {
        rooms(&a).await == [("ops".to_owned(), "node-b".to_owned(), 1)]
    })
    .await;
    let (_refused, ack) = join(&a, "ops", "Fay").await;
    assert_eq!(ack["error"]["code"], "room-on-other-node", "{ack}");

    let _ = b.child.kill(); // SIGKILL: no goodbye
    let killed = Instant::now();
    wait_until("node-b gone from the node list", async || {
        node_ids(&admin_json(&a, "/api/nodes").await) == ["node-a"]
    })
    .await;
    let gone = killed.elapsed();
    let (_fay, ack) = join(&a, "ops", "Fay").await;
    assert!(ack.get("error").is_none(), "the room is taken over: {ack}");
    let taken = killed.elapsed();
    println!(
        "a killed node left the node list after {gone:?}; its room was taken over after {taken:?}"
    );
    // Its registration expires 5 s after its last refresh, which was at most 1 s before.
    assert!(taken < Duration::from_secs(7), "took {taken:?}");
    wait_until("the room listed on its new node", async || {
        rooms(&a).await == [("ops".to_owned(), "node-a".to_owned(), 1)]
    })
    .await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_new_rooms_are_refused_clearly_and_the_calls_here_go_on() {
    let mut redis = Redis::start().await;
    let port = redis.port;
    let a = node(&redis, "node-a").await;
    let (_ada, ack) = join(&a, "here", "Ada").await;
    assert!(ack.get("error").is_none(), "{ack}");

    redis.stop();
    // The admin API says the cluster is unavailable rather than hanging.
    let (status, _) = common::http(a.admin_addr.expect("admin"), "GET", "/api/nodes", None).await;
    assert_eq!(status, 503);
    // A room new to the cluster cannot be placed: a clear error, in bounded time.
    let started = Instant::now();
    let (_bob, ack) = join(&a, "new", "Bob").await;
    assert_eq!(ack["error"]["code"], "cluster-unavailable", "{ack}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    // A room already here needs no Redis.
    let (_cat, ack) = join(&a, "here", "Cat").await;
    assert!(ack.get("error").is_none(), "{ack}");

    // Redis comes back (empty: no persistence): the node registers again and places rooms.
    let _redis = Redis::start_on(port).await;
    wait_until("node-a registered again", async || {
        // 503 while the node has not reconnected yet.
        let (status, body) =
            common::http(a.admin_addr.expect("admin"), "GET", "/api/nodes", None).await;
        status == 200 && node_ids(&serde_json::from_str(&body).expect("JSON")) == ["node-a"]
    })
    .await;
    wait_until("new rooms placed again", async || {
        let (dan, ack) = join(&a, "new", "Dan").await;
        dan.disconnect().await;
        ack.get("error").is_none()
    })
    .await;
    a.shutdown().await;
}
