//! In memory, on a virtual clock: what the SFU's own send path tells subscribers about the
//! streams it sends them (sender reports) and what it learns back (transport-wide feedback).

use sfu::testkit::sim::{Link, Sim};
use sfu::testkit::{AUDIO, Observed, PeerOptions, StreamSeen};
use std::time::{Duration, Instant};

const PEERS: usize = 3;

fn call(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    sim
}

fn rate(s: &StreamSeen) -> f64 {
    if s.kind == AUDIO { 48_000.0 } else { 90_000.0 }
}

/// An NTP timestamp (32.32 fixed point) in seconds.
fn ntp_secs(ntp: u64) -> f64 {
    (ntp >> 32) as f64 + (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0
}

/// The wall-clock time (NTP seconds) that a stream's sender report gives its timestamp `ts`.
fn ntp_of(sr: &rtc::rtcp::sender_report::SenderReport, ts: u32, rate: f64) -> f64 {
    ntp_secs(sr.ntp_time) + f64::from(ts.wrapping_sub(sr.rtp_time) as i32) / rate
}

/// Every stream a subscriber receives gets sender reports that count exactly what was sent
/// on it, and whose RTP time runs on from the newest packet at the codec's rate; audio and
/// video of one publisher, sent at the same instant, map to the same wall-clock time, which
/// is what lip sync needs.
#[test]
fn sender_reports_count_what_was_sent_and_keep_audio_and_video_in_step() {
    let mut sim = call(3);
    sim.run_for(Duration::from_secs(4));
    // Everyone stops at the same instant: the last audio and video packets of a publisher
    // were captured together. Two report intervals later, every report is final.
    for i in 0..PEERS {
        sim.set_publishing(i, false);
    }
    sim.run_for(Duration::from_millis(2500));
    for r in 0..PEERS {
        let st = sim.peer(r).stats();
        assert_eq!(st.streams.len(), 2 * (PEERS - 1), "peer {r} streams");
        let mut last_ntp = std::collections::HashMap::new();
        for (ssrc, s) in &st.streams {
            let (sr, at) = st
                .sender_reports
                .get(ssrc)
                .unwrap_or_else(|| panic!("peer {r}: no sender report for {ssrc}"));
            assert_eq!(
                u64::from(sr.packet_count),
                s.packets,
                "peer {r} ssrc {ssrc}"
            );
            assert_eq!(u64::from(sr.octet_count), s.octets, "peer {r} ssrc {ssrc}");
            let (ts, arrived) = s.newest;
            let expected = f64::from(ts) + at.duration_since(arrived).as_secs_f64() * rate(s);
            let off = (f64::from(sr.rtp_time) - expected).abs();
            assert!(
                off <= rate(s) * 0.002,
                "peer {r} ssrc {ssrc}: RTP time off by {off} ticks"
            );
            last_ntp
                .entry(s.publisher)
                .or_insert_with(Vec::new)
                .push(ntp_of(sr, ts, rate(s)));
        }
        for (publisher, times) in last_ntp {
            let skew = (times[0] - times[1]).abs();
            assert!(
                skew < 0.005,
                "peer {r}: publisher {publisher}'s audio and video {skew} s apart"
            );
        }
    }
}

/// Subscribers' transport-wide feedback is read and matched to what was sent: on a clean
/// link it reports everything received; on a lossy one, the loss.
#[test]
fn transport_feedback_reports_what_arrived() {
    let mut sim = call(5);
    sim.set_link(
        2,
        Link {
            loss: 0.1,
            ..Link::default()
        },
    );
    sim.run_for(Duration::from_secs(6));
    let now: Instant = sim.now();
    let stats = sim.sfu.stats(now);
    let participants: Vec<_> = stats.rooms.iter().flat_map(|r| &r.participants).collect();
    assert_eq!(participants.len(), PEERS);
    let lossy = &sim.peer(2).id.0;
    for p in participants {
        let fb = p.feedback.expect("the transport is up");
        assert!(fb.feedbacks > 10, "{}: {fb:?}", p.id);
        assert!(fb.reported_received > 300, "{}: {fb:?}", p.id);
        let lost = fb.reported_lost as f64 / (fb.reported_lost + fb.reported_received) as f64;
        if &p.id == lossy {
            assert!((0.04..0.2).contains(&lost), "{}: {lost} lost: {fb:?}", p.id);
        } else {
            assert_eq!(fb.reported_lost, 0, "{}: {fb:?}", p.id);
        }
    }
}
