//! The SFU's core and test peers in one thread, exchanging datagrams in memory on a virtual
//! clock that the test advances: no sockets, no wall clock, no waiting. Each peer's link can
//! lose, delay and reorder what crosses it, from a seeded random source, so that a run gives
//! the same result every time. Signaling is a direct call: the SFU's offers reach the peer
//! they name at once, and its answer goes straight back.

use super::peer::{PeerCore, TICK};
use super::{Observed, PeerOptions, PeerStats, Sabotage, lock};
use crate::core::{Event, Output, Sfu, SfuConfig};
use crate::{ParticipantId, RoomId};
use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// What a peer's link does to the datagrams that cross it, both ways.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Share of datagrams lost, 0 to 1.
    pub loss: f64,
    /// One-way delay.
    pub delay: Duration,
    /// Up to this much more delay, at random: enough of it reorders.
    pub jitter: Duration,
    /// The rate of the SFU-to-peer direction, in bits per second, if it is a bottleneck:
    /// what exceeds it queues, and what would queue longer than `queue` is lost.
    pub down_bps: Option<u64>,
    /// The longest a datagram waits in the bottleneck's queue (a router's buffer).
    pub queue: Duration,
}

impl Default for Link {
    /// A clean link with 1 ms of delay, and no bottleneck.
    fn default() -> Self {
        Link {
            loss: 0.0,
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            down_bps: None,
            queue: Duration::from_millis(200),
        }
    }
}

impl Link {
    /// A clean link whose downlink carries at most `bps`.
    pub fn limited(bps: u64) -> Link {
        Link {
            down_bps: Some(bps),
            ..Link::default()
        }
    }
}

/// The bytes of the IP and UDP headers around each datagram, which a bottleneck carries too.
const UDP_IP_OVERHEAD: u64 = 28;

/// One peer of a simulation.
pub struct SimPeer {
    pub id: ParticipantId,
    pub index: u8,
    pub addr: SocketAddr,
    pub link: Link,
    core: PeerCore,
    stats: Arc<Mutex<PeerStats>>,
    sabotage: Arc<Mutex<VecDeque<Sabotage>>>,
    next_tick: Instant,
    gone: bool,
    /// Offers of the SFU's to lose on their way to this peer.
    lose_offers: u32,
    /// When the downlink's bottleneck has sent all it holds.
    down_busy_until: Instant,
    /// Datagrams to it that its bottleneck's full queue dropped.
    pub queue_drops: u64,
}

impl Observed for SimPeer {
    fn index(&self) -> u8 {
        self.index
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, PeerStats> {
        lock(&self.stats)
    }
}

/// Where a datagram on the wire goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dest {
    Sfu,
    Peer(usize),
}

/// A datagram on the wire, delivered at `at` (then by order of sending).
struct Datagram {
    at: Instant,
    order: u64,
    to: Dest,
    from: SocketAddr,
    data: BytesMut,
}

impl PartialEq for Datagram {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Datagram {}
impl PartialOrd for Datagram {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Datagram {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

/// The SFU and its peers, on a virtual clock.
pub struct Sim {
    pub sfu: Sfu,
    sfu_addr: SocketAddr,
    start: Instant,
    now: Instant,
    sfu_wake: Instant,
    peers: Vec<SimPeer>,
    wire: BinaryHeap<Reverse<Datagram>>,
    sent: u64,
    rng: StdRng,
    /// Every event the SFU emitted, with when, in order.
    pub events: Vec<(Instant, Event)>,
}

impl Sim {
    /// An SFU with no peers; `seed` drives every link's randomness.
    pub fn new(seed: u64) -> Sim {
        Sim::with_config(seed, |_| {})
    }

