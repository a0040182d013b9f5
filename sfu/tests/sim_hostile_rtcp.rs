//! In memory, on a virtual clock: a subscriber sends malformed and hostile RTCP of every kind
//! the core reads itself (PLI, FIR, NACK, receiver reports, transport-wide feedback). The SFU
//! neither panics nor lets it harm anyone: the others' media keeps flowing, the sender's own
//! session keeps working, and what the hostile packets ask for is bounded.

use sfu::testkit::sim::Sim;
use sfu::testkit::{AUDIO, Observed, PeerOptions, VIDEO, everyone_receives};
use std::time::Duration;

const SENDER_SSRC: u32 = 0x0BAD_0BAD;

/// An RTCP packet: header with `count` (or FMT), `pt`, and `body`, the length field computed
/// from the body unless `claimed_words` overrides it.
fn rtcp(count: u8, pt: u8, body: &[u8], claimed_words: Option<u16>) -> Vec<u8> {
    let words = claimed_words.unwrap_or((body.len() / 4) as u16);
    let mut p = vec![0x80 | count, pt];
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(body);
    p
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn pli(media: u32) -> Vec<u8> {
    rtcp(1, 206, &[be32(SENDER_SSRC), be32(media)].concat(), None)
}

fn fir(media: u32, entries: usize) -> Vec<u8> {
    let mut body = [be32(SENDER_SSRC), be32(0)].concat();
    for i in 0..entries {
        body.extend_from_slice(&be32(media));
        body.extend_from_slice(&[i as u8, 0, 0, 0]);
    }
    rtcp(4, 206, &body, None)
}

fn nack(media: u32, pairs: &[(u16, u16)]) -> Vec<u8> {
    let mut body = [be32(SENDER_SSRC), be32(media)].concat();
    for (pid, blp) in pairs {
        body.extend_from_slice(&pid.to_be_bytes());
        body.extend_from_slice(&blp.to_be_bytes());
    }
    rtcp(1, 205, &body, None)
}

fn receiver_report(blocks: &[(u32, u32, u32)]) -> Vec<u8> {
    let mut body = be32(SENDER_SSRC).to_vec();
    for &(ssrc, lsr, dlsr) in blocks {
        body.extend_from_slice(&be32(ssrc));
        body.extend_from_slice(&be32(0x00ff_ffff)); // fraction and cumulative lost
        body.extend_from_slice(&be32(u32::MAX)); // highest sequence number
        body.extend_from_slice(&be32(u32::MAX)); // jitter
        body.extend_from_slice(&be32(lsr));
        body.extend_from_slice(&be32(dlsr));
    }
    rtcp(blocks.len() as u8, 201, &body, None)
}

/// Transport-wide feedback: `base`, a status count, and `chunks` as given, no deltas.
fn twcc(media: u32, base: u16, status_count: u16, chunks: &[u16]) -> Vec<u8> {
    let mut body = [be32(SENDER_SSRC), be32(media)].concat();
    body.extend_from_slice(&base.to_be_bytes());
    body.extend_from_slice(&status_count.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 1]); // reference time, feedback count
    for c in chunks {
        body.extend_from_slice(&c.to_be_bytes());
    }
    // Padding: rtc's parser wants bytes after the last chunk.
    body.extend_from_slice(&[0; 4]);
    while body.len() % 4 != 0 {
        body.push(0);
    }
    rtcp(15, 205, &body, None)
}

