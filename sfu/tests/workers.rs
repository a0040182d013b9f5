//! A pool of media workers: rooms spread over them, each room's media goes through its
//! worker's port, the pool's figures are the sum of the workers', and a worker that fails
//! takes only its own rooms with it.

mod common;

use common::{Harness, Peer};
use sfu::core::Event;
use sfu::{ParticipantId, RoomId, SfuOptions};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

fn two_workers() -> SfuOptions {
    let mut opts = SfuOptions::new("127.0.0.1:0".parse().unwrap());
    opts.workers = 2;
    opts
}

/// The port of the host candidate in an SDP answer.
fn candidate_port(sdp: &str) -> u16 {
    let line = sdp
        .lines()
        .find(|l| l.starts_with("a=candidate:"))
        .unwrap_or_else(|| panic!("no candidate in the answer:\n{sdp}"));
    // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ host
    line.split_whitespace().nth(5).unwrap().parse().unwrap()
}

/// Packets each peer received so far, from anyone.
fn received(peers: &[Peer]) -> Vec<usize> {
    peers
        .iter()
        .map(|p| p.stats().received.values().map(BTreeSet::len).sum())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_spread_over_workers_and_each_carries_its_media() {
    let h = Harness::start_with(two_workers()).await;
    assert_eq!(h.sfu.workers(), 2);
    let rooms = ["red", "green", "blue"];
    let mut calls = Vec::new();
    for room in rooms {
        let names: Vec<String> = (1..=3).map(|i| format!("{room}-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        calls.push(h.call(room, &names).await);
    }
    let placed: Vec<usize> = rooms
        .iter()
        .map(|r| h.sfu.worker_of(&RoomId::from(*r)).expect("placed"))
        .collect();
    assert_eq!(
        placed.iter().collect::<HashSet<_>>().len(),
        2,
        "three rooms use both workers: {placed:?}"
    );

    // A room's media goes through its worker's port: a newcomer's answer names it.
    let addrs = h.sfu.announce_addrs();
    assert_ne!(addrs[0].port(), addrs[1].port());
    for (room, &worker) in rooms.iter().zip(&placed) {
        let who = ParticipantId(format!("{room}-probe"));
        h.sfu.join(RoomId::from(*room), who.clone()).await.unwrap();
        let offer = sfu::testkit::offer_with_media().await.unwrap();
        let answer = h.sfu.offer(who.clone(), offer).await.unwrap();
        assert_eq!(candidate_port(&answer), addrs[worker].port(), "room {room}");
        h.sfu.leave(who).await.unwrap();
    }

    // Ids are unique across the workers: sessions, and published tracks.
    let sessions = h.sessions.lock().unwrap().clone();
    let distinct: HashSet<_> = sessions.iter().collect();
    assert_eq!(distinct.len(), sessions.len(), "session ids {sessions:?}");
    let stats = h.sfu.stats().await.unwrap();
    let tracks: Vec<u64> = stats
        .rooms
        .iter()
        .flat_map(|r| &r.participants)
        .flat_map(|p| &p.published)
        .map(|t| t.track_id)
        .collect();
    assert_eq!(
        tracks.len(),
        18,
        "three rooms of three, audio and video each"
    );
    assert_eq!(
        tracks.iter().collect::<HashSet<_>>().len(),
        18,
        "{tracks:?}"
    );

    // The pool's figures are the sum of its workers'.
    assert_eq!(stats.workers.len(), 2);
    let sum = |f: fn(&sfu::WorkerStats) -> u64| stats.workers.iter().map(f).sum::<u64>();
    assert_eq!(sum(|w| w.rooms as u64), stats.tables.rooms as u64);
    assert_eq!(stats.tables.rooms, 3);
    assert_eq!(sum(|w| w.participants as u64), stats.tables.sessions as u64);
    assert_eq!(stats.tables.sessions, 9);
    assert_eq!(
        sum(|w| w.down_tracks as u64),
        stats.tables.down_tracks as u64
    );
    assert_eq!(stats.tables.down_tracks, 3 * 3 * 2 * 2);
    assert_eq!(sum(|w| w.packets_in), stats.totals.packets_in);
    assert_eq!(sum(|w| w.packets_out), stats.totals.packets_out);
    for r in &stats.rooms {
        let i = rooms.iter().position(|n| *n == r.name).unwrap();
        assert_eq!(r.worker, placed[i], "room {} reports its worker", r.name);
    }
    // Both threads carry load.
    for w in &stats.workers {
        assert!(w.alive && w.packets_out > 0, "worker {w:?}");
    }
    let summary = h.sfu.summary().await.unwrap();
    assert_eq!(summary.tables.sessions, 9);
    assert_eq!(summary.workers.len(), 2);

    // Media still flows in every room.
    let before: Vec<Vec<usize>> = calls.iter().map(|c| received(c)).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (call, before) in calls.iter().zip(before) {
        for (after, before) in received(call).into_iter().zip(before) {
            assert!(after > before);
        }
    }
    for call in calls {
        for p in call {
            p.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_worker_loses_only_its_rooms_and_starts_afresh() {
    let h = Harness::start_with(two_workers()).await;
    let doomed = h.call("doomed", &["d1", "d2", "d3"]).await;
    let safe = h.call("safe", &["s1", "s2", "s3"]).await;
    let (dw, sw) = (
        h.sfu.worker_of(&RoomId::from("doomed")).unwrap(),
        h.sfu.worker_of(&RoomId::from("safe")).unwrap(),
    );
    assert_ne!(dw, sw, "the second room goes to the idle worker");
    let sessions = h.sessions.lock().unwrap().clone();

    h.sfu.crash_worker(dw).unwrap();
    // Every member of the failed worker's rooms is told, with the session it had.
    let expected: BTreeSet<(String, u64)> = ["d1", "d2", "d3"]
        .iter()
        .zip(&sessions)
        .map(|(p, s)| (p.to_string(), s.0))
        .collect();
    let told = || {
        h.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::TransportFailed {
                    participant,
                    session,
                } => Some((participant.0.clone(), session.0)),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
    };
    h.wait_for(
        "the failed worker's members to be told",
        Duration::from_secs(5),
        || told() == expected,
    )
    .await;
    assert_eq!(h.sfu.worker_of(&RoomId::from("doomed")), None);
    assert!(matches!(
        h.sfu.offer(ParticipantId::from("d1"), "v=0".into()).await,
        Err(sfu::SfuError::UnknownParticipant(_))
    ));

    // The other worker's room forwards on.
    let before = received(&safe);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (after, before) in received(&safe).into_iter().zip(before) {
        assert!(after > before + 10, "{after} after {before}");
    }

    // The failed worker is back, empty, and counts its restart.
    let stats = h.sfu.stats().await.unwrap();
    let w = &stats.workers[dw];
    assert!(w.alive && w.restarts == 1 && w.rooms == 0, "{w:?}");
    assert_eq!(stats.workers[sw].restarts, 0);
    assert_eq!(
        stats
            .rooms
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["safe"]
    );

    // The lost room's members join again, and their call works, with fresh ids.
    for p in doomed {
        h.sfu.leave(ParticipantId(p.id.clone())).await.ok();
        p.stop().await;
    }
    let again = h.call("doomed", &["d1", "d2", "d3"]).await;
    let all = h.sessions.lock().unwrap().clone();
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        all.len(),
        "{all:?}"
    );
    for p in again.into_iter().chain(safe) {
        p.stop().await;
    }
}
