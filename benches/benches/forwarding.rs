//! Micro-benchmarks of the SFU's per-packet work, with no sockets and no PeerConnection.
//!
//! - `fanout/N`: one incoming 1,100-byte VP8 packet to N subscribers, through the SFU's own
//!   send path: keyframe detection once, then per subscriber the [`Forwarder`] decision, the
//!   header (with the transport-wide sequence number) written into a pooled buffer with the
//!   shared payload after it, AES-128-GCM in place, and the buffer handed back as the media
//!   thread does once the datagram is sent. Reported in packets sent per second.
//! - `rewrite`: the decision and the header write for one subscriber, without SRTP.
//! - `srtp_protect/{sfu,rtc}/<profile>`: protecting a 1,200-byte RTP packet, with the send
//!   path's in-place SRTP and, as the baseline in the same run, with rtc's SRTP context
//!   (what every forwarded packet paid before the send path: `encrypt_rtp` returns a fresh
//!   `BytesMut`).
//!
//! Each benchmark measures for 2 s, so the whole run takes about half a minute.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtc::rtp::Packet;
use rtc::shared::marshal::Marshal;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;
use sfu::core::codec::{Codec, is_keyframe};
use sfu::core::forwarder::{Decision, Forwarder, PacketInfo};
use sfu::core::ids::SessionId;
use sfu::core::sendpath::rtp::write_header;
use sfu::core::sendpath::srtp::SrtpSender;
use sfu::core::sendpath::{OutHeader, OutPacket, SendPath, SrtpKeys};
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

/// One subscriber's forwarding decision, as the header it gets. `now` is fixed: the SFU is
/// handed the time once per datagram and reads no clock itself.
fn decide(f: &mut Forwarder, pkt: &Packet, info: &PacketInfo, now: Instant) -> OutHeader {
    let Decision::Forward(rw) = f.forward(info, now) else {
        panic!("every packet of the benchmark stream is forwarded");
    };
    OutHeader {
        ssrc: rw.ssrc,
        seq: rw.seq,
        timestamp: rw.timestamp,
        payload_type: 96,
        marker: pkt.header.marker,
    }
}

fn keys(profile: ProtectionProfile) -> SrtpKeys {
    SrtpKeys {
        profile,
        master_key: vec![0x5a; profile.key_len()],
        master_salt: vec![0xa5; profile.salt_len()],
    }
}

/// Video forwarders that have already seen the stream's keyframe, each with its session's
/// link on `send`.
fn subscribers(n: u32, now: Instant, send: &mut SendPath) -> Vec<(SessionId, Forwarder)> {
    let key = incoming(1100, true);
    (0..n)
        .map(|i| {
            let session = SessionId(u64::from(i) + 1);
            let to = sfu::core::Remote::udp(format!("127.0.0.1:{}", 20_000 + i).parse().unwrap());
            send.handle_connected(session, &keys(ProtectionProfile::AeadAes128Gcm), to, now)
                .unwrap();
            let mut f = Forwarder::new(5000 + i, 90_000, true);
            decide(&mut f, &key, &info(&key, 0, true), now);
            (session, f)
        })
        .collect()
}

fn fanout(c: &mut Criterion) {
    let pkt = incoming(1100, false);
    let now = Instant::now();
    let mut group = c.benchmark_group("fanout");
    for n in [1u32, 10, 100] {
        let mut send = SendPath::new().unwrap();
        let mut subs = subscribers(n, now, &mut send);
        let mut i = 1;
        group.throughput(Throughput::Elements(n.into()));
        group.bench_function(n.to_string(), |b| {
            b.iter(|| {
                let keyframe = is_keyframe(Codec::Vp8, black_box(&pkt.payload));
                let info = info(&pkt, i, keyframe);
                i += 1;
                for (session, f) in &mut subs {
                    let p = OutPacket {
                        header: decide(f, &pkt, &info, now),
                        twcc_ext: Some(3),
                        clock_rate: 90_000,
                        payload: &pkt.payload,
                        vp8: None,
                    };
                    black_box(send.send(now, *session, &p));
                }
                while let Some(t) = send.poll_transmit() {
                    send.recycle(black_box(t).data);
                }
            })
        });
    }
    group.finish();
}

fn rewrite(c: &mut Criterion) {
    let pkt = incoming(1100, false);
    let now = Instant::now();
    let mut send = SendPath::new().unwrap();
    let (_, mut f) = subscribers(1, now, &mut send).pop().unwrap();
    let mut buf = Vec::with_capacity(1500);
    let mut i = 1;
    c.bench_function("rewrite", |b| {
        b.iter(|| {
            let info = info(&pkt, i, false);
            i += 1;
            buf.clear();
            let h = decide(&mut f, black_box(&pkt), &info, now);
            write_header(&mut buf, &h, Some((3, i as u16)));
            buf.extend_from_slice(&pkt.payload);
            black_box(buf.len())
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
        let k = keys(profile);
        // 12-byte header + 1,188-byte payload.
        let mut raw = incoming(1188, false).marshal().unwrap();
        assert_eq!(raw.len(), 1200);
        let mut seq = FIRST_SEQ;
        let mut ctx = Context::new(
            &k.master_key,
            &k.master_salt,
            profile,
            None,
            None,
            provider.crypto(),
        )
        .unwrap();
        group.bench_function(format!("rtc/{name}"), |b| {
            b.iter(|| {
                // Each packet a new sequence number, as on the wire (the rollover counter is
                // tracked per SSRC).
                seq = seq.wrapping_add(1);
                raw[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(ctx.encrypt_rtp(black_box(&raw)).unwrap())
            })
        });
        let mut ours = SrtpSender::new(&k, provider.crypto()).unwrap();
        let mut buf = bytes::BytesMut::with_capacity(1536);
        group.bench_function(format!("sfu/{name}"), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                raw[2..4].copy_from_slice(&seq.to_be_bytes());
                buf.clear();
                buf.extend_from_slice(black_box(&raw));
                ours.protect(&mut buf, 12).unwrap();
                black_box(buf.len())
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
