//! The per-packet forwarding path allocates nothing, from the forwarding decision to the
//! SRTP-protected datagram.
//!
//! A counting global allocator records heap allocations made by the current thread while it
//! is armed. The test warms up a track's forwarding state (one [`Forwarder`] and counters per
//! subscriber, the [`RetransmitCache`], the [`KeyframeRequester`]) and the send path (one link
//! per subscriber with its SRTP keys, and the buffer pool), then arms the counter and runs
//! 10,000 packets through what `Sfu::on_rtp` does per packet: keyframe detection, one
//! forwarding decision per subscriber, then the SFU's own send path (header written into a
//! pooled buffer with the transport-wide sequence number, the shared payload copied after it,
//! AES-GCM in place), counters, the cache insert; and what the media thread does with each
//! datagram: takes it, and hands its buffer back once sent.
//!
//! Not covered, because it is per *received* packet and rtc's: decrypting and parsing the
//! incoming packet (done before the loop here, as rtc does before `on_rtp`).

// A `#[global_allocator]` must implement the unsafe `GlobalAlloc` trait; this file only
// forwards to `System` and touches a thread-local flag and counter.
#![allow(unsafe_code)]

use rtc::rtp::Packet;
use rtc::srtp::protection_profile::ProtectionProfile;
use sfu::core::cache::{CachedPacket, RetransmitCache};
use sfu::core::codec::Codec;
use sfu::core::forward_to;
use sfu::core::forwarder::{DropReason, Forwarder, PacketInfo};
use sfu::core::ids::SessionId;
use sfu::core::keyframe::KeyframeRequester;
use sfu::core::sendpath::{OutPacket, SendPath, SrtpKeys};
use sfu::core::stats::{BitrateMeter, DownTrackCounters, TrackCounters};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note_alloc() {
    // `try_with`: the allocator can be called while thread-locals are being torn down.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by this thread while running `f`.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|n| n.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    ALLOCS.with(Cell::get)
}

const PAYLOAD_LEN: usize = 1100;

/// An incoming VP8 packet, built as rtc builds it.
fn incoming(seq: u16, timestamp: u32, keyframe: bool) -> Packet {
    sfu::testkit::received_vp8(seq, timestamp, PAYLOAD_LEN, keyframe)
}

struct Sub {
    session: SessionId,
    forwarder: Forwarder,
    counters: DownTrackCounters,
    bitrate: BitrateMeter,
}

/// One track's forwarding state, as `Track` and its `DownTrack`s hold it, and the send path.
struct Track {
    subs: Vec<Sub>,
    cache: RetransmitCache<CachedPacket>,
    counters: TrackCounters,
    bitrate: BitrateMeter,
    keyframes: KeyframeRequester,
    plis: u64,
    send: SendPath,
    /// Bytes of datagrams "sent", so that the work is not optimised away.
    wire_bytes: u64,
}

impl Track {
    fn new(subscribers: u32, now: Instant) -> Self {
        let mut send = SendPath::new().unwrap();
        let subs = (0..subscribers)
            .map(|i| {
                let session = SessionId(u64::from(i) + 1);
                let keys = SrtpKeys {
                    profile: ProtectionProfile::AeadAes128Gcm,
                    master_key: vec![i as u8; 16],
                    master_salt: vec![7; 12],
                };
                let to =
                    sfu::core::Remote::udp(format!("127.0.0.1:{}", 20_000 + i).parse().unwrap());
                send.handle_connected(session, &keys, to, now).unwrap();
                Sub {
                    session,
                    forwarder: Forwarder::new(1000 + i, 90_000, true),
                    counters: DownTrackCounters::default(),
                    bitrate: BitrateMeter::default(),
                }
            })
            .collect();
        Track {
            subs,
            cache: RetransmitCache::new(
                RetransmitCache::<()>::DEFAULT_SLOTS,
                RetransmitCache::<()>::DEFAULT_MAX_AGE,
            ),
            counters: TrackCounters::default(),
            bitrate: BitrateMeter::default(),
            keyframes: KeyframeRequester::new(KeyframeRequester::DEFAULT_INTERVAL),
            plis: 0,
            send,
            wire_bytes: 0,
        }
    }

