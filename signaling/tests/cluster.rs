//! Cluster mode (`--redis`): nodes register in a real Redis (Debian's `redis-server`,
//! started here on a loopback port), list each other and each other's rooms, place each
//! room on one node, and forget a node that dies.

mod common;

use common::process::Process;
use common::{
    Client, Member, WAIT, admin_json, everyone_receives, member, member_at, server_with, wait_until,
};
use serde_json::{Value, json};
use sfu::testkit::{AUDIO, VIDEO};
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

    /// The node that holds `room`'s lease, as Redis has it.
    async fn home_of(&self, room: &str) -> Option<String> {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers");
        redis::AsyncCommands::get(&mut conn, format!("sfu:room:{room}:home"))
            .await
            .expect("GET")
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

    // A room lives on one node: a member who joins it through another is relayed there.
    let (dan, ack) = join(&b, "standup", "Dan").await;
    assert!(ack.get("error").is_none(), "{ack}");
    assert_eq!(ack["peers"].as_array().map(Vec::len), Some(2), "{ack}");
    wait_until("the room listed with its member from node-b", async || {
        rooms(&b).await[1] == ("standup".to_owned(), "node-a".to_owned(), 3)
    })
    .await;

    // Once its members have gone, its node gives it up.
    ada.disconnect().await;
    bob.disconnect().await;
    dan.disconnect().await;
    wait_until("the empty room freed", async || {
        rooms(&b).await.iter().all(|r| r.0 != "standup")
    })
    .await;
    wait_until("its lease released", async || {
        redis.home_of("standup").await.is_none()
    })
    .await;
    // Placed anew, on the least-loaded node: node-a, now empty, where node-b holds retro.
    let (eve, ack) = join(&b, "standup", "Eve").await;
    assert!(ack.get("error").is_none(), "{ack}");
    wait_until("the room placed on node-a", async || {
        rooms(&b)
            .await
            .contains(&("standup".to_owned(), "node-a".to_owned(), 1))
    })
    .await;
    eve.disconnect().await;
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

/// Each kind of packet that `receiver` got of what `sender` sent between the two readings.
fn assert_received(receiver: &Member, sender: &Member, sent: ([u32; 2], [u32; 2])) {
    for kind in [AUDIO, VIDEO] {
        sfu::testkit::assert_delivered(&receiver.peer, &sender.peer, kind, sent, 0.95);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_two_nodes_share_a_room_its_media_chat_and_p2p_signals() {
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, "node-a").await, node(&redis, "node-b").await);
    // The room is placed on node-a by its first join; Cat's socket is on node-b.
    let mut ada = member(&a, "standup", "Ada", 1).await;
    let mut bob = member(&a, "standup", "Bob", 2).await;
    let mut cat = member(&b, "standup", "Cat", 3).await;
    assert_eq!(ada.client.next("peer-joined").await["name"], "Bob");
    for m in [&mut ada, &mut bob] {
        assert_eq!(m.client.next("peer-joined").await["name"], "Cat");
        assert_eq!(m.client.next("mode").await["mode"], "sfu");
    }
    assert_eq!(cat.client.next("mode").await["mode"], "sfu");
    // Cat's SFU session is on node-a: its answer names node-a's media address.
    assert_eq!(
        admin_json(&a, "/api/rooms/standup").await["participants"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    let peers = [&ada, &bob, &cat];
    wait_until("everyone receives everyone", async || {
        everyone_receives(&peers)
    })
    .await;
    let sent = |m: &Member| m.peer.stats().sent;
    let start = [sent(&ada), sent(&bob), sent(&cat)];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end = [sent(&ada), sent(&bob), sent(&cat)];
    for (r, receiver) in peers.iter().enumerate() {
        for (s, sender) in peers.iter().enumerate() {
            if r != s {
                assert_received(receiver, sender, (start[s], end[s]));
            }
        }
    }

    // Chat and typing cross the nodes, in order, both ways.
    let texts: Vec<String> = (1..=5).map(|i| format!("from cat {i}")).collect();
    assert_eq!(
        cat.client.call("typing", json!({ "typing": true })).await,
        json!({})
    );
    for t in &texts {
        let ack = cat.client.call("chat", json!({ "text": t })).await;
        assert!(ack["id"].is_u64(), "{ack}");
    }
    for m in [&mut ada, &mut bob] {
        let typing = m.client.next("typing").await;
        assert_eq!(
            (typing["name"].as_str(), typing["typing"].as_bool()),
            (Some("Cat"), Some(true))
        );
        for t in &texts {
            assert_eq!(m.client.next("chat").await["text"], t.as_str());
        }
    }
    for i in 1..=5 {
        ada.client
            .call("chat", json!({ "text": format!("from ada {i}") }))
            .await;
    }
    for i in 1..=5 {
        assert_eq!(
            cat.client.next("chat").await["text"],
            format!("from ada {i}")
        );
    }

    // Each node's metrics are its own, labelled with its id.
    let (status, metrics) =
        common::http(a.admin_addr.expect("admin"), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"sfu_rooms{node="node-a"} 1"#),
        "{metrics}"
    );

    // The admin API of either node lists the room once, with its three members and its node.
    for server in [&a, &b] {
        assert_eq!(
            rooms(server).await,
            [("standup".to_owned(), "node-a".to_owned(), 3)]
        );
    }

    // Back to two, Ada on node-a and Cat on node-b: their P2P signals cross the nodes.
    let bob_id = bob.client.id.clone();
    bob.client.disconnect().await;
    bob.peer.stop().await;
    for m in [&mut ada, &mut cat] {
        assert_eq!(m.client.next("peer-left").await["id"], bob_id);
    }
    assert_eq!(cat.client.next("mode").await["mode"], "p2p");
    let offer = json!({ "type": "offer", "sdp": "v=0\r\n" });
    let ack = cat
        .client
        .call(
            "p2p-signal",
            json!({ "to": ada.client.id, "description": offer }),
        )
        .await;
    assert_eq!(ack, json!({}));
    let signal = ada.client.next("p2p-signal").await;
    assert_eq!(
        (signal["from"].as_str(), &signal["description"]),
        (Some(cat.client.id.as_str()), &offer)
    );

    // Removed through node-b's admin API, which asks the room's node: Cat is told, and
    // disconnected by her own node.
    let path = format!("/api/rooms/standup/participants/{}", cat.client.id);
    let admin_b = b.admin_addr.expect("admin");
    let (status, body) = common::http(admin_b, "DELETE", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(cat.client.next("removed").await["reason"].is_string());
    wait_until("Cat's socket closed", async || !cat.client.sio.is_open()).await;
    assert_eq!(ada.client.next("peer-left").await["id"], cat.client.id);
    let (status, _) = common::http(admin_b, "DELETE", &path, None).await;
    assert_eq!(status, 404, "no longer a member");
    // The room closed through node-b.
    let (status, body) = common::http(admin_b, "DELETE", "/api/rooms/standup", None).await;
    assert_eq!(status, 200, "{body}");
    let removed: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(removed["removed"], json!([ada.client.id]));
    assert!(ada.client.next("removed").await["reason"].is_string());
    let (status, _) = common::http(admin_b, "DELETE", "/api/rooms/nowhere", None).await;
    assert_eq!(status, 404);
    for m in [ada, cat] {
        m.peer.stop().await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_rooms_node_dies_its_members_on_another_node_get_sfu_failed_and_media_again_within_5_s()
 {
    room_node_stops("KILL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_node_stopped_by_sigterm_hands_its_room_over_as_a_dead_nodes() {
    room_node_stops("TERM").await;
}

/// Three members reach a room on node-a through node-b; node-a gets `signal`.
async fn room_node_stops(signal: &str) {
    let redis = Redis::start().await;
    let url = redis.url();
    // The room's node is a process of its own, so that it can be killed outright.
    let mut a = Process::start(&[], &["--redis", &url, "--node-id", "node-a"]);
    let b = node(&redis, "node-b").await;
    let ada = member_at(a.http, "standup", "Ada", 1).await;
    let mut members = Vec::new();
    for (name, index) in [("Bob", 2), ("Cat", 3), ("Dan", 4)] {
        members.push(member(&b, "standup", name, index).await);
    }
    let said = members[0]
        .client
        .call("chat", json!({ "text": "before the move" }))
        .await;
    assert!(said["id"].is_u64(), "{said}");
    {
        let all: Vec<&Member> = std::iter::once(&ada).chain(&members).collect();
        wait_until("everyone receives everyone through node-a", async || {
            everyone_receives(&all)
        })
        .await;
    }

    let status = Command::new("kill")
        .args([&format!("-{signal}"), &a.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let killed = Instant::now();
    let mut moved = Vec::new();
    for (i, mut m) in members.into_iter().enumerate() {
        m.client
            .next_within("sfu-failed", Duration::from_secs(5))
            .await;
        // Told before: Ada is gone.
        assert_eq!(m.client.next("peer-left").await["id"], ada.client.id);
        // As the web client does: a new SFU session, negotiated with a new peer.
        moved.push(m.restart(12 + i as u8).await);
    }
    let moved_refs: Vec<&Member> = moved.iter().collect();
    wait_until("media again, through node-b", async || {
        everyone_receives(&moved_refs)
    })
    .await;
    let back = killed.elapsed();
    println!("media back on node-b {back:?} after node-a got SIG{signal}");
    assert!(
        back < Duration::from_secs(5),
        "media came back after {back:?}"
    );
    wait_until("the room listed on node-b", async || {
        rooms(&b).await == [("standup".to_owned(), "node-b".to_owned(), 3)]
    })
    .await;
    // The room's chat moved with it: Redis kept it.
    let (eve, ack) = join(&b, "standup", "Eve").await;
    let history: Vec<&str> = ack["chatHistory"]
        .as_array()
        .expect("a chat history")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(history, ["before the move"], "{ack}");
    eve.disconnect().await;
    ada.peer.stop().await;
    for m in moved {
        m.peer.stop().await;
    }
    let _ = a.child.wait();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_opened_through_one_node_spread_over_both_by_load() {
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, "node-a").await, node(&redis, "node-b").await);
    wait_until("both nodes registered", async || {
        node_ids(&admin_json(&a, "/api/nodes").await) == ["node-a", "node-b"]
    })
    .await;
    let mut members = Vec::new();
    for i in 0..10 {
        let (client, ack) = join(&a, &format!("room-{i}"), "Ada").await;
        assert!(ack.get("error").is_none(), "{ack}");
        members.push(client);
    }
    let mut on = (0, 0);
    wait_until("all ten rooms listed", async || {
        let list = rooms(&b).await;
        on = (
            list.iter().filter(|r| r.1 == "node-a").count(),
            list.iter().filter(|r| r.1 == "node-b").count(),
        );
        list.len() == 10
    })
    .await;
    println!(
        "ten rooms opened through node-a: {} on node-a, {} on node-b",
        on.0, on.1
    );
    assert!(on.0.abs_diff(on.1) <= 2, "{on:?}");
    for m in members {
        m.disconnect().await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_during_a_call_media_flows_and_signaling_recovers() {
    let mut redis = Redis::start().await;
    let port = redis.port;
    let (a, b) = (node(&redis, "node-a").await, node(&redis, "node-b").await);
    let ada = member(&a, "standup", "Ada", 1).await;
    let bob = member(&a, "standup", "Bob", 2).await;
    let dan = member(&a, "standup", "Dan", 4).await;
    let cat = member(&b, "standup", "Cat", 3).await;
    let local = [&ada, &bob, &dan];
    {
        let all = [&ada, &bob, &dan, &cat];
        wait_until("everyone receives everyone", async || {
            everyone_receives(&all)
        })
        .await;
    }

    // Redis goes away for two seconds. Media never passes through it.
    let sent = |m: &Member| m.peer.stats().sent;
    let start: Vec<_> = local.iter().map(|m| sent(m)).collect();
    redis.stop();
    let stopped = Instant::now();
    // Cat's signaling path to the room's node was Redis: her node says so and disconnects
    // her, so that she rejoins; the members on the room's node notice only her leaving.
    wait_until("Cat's socket closed", async || !cat.client.sio.is_open()).await;
    println!(
        "Cat disconnected {:?} after Redis stopped",
        stopped.elapsed()
    );
    // A join that needs the cluster gets a clear error, in bounded time.
    let asked = Instant::now();
    let (_eve, ack) = join(&b, "standup", "Eve").await;
    assert_eq!(ack["error"]["code"], "cluster-unavailable", "{ack}");
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "{:?}",
        asked.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(stopped.elapsed())).await;
    let end: Vec<_> = local.iter().map(|m| sent(m)).collect();
    for (r, receiver) in local.iter().enumerate() {
        for (s, sender) in local.iter().enumerate() {
            if r != s {
                assert_received(receiver, sender, (start[s], end[s]));
            }
        }
    }

    // Redis is back (empty): the nodes register again, and Cat rejoins through node-b.
    let _redis = Redis::start_on(port).await;
    let back = Instant::now();
    wait_until("both nodes registered again", async || {
        let (status, body) =
            common::http(a.admin_addr.expect("admin"), "GET", "/api/nodes", None).await;
        status == 200
            && node_ids(&serde_json::from_str(&body).expect("JSON")) == ["node-a", "node-b"]
    })
    .await;
    cat.peer.stop().await;
    let mut again = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while again.is_none() {
        let (client, ack) = join(&b, "standup", "Cat").await;
        if ack.get("error").is_none() {
            again = Some(client);
        } else {
            assert_eq!(ack["error"]["code"], "cluster-unavailable", "{ack}");
            assert!(Instant::now() < deadline, "no rejoin: {ack}");
            client.disconnect().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!(
        "Cat rejoined through node-b {:?} after Redis came back",
        back.elapsed()
    );
    wait_until("the room listed on node-a with four members", async || {
        rooms(&b).await == [("standup".to_owned(), "node-a".to_owned(), 4)]
    })
    .await;
    for m in [ada, bob, dan] {
        m.peer.stop().await;
    }
    a.shutdown().await;
    b.shutdown().await;
}