#[test]
fn malformed_and_hostile_feedback_harms_no_one() {
    let mut sim = Sim::new(11);
    for (i, name) in ["mallory", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    let all = |s: &Sim| {
        let peers: Vec<_> = (0..3).map(|i| s.peer(i)).collect();
        everyone_receives(&peers, 50)
    };
    assert!(sim.run_until(Duration::from_secs(10), all), "media flows");
    let received: Vec<(u32, u8, u16)> = sim
        .peer(0)
        .stats()
        .streams
        .iter()
        .map(|(&ssrc, s)| (ssrc, s.kind, s.last_seq))
        .collect();
    let (video, _, video_seq) = *received.iter().find(|(_, k, _)| *k == VIDEO).unwrap();
    let (audio, _, _) = *received.iter().find(|(_, k, _)| *k == AUDIO).unwrap();
    let totals_before = sim.sfu.stats(sim.now()).totals;

    let batch: Vec<Vec<u8>> = vec![
        // Truncated, or claiming more than they hold: refused before the core sees them.
        rtcp(1, 206, &be32(SENDER_SSRC), None),
        rtcp(1, 206, &[be32(SENDER_SSRC), be32(video)].concat(), Some(40)),
        rtcp(
            4,
            206,
            &[be32(SENDER_SSRC), be32(0), be32(video)].concat(),
            None,
        ),
        rtcp(1, 205, &[be32(SENDER_SSRC)].concat(), None),
        rtcp(5, 201, &receiver_report(&[(video, 1, 1)])[4..], None),
        rtcp(
            15,
            205,
            &[be32(SENDER_SSRC), be32(video), [0, 1, 0, 0]].concat(),
            None,
        ),
        twcc(video, 0, 1000, &[]),
        vec![0x80],
        vec![0xff; 3],
        // Parseable, but about streams that do not exist or with absurd values.
        pli(0),
        pli(0xDEAD_BEEF),
        fir(0xDEAD_BEEF, 3),
        fir(video, 31),
        nack(0xDEAD_BEEF, &[(1, 0xffff)]),
        receiver_report(&[(video, u32::MAX, u32::MAX), (audio, 0, u32::MAX), (7, 1, 0)]),
        receiver_report(&vec![(video, 0x1234_5678, 0); 31]),
        // 65,528 statuses, as runs of 8,191 "not received", mostly about packets never
        // sent; and a status vector about numbers far ahead.
        twcc(video, 0, 8 * 8191, &[0x1fff; 8]),
        twcc(video, 30_000, 14, &[0x8000]),
    ];
    // A NACK storm: every packet of the cache (and more), over and over.
    let all_of_cache: Vec<(u16, u16)> = (0..128u16)
        .map(|i| (video_seq.wrapping_sub(i * 17), 0xffff))
        .collect();
    for p in &batch {
        sim.send_raw_rtcp(0, p);
    }
    // The storm: the same NACK 50 times within a few milliseconds. The first is answered
    // from the cache; the repeats re-send nothing.
    sim.send_raw_rtcp(0, &nack(video, &all_of_cache));
    sim.run_for(Duration::from_millis(5));
    let first = sim.sfu.stats(sim.now()).totals.retransmits - totals_before.retransmits;
    for _ in 1..50 {
        sim.send_raw_rtcp(0, &nack(video, &all_of_cache));
    }
    // Keyframe requests for one stream, many times in a row.
    for _ in 0..200 {
        sim.send_raw_rtcp(0, &pli(video));
    }

    // Everyone, the sender included, keeps receiving everyone.
    let before: Vec<[u32; 2]> = (0..3).map(|i| sim.peer(i).stats().sent).collect();
    sim.run_for(Duration::from_secs(3));
    for r in 0..3 {
        for s in (0..3).filter(|&s| s != r) {
            let to = sim.peer(s).stats().sent;
            for kind in [AUDIO, VIDEO] {
                let k = kind as usize;
                let ratio =
                    sim.peer(r)
                        .stats()
                        .ratio(sim.peer(s).index(), kind, before[s][k], to[k] - 1);
                assert!(ratio > 0.99, "{r} got {ratio} of {s}'s kind {kind}");
            }
        }
    }
    let stats = sim.sfu.stats(sim.now());
    let totals = stats.totals;
    // The storm asked for 50 × 128 × 17 packets; each cached packet went back once.
    let resent = totals.retransmits - totals_before.retransmits;
    let asked = totals.nacks - totals_before.nacks;
    assert!(asked >= 50 * 128 * 17, "{asked} NACKed");
    assert!(first > 0, "the storm reached the cache");
    assert_eq!(resent, first, "{resent} re-sent for {asked} NACKed");
    // 201 keyframe requests for one track: debounced to a handful.
    let plis = totals.plis - totals_before.plis;
    assert!(plis <= 5, "{plis} PLIs upstream");
    // Absurd receiver reports give no absurd round-trip time.
    let mallory = stats.rooms[0]
        .participants
        .iter()
        .find(|p| p.id == sim.peer(0).id.0)
        .unwrap();
    assert!(
        mallory.rtt_ms.is_none_or(|r| r < 60_000.0),
        "{:?}",
        mallory.rtt_ms
    );
    let fb = mallory.feedback.unwrap();
    println!(
        "NACKed {asked}, re-sent {resent}, PLIs {plis}, rtt {:?}, feedback {fb:?}",
        mallory.rtt_ms
    );
    // Statuses about packets never sent are ignored, at most a history's worth per feedback.
    assert!(fb.unknown >= 1000 && fb.unknown <= 2 * 2048, "{fb:?}");
}