    /// A simulation whose SFU runs with the configuration `configure` makes of the default.
    pub fn with_config(seed: u64, configure: impl FnOnce(&mut SfuConfig)) -> Sim {
        let start = Instant::now();
        let sfu_addr = SocketAddr::from(([192, 0, 2, 1], 3478));
        let mut config = SfuConfig::new(sfu_addr, (start, SystemTime::now()));
        configure(&mut config);
        // Peers reach the SFU at the address it announces (a NAT's, when set), and see its
        // datagrams come from there.
        let sfu_addr = config.announce_addr;
        let sfu = Sfu::new(config);
        Sim {
            sfu,
            sfu_addr,
            start,
            now: start,
            sfu_wake: start,
            peers: Vec::new(),
            wire: BinaryHeap::new(),
            sent: 0,
            rng: StdRng::seed_from_u64(seed),
            events: Vec::new(),
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the simulation started.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A peer joins `room` as `name` and makes its first offer; returns its handle.
    pub fn join(&mut self, room: &str, name: &str, index: u8, opts: PeerOptions) -> usize {
        let i = self.peers.len();
        let id = ParticipantId::from(name);
        let addr = SocketAddr::from(([192, 0, 2, 10 + index], 5000));
        self.sfu
            .join(self.now, RoomId::from(room), id.clone())
            .expect("join");
        let stats: Arc<Mutex<PeerStats>> = Arc::default();
        let sabotage: Arc<Mutex<VecDeque<Sabotage>>> = Arc::default();
        let mut core = PeerCore::new(
            name,
            index,
            addr,
            opts,
            stats.clone(),
            sabotage.clone(),
            self.now,
        )
        .expect("a test peer");
        let offer = core.offer(self.now).expect("an offer");
        let answer = self
            .sfu
            .handle_offer(self.now, &id, offer)
            .expect("the SFU answers");
        core.accept_answer(answer, self.now)
            .expect("the answer applies");
        self.peers.push(SimPeer {
            id,
            index,
            addr,
            link: Link::default(),
            core,
            stats,
            sabotage,
            next_tick: self.now + TICK,
            gone: false,
            lose_offers: 0,
            down_busy_until: self.now,
            queue_drops: 0,
        });
        self.pump();
        i
    }

    /// A peer leaves: the SFU is told, and the peer stops.
    pub fn leave(&mut self, i: usize) {
        let p = &mut self.peers[i];
        p.gone = true;
        p.core.close();
        self.sfu.leave(self.now, &p.id).expect("leave");
        self.pump();
    }

    pub fn peer(&self, i: usize) -> &SimPeer {
        &self.peers[i]
    }

    /// Sets what a peer's link does from now on.
    pub fn set_link(&mut self, i: usize, link: Link) {
        self.peers[i].link = link;
    }

    /// Spoils the peer's next answer in this way.
    pub fn sabotage_next_answer(&mut self, i: usize, how: Sabotage) {
        // Never poisoned: holders only push or pop.
        self.peers[i]
            .sabotage
            .lock()
            .expect("sabotage lock")
            .push_back(how);
    }

    /// Peer `i` asks for a keyframe of `publisher`'s video (by index); false if it has none.
    pub fn request_keyframe(&mut self, i: usize, publisher: u8) -> bool {
        let asked = self.peers[i].core.request_keyframe(self.now, publisher);
        self.pump();
        asked
    }

    /// Has the peer send `bytes` as an RTCP compound, as they are.
    pub fn send_raw_rtcp(&mut self, i: usize, bytes: &[u8]) -> bool {
        let sent = self.peers[i].core.send_raw_rtcp(self.now, bytes);
        self.pump();
        sent
    }

    /// Starts or stops the peer's talking (the audio level on its packets).
    pub fn set_talking(&mut self, i: usize, on: bool) {
        self.peers[i].core.set_talking(on);
    }

    /// Stops or resumes the peer's media.
    pub fn set_publishing(&mut self, i: usize, on: bool) {
        self.peers[i].core.set_publishing(on);
    }

    /// Loses the SFU's next `n` offers to the peer on their way: it never sees them.
    pub fn lose_next_offers(&mut self, i: usize, n: u32) {
        self.peers[i].lose_offers += n;
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    /// Runs until `cond` holds, for at most `limit` of virtual time; whether it came to hold.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while !cond(self) {
            if self.now >= end {
                return false;
            }
            self.step(end);
        }
        true
    }

    /// Delivers what is due, runs the timers and media that are due, passes every output on,
    /// then moves the clock to the next thing to happen (not past `end`).
    fn step(&mut self, end: Instant) {
        let now = self.now;
        while self.wire.peek().is_some_and(|d| d.0.at <= now) {
            let Some(Reverse(d)) = self.wire.pop() else {
                break;
            };
            match d.to {
                Dest::Sfu => self.sfu.handle_datagram(now, d.from, &d.data),
                Dest::Peer(i) => {
                    let p = &mut self.peers[i];
                    if !p.gone {
                        // A peer refusing garbage is the peer's business, as a browser's.
                        let _ = p.core.handle_datagram(now, p.addr, d.from, &d.data);
                    }
                }
            }
        }
        if self.sfu_wake <= now {
            self.sfu.handle_timeout(now);
        }
        for p in self.peers.iter_mut().filter(|p| !p.gone) {
            if p.core.poll_timeout().is_some_and(|t| t <= now) {
                p.core.handle_timeout(now).expect("peer timers");
            }
            if p.next_tick <= now {
                p.core.tick(now).expect("peer media");
                p.next_tick += TICK;
            }
        }
        self.pump();
        let mut next = end.min(self.sfu_wake);
        if let Some(d) = self.wire.peek() {
            next = next.min(d.0.at);
        }
        for p in self.peers.iter_mut().filter(|p| !p.gone) {
            next = next.min(p.next_tick);
            if let Some(t) = p.core.poll_timeout() {
                next = next.min(t);
            }
        }
        // What was due now has been done: the clock always moves on.
        self.now = next.max(now + Duration::from_micros(1)).min(end);
    }

    /// Passes every output on until none is left: the SFU's datagrams and offers to the
    /// peers, the peers' datagrams to the SFU.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            loop {
                match self.sfu.poll_output() {
                    Output::Transmit(t) => {
                        if let Some(i) = self.peers.iter().position(|p| p.addr == t.to) {
                            self.send(Dest::Peer(i), self.sfu_addr, t.data);
                        }
                        moved = true;
                    }
                    Output::Event(e) => {
                        if let Event::Offer {
                            participant, sdp, ..
                        } = &e
                        {
                            self.answer(participant, sdp.clone());
                        }
                        self.events.push((self.now, e));
                        moved = true;
                    }
                    Output::Timeout(t) => {
                        self.sfu_wake = t;
                        break;
                    }
                }
            }
            for i in 0..self.peers.len() {
                if self.peers[i].gone {
                    continue;
                }
                self.peers[i].core.drain();
                while let Some((_, data)) = self.peers[i].core.poll_transmit() {
                    let from = self.peers[i].addr;
                    self.send(Dest::Sfu, from, data);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// A peer answers an offer of the SFU's.
    fn answer(&mut self, participant: &ParticipantId, sdp: String) {
        let now = self.now;
        let Some(p) = self
            .peers
            .iter_mut()
            .find(|p| &p.id == participant && !p.gone)
        else {
            return;
        };
        if p.lose_offers > 0 {
            p.lose_offers -= 1;
            return;
        }
        let (answer, sabotaged) = p.core.answer_offer(sdp, now).expect("the offer applies");
        let accepted = self
            .sfu
            .handle_answer(now, participant, answer)
            .map_err(|e| e.to_string());
        p.core
            .answered(accepted, sabotaged)
            .expect("the SFU takes the answer");
    }

    /// Puts a datagram on the wire, through the link of the peer at either end.
    fn send(&mut self, to: Dest, from: SocketAddr, data: BytesMut) {
        let peer = match to {
            Dest::Peer(i) => i,
            Dest::Sfu => match self.peers.iter().position(|p| p.addr == from) {
                Some(i) => i,
                None => return,
            },
        };
        let link = self.peers[peer].link;
        if link.loss > 0.0 && self.rng.random::<f64>() < link.loss {
            return;
        }
        let jitter = if link.jitter.is_zero() {
            Duration::ZERO
        } else {
            link.jitter.mul_f64(self.rng.random::<f64>())
        };
        let mut leaves = self.now;
        if let (Dest::Peer(_), Some(bps)) = (to, link.down_bps) {
            let p = &mut self.peers[peer];
            let start = p.down_busy_until.max(self.now);
            if start - self.now > link.queue {
                p.queue_drops += 1;
                return;
            }
            let wire_bits = (data.len() as u64 + UDP_IP_OVERHEAD) * 8;
            p.down_busy_until = start + Duration::from_secs_f64(wire_bits as f64 / bps as f64);
            leaves = p.down_busy_until;
        }
        self.sent += 1;
        self.wire.push(Reverse(Datagram {
            at: leaves + link.delay + jitter,
            order: self.sent,
            to,
            from,
            data,
        }));
    }
}
