//! Three peers publish Opus and VP8 through the SFU's one UDP socket over real ICE and
//! DTLS-SRTP; each receives both others' streams, with every payload's publisher checked.

mod common;

use common::{AUDIO, Harness, VIDEO};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_receive_each_other() {
    let h = Harness::start().await;
    let peers = h.call("room", &["alice", "bob", "carol"]).await;

    // A steady-state window: counters sent from now on must arrive.
    let start: Vec<[u32; 2]> = peers.iter().map(|p| p.stats().sent).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end: Vec<[u32; 2]> = peers.iter().map(|p| p.stats().sent).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    for p in &peers {
        let st = p.stats();
        assert_eq!(
            st.malformed, 0,
            "{} got packets without a publisher marker",
            p.id
        );
        assert!(
            st.got(p.index, AUDIO) == 0 && st.got(p.index, VIDEO) == 0,
            "{} got its own media back",
            p.id
        );
        drop(st);
        for (i, o) in peers.iter().enumerate() {
            if o.index != p.index {
                for kind in [AUDIO, VIDEO] {
                    common::assert_delivered(p, o, kind, (start[i], end[i]), 0.95);
                }
            }
        }
    }

    // Publishers get receiver reports and transport-wide congestion feedback from the SFU,
    // so that browsers do not throttle their send rate.
    for p in &peers {
        let st = p.stats();
        let rtcp = |t: &str| st.rtcp.get(t).copied().unwrap_or(0);
        assert!(
            rtcp("ReceiverReport") > 0,
            "{} got no receiver report: {:?}",
            p.id,
            st.rtcp
        );
        assert!(
            rtcp("TransportSpecificFeedback") > 0,
            "{} got no TWCC feedback: {:?}",
            p.id,
            st.rtcp
        );
    }

    let stats = h.sfu.stats().await.unwrap();
    assert_eq!(stats.rooms.len(), 1);
    let room = &stats.rooms[0];
    assert_eq!(room.participants.len(), 3);
    for p in &room.participants {
        assert_eq!(p.published.len(), 2, "{} publishes audio and video", p.id);
        assert_eq!(
            p.subscribed.len(),
            4,
            "{} subscribes to two peers' two tracks",
            p.id
        );
        assert!(p.subscribed.iter().all(|s| s.counters.packets > 100));
    }
    for p in peers {
        p.stop().await;
    }
}