    /// What `Sfu::on_rtp` does for one packet, through the same functions, then what the
    /// media thread does with the datagrams.
    fn on_rtp(&mut self, pkt: Packet, now: Instant) {
        self.counters.packets += 1;
        self.bitrate.record(pkt.payload.len() + 12, now);
        let info = PacketInfo::of(&pkt, Codec::Vp8);
        let mut want_keyframe = false;
        for sub in &mut self.subs {
            let decision = forward_to(
                &mut sub.forwarder,
                &mut sub.counters,
                &info,
                pkt.header.marker,
                96,
                now,
            );
            match decision {
                Err(reason) => want_keyframe |= reason == DropReason::WaitingForKeyframe,
                Ok(header) => {
                    let p = OutPacket {
                        header,
                        twcc_ext: Some(3),
                        clock_rate: 90_000,
                        payload: &pkt.payload,
                        vp8: None,
                    };
                    let n = self.send.send(now, sub.session, &p).expect("a link");
                    sub.counters.record_sent(n);
                    sub.bitrate.record(n, now);
                }
            }
        }
        if want_keyframe && self.keyframes.handle_request(now) {
            self.plis += 1;
        }
        self.cache
            .insert(pkt.header.sequence_number, now, CachedPacket::of(pkt));
        while let Some(t) = self.send.poll_transmit() {
            self.wire_bytes += black_box(&t.data).len() as u64;
            self.send.recycle(t.data);
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test below against a counter that never counts.
    let n = allocations_in(|| {
        black_box(Vec::<u8>::with_capacity(64));
    });
    assert!(n >= 1, "the counting allocator saw {n} allocations");
}

#[test]
fn forwarding_a_packet_allocates_nothing() {
    const SUBSCRIBERS: u32 = 10;
    // Past the cache's two seconds (at 1,000 packets/s), so its ring has grown to the rate.
    const WARM_UP: u16 = 2150;
    const PACKETS: u16 = 10_000;
    // Start near the top of the sequence space, so the run crosses the wrap.
    const FIRST_SEQ: u16 = 60_000;

    let t0 = Instant::now();
    let mut track = Track::new(SUBSCRIBERS, t0);
    // A keyframe every 300 packets (10 s of 30 packets/s), 3,000 ticks per packet.
    let packets: Vec<Packet> = (0..WARM_UP + PACKETS)
        .map(|i| incoming(FIRST_SEQ.wrapping_add(i), u32::from(i) * 3000, i % 300 == 0))
        .collect();
    let at = |i: usize| t0 + Duration::from_millis(i as u64);
    let mut packets = packets.into_iter().enumerate();

    for (i, pkt) in packets.by_ref().take(WARM_UP.into()) {
        track.on_rtp(pkt, at(i));
    }
    // A subscriber that lost its keyframe: its drops and the PLI debounce are on the path too.
    track.subs[3].forwarder.request_keyframe();

    let allocs = allocations_in(|| {
        for (i, pkt) in packets.by_ref() {
            track.on_rtp(pkt, at(i));
        }
    });

    // The run did what it claims: every packet reached every subscriber but one, which
    // waited for the next keyframe and asked for it.
    let forwarded: u64 = track.subs.iter().map(|s| s.counters.packets).sum();
    let waiting = track.subs[3]
        .counters
        .dropped
        .of(DropReason::WaitingForKeyframe);
    assert_eq!(track.counters.packets, u64::from(WARM_UP + PACKETS));
    assert_eq!(waiting, 250, "packets until the keyframe at 2,400");
    assert_eq!(
        forwarded,
        u64::from(SUBSCRIBERS) * u64::from(WARM_UP + PACKETS) - waiting
    );
    assert!(track.plis >= 1);
    // Each datagram is the 20-byte header (with the transport-wide number), the 1,100-byte
    // payload and the 16-byte GCM tag.
    assert_eq!(track.wire_bytes, forwarded * (20 + PAYLOAD_LEN as u64 + 16));
    assert_eq!(
        allocs, 0,
        "{allocs} heap allocations while forwarding {PACKETS} packets to {SUBSCRIBERS} subscribers"
    );
}
