//! Micro-benchmarks of the SFU's per-packet work, with no sockets and no PeerConnection.
//!
//! - `fanout/N`: one incoming 1,100-byte VP8 packet to N subscribers: keyframe detection
//!   once, then per subscriber the [`Forwarder`] decision, the rewritten header over the
//!   shared payload `Bytes`, and marshalling into a reused buffer. Reported in packets sent
//!   per second.
//! - `rewrite`: the same for one subscriber, without the keyframe detection.
//! - `srtp_protect/<profile>`: rtc's SRTP protection of a 1,200-byte RTP packet, the other
//!   per-subscriber cost, which every forwarded packet pays after the above.
//!
//! Each benchmark measures for 2 s, so the whole run takes about half a minute.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtc::rtp::Packet;
use rtc::shared::marshal::Marshal;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;
use sfu::core::codec::{Codec, is_keyframe};
use sfu::core::forwarder::{Decision, Forwarder, PacketInfo};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// An incoming VP8 packet, built as rtc builds it after decryption, so that cloning its
/// payload costs what it costs in the SFU.
fn incoming(payload_len: usize, keyframe: bool) -> Packet {
    sfu::testkit::received_vp8(FIRST_SEQ, 0, payload_len, keyframe)
}

const FIRST_SEQ: u16 = 1000;

/// The publisher's stream: packet `i` after the keyframe that started it, with rising
/// sequence numbers that wrap as a long stream's do.
fn info(pkt: &Packet, i: u64, keyframe: bool) -> PacketInfo {
    PacketInfo {
        ssrc: pkt.header.ssrc,
        seq: FIRST_SEQ.wrapping_add(i as u16),
        timestamp: (i as u32).wrapping_mul(3000),
        keyframe,
        padding_only: pkt.payload.is_empty(),
    }
}

/// Forwards `info` through one subscriber's forwarder and marshals the result into `buf`,
/// returning the length, with the SFU's own header rewrite. `now` is fixed: the SFU is handed
/// the time once per datagram and reads no clock itself.
fn forward_one(
    f: &mut Forwarder,
    pkt: &Packet,
    info: &PacketInfo,
    now: Instant,
    buf: &mut [u8],
) -> usize {
    let Decision::Forward(rw) = f.forward(info, now) else {
        panic!("every packet of the benchmark stream is forwarded");
    };
    let out = sfu::core::rewritten(pkt, 96, rw.ssrc, rw.seq, rw.timestamp);
    out.marshal_to(buf).unwrap()
}

/// Video forwarders that have already seen the stream's keyframe.
fn subscribers(n: u32, now: Instant) -> Vec<Forwarder> {
    let key = incoming(1100, true);
    let mut buf = [0u8; 1500];
    (0..n)
        .map(|i| {
            let mut f = Forwarder::new(5000 + i, 90_000, true);
            forward_one(&mut f, &key, &info(&key, 0, true), now, &mut buf);
            f
        })
        .collect()
}

fn fanout(c: &mut Criterion) {
    let pkt = incoming(1100, false);
    let now = Instant::now();
    let mut group = c.benchmark_group("fanout");
    for n in [1u32, 10, 100] {
        let mut subs = subscribers(n, now);
        let mut buf = [0u8; 1500];
        let mut i = 1;
        group.throughput(Throughput::Elements(n.into()));
        group.bench_function(n.to_string(), |b| {
            b.iter(|| {
                let keyframe = is_keyframe(Codec::Vp8, black_box(&pkt.payload));
                let info = info(&pkt, i, keyframe);
                i += 1;
                for f in &mut subs {
                    black_box(forward_one(f, &pkt, &info, now, &mut buf));
                }
            })
        });
    }
    group.finish();
}

fn rewrite(c: &mut Criterion) {
    let pkt = incoming(1100, false);
    let now = Instant::now();
    let mut f = subscribers(1, now).pop().unwrap();
    let mut buf = [0u8; 1500];
    let mut i = 1;
    c.bench_function("rewrite", |b| {
        b.iter(|| {
            let info = info(&pkt, i, false);
            i += 1;
            black_box(forward_one(&mut f, black_box(&pkt), &info, now, &mut buf))
        })
    });
}

fn srtp_protect(c: &mut Criterion) {
    let provider = rtc::crypto::default_provider().unwrap();
    let mut group = c.benchmark_group("srtp_protect");
    for (name, profile) in [
        (
            "AES_CM_128_HMAC_SHA1_80",
            ProtectionProfile::Aes128CmHmacSha1_80,
        ),
        ("AEAD_AES_128_GCM", ProtectionProfile::AeadAes128Gcm),
    ] {
        let key = vec![0x5a; profile.key_len()];
        let salt = vec![0xa5; profile.salt_len()];
        let mut ctx = Context::new(&key, &salt, profile, None, None, provider.crypto()).unwrap();
        // 12-byte header + 1,188-byte payload.
        let mut raw = incoming(1188, false).marshal().unwrap();
        assert_eq!(raw.len(), 1200);
        let mut seq = FIRST_SEQ;
        group.bench_function(name, |b| {
            b.iter(|| {
                // Each packet a new sequence number, as on the wire (the rollover counter is
                // tracked per SSRC). `encrypt_rtp` returns a freshly allocated `BytesMut`.
                seq = seq.wrapping_add(1);
                raw[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(ctx.encrypt_rtp(black_box(&raw)).unwrap())
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = fanout, rewrite, srtp_protect
}
criterion_main!(benches);
