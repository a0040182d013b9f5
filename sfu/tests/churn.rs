//! A long meeting: two members stay while visitors join, publish and leave, one after the
//! other. The stayers see every visitor, and their session descriptions stay the same size:
//! the m-sections of departed tracks carry the next visitor's.
//!
//! Before m-sections were reused, each visitor left two inactive m-sections behind; after
//! about 30 visitors the stayers' answers passed 64 KiB, were refused, and they never saw
//! anyone again.

mod common;

use common::{AUDIO, Harness, PeerOptions, VIDEO};
use sfu::ParticipantId;
use std::time::Duration;

/// Visitors; `SFU_CHURN_CYCLES` may lower it for a quick local run.
fn cycles() -> usize {
    std::env::var("SFU_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_visitors_come_and_go_and_the_sdp_stays_flat() {
    let h = Harness::start().await;
    let [a, b]: [common::Peer; 2] = h
        .call("meeting", &["alice", "bob"])
        .await
        .try_into()
        .ok()
        .unwrap();
    let cycles = cycles();
    // (offer size in bytes, m-sections) of the last offer each stayer got in each cycle.
    let mut seen: Vec<[(usize, usize); 2]> = Vec::new();
    for i in 0..cycles {
        // Indices 3.. tell each visitor's packets apart at the stayers.
        let index = u8::try_from(3 + i % 250).expect("fits");
        let id = format!("visitor-{i}");
        let v = h.peer("meeting", &id, index, PeerOptions::default()).await;
        h.wait_for_or(
            &format!("both stayers to decode {id}'s audio and video"),
            Duration::from_secs(15),
            || {
                [&a, &b].iter().all(|p| {
                    let st = p.stats();
                    st.got(index, AUDIO) > 3 && st.got(index, VIDEO) > 3
                })
            },
            || offers_and_answers(&[&a, &b]),
        )
        .await;
        let before = [a.stats().offers, b.stats().offers];
        h.sfu.leave(ParticipantId(id.clone())).await.unwrap();
        v.stop().await;
        // The stayers get the offer that ends the visitor's tracks, and answer it.
        h.wait_for_or(
            &format!("both stayers to settle after {id} left"),
            Duration::from_secs(10),
            || {
                [(&a, before[0]), (&b, before[1])].iter().all(|(p, n)| {
                    let st = p.stats();
                    st.offers > *n && st.answers == st.offers
                })
            },
            || offers_and_answers(&[&a, &b]),
        )
        .await;
        let last = |p: &common::Peer| *p.stats().offer_sizes.last().expect("an offer");
        seen.push([last(&a), last(&b)]);
        if std::env::var("SFU_CHURN_DEBUG").is_ok() {
            println!("cycle {i}: {:?}", a.stats().offer_sizes);
        }
    }
    let first = seen[0];
    let worst = seen.iter().fold([(0, 0); 2], |w, s| {
        [0, 1].map(|k| (w[k].0.max(s[k].0), w[k].1.max(s[k].1)))
    });
    println!("offers after the first visitor: {first:?}; largest over {cycles}: {worst:?}");
    for k in 0..2 {
        // Each stayer's session: its own two tracks, the other stayer's two, and two
        // m-sections that visitor after visitor reuses.
        assert!(
            worst[k].1 <= first[k].1,
            "m-sections grew from {} to {}",
            first[k].1,
            worst[k].1
        );
        // Ids and SSRCs differ in length from one visitor to the next: a few bytes, no more.
        assert!(
            worst[k].0 <= first[k].0 + 256,
            "the offer grew from {} to {} bytes",
            first[k].0,
            worst[k].0
        );
        assert_eq!(
            [&a, &b][k].stats().refused_answers,
            0,
            "no answer was refused"
        );
    }
    // Still a working call between the two stayers.
    let got = |p: &common::Peer, from: u8| p.stats().got(from, VIDEO);
    let (ab, ba) = (got(&a, 2), got(&b, 1));
    h.wait_for(
        "the stayers to keep receiving each other",
        Duration::from_secs(5),
        || got(&a, 2) > ab + 10 && got(&b, 1) > ba + 10,
    )
    .await;
    a.stop().await;
    b.stop().await;
}

fn offers_and_answers(peers: &[&common::Peer]) -> String {
    peers
        .iter()
        .map(|p| {
            let st = p.stats();
            format!(
                "{}: offers {} answers {} refused {} last offer {:?}",
                p.id,
                st.offers,
                st.answers,
                st.refused_answers,
                st.offer_sizes.last()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
