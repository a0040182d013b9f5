//! ICE over TCP (RFC 6544): a worker's passive TCP candidate, for clients whose networks
//! block UDP. Clients connect; each datagram travels as one RFC 4571 frame, a 16-bit length
//! then the bytes. The SFU never connects out.
//!
//! Caps: connections per worker and per client address, bytes queued per connection (a
//! stalled reader loses whole frames, never part of one, since a partial frame would break
//! the framing for good), bytes read per wake-up (one fast sender must not hold the worker
//! from its other rooms), and an idle timeout for connections that send nothing the SFU
//! accepts: ICE consent checks arrive every few seconds on a live one, and garbage does not
//! count.

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tracing::debug;

/// Connections one worker keeps open at most.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections one worker keeps open from one client IP at most (a NAT may hide several
/// clients behind one).
pub const MAX_PER_IP: usize = 64;
/// Bytes read from one connection per wake-up; the rest waits for the next pass.
pub const READ_BUDGET: usize = 256 * 1024;
/// Bytes queued for one connection at most; frames past it are dropped.
pub const MAX_QUEUED: usize = 2 << 20;
/// A connection that sends no frame the SFU accepts for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle connections are looked for.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// The largest frame: its length is 16 bits.
const MAX_FRAME: usize = u16::MAX as usize;

/// Splits the complete RFC 4571 frames at the start of `buf`, calling `frame` with each
/// (empty frames are skipped). Returns how many bytes they took: the rest is a partial frame.
pub fn split_frames(buf: &[u8], mut frame: impl FnMut(&[u8])) -> usize {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        let Some(body) = buf.get(at + 2..at + 2 + len) else {
            break;
        };
        if !body.is_empty() {
            frame(body);
        }
        at += 2 + len;
    }
    at
}

/// What the ICE-TCP port has done, for the reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpCounters {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused at the cap.
    pub refused: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames queued to send.
    pub frames_out: u64,
    /// Frames dropped: no connection from their destination, or its queue was full.
    pub frames_dropped: u64,
    /// Connections closed for sending no frame in time.
    pub idle_closed: u64,
}

/// How a read pass ended.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// The socket would block: the next event wakes it.
    Drained,
    /// The budget ran out with bytes perhaps still waiting.
    More,
    /// The peer closed, or the socket failed.
    Closed,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Received bytes not yet split into frames: at most one partial frame.
    inbuf: Vec<u8>,
    /// Framed bytes waiting for the socket, from `sent` on.
    out: Vec<u8>,
    sent: usize,
    last_frame: Instant,
}

/// The worker's ICE-TCP listener and its connections.
pub struct TcpPort {
    listener: TcpListener,
    token: Token,
    conns: HashMap<Token, Conn>,
    by_peer: HashMap<SocketAddr, Token>,
    per_ip: HashMap<IpAddr, usize>,
    /// Connections whose last pass ran out of budget: read again without an event.
    pending: Vec<Token>,
    next_token: usize,
    next_sweep: Instant,
    counters: TcpCounters,
}

impl TcpPort {
    /// Registers `listener` under `token`; connections take the tokens after it.
    pub fn new(
        mut listener: TcpListener,
        token: Token,
        registry: &Registry,
        now: Instant,
    ) -> std::io::Result<TcpPort> {
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(TcpPort {
            listener,
            token,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            per_ip: HashMap::new(),
            pending: Vec::new(),
            next_token: token.0 + 1,
            next_sweep: now + SWEEP_INTERVAL,
            counters: TcpCounters::default(),
        })
    }

    /// Whether `token` is this port's: the listener or one of its connections.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.token.0
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// What it has done so far.
    pub fn counters(&self) -> TcpCounters {
        self.counters
    }

    /// When idle connections are next looked for.
    pub fn next_due(&self) -> Instant {
        self.next_sweep
    }

    /// The listener or a connection is ready: accepts, reads (calling `frame` with each
    /// complete frame and its sender; it says whether the SFU accepted the frame) and
    /// writes what waits.
    pub fn handle_ready(
        &mut self,
        token: Token,
        registry: &Registry,
        now: Instant,
        mut frame: impl FnMut(SocketAddr, &[u8]) -> bool,
    ) {
        if token == self.token {
            self.accept(registry, now);
            return;
        }
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let pass = read(conn, now, &mut self.counters, &mut frame);
        let open = pass != Pass::Closed && flush(conn);
        if !open {
            self.close(token, registry, "closed");
        } else if pass == Pass::More && !self.pending.contains(&token) {
            self.pending.push(token);
        }
    }

    /// Whether a connection has bytes left from a pass that ran out of budget.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Reads again the connections whose last pass ran out of budget.
    pub fn handle_pending(
        &mut self,
        registry: &Registry,
        now: Instant,
        mut frame: impl FnMut(SocketAddr, &[u8]) -> bool,
    ) {
        for token in std::mem::take(&mut self.pending) {
            self.handle_ready(token, registry, now, &mut frame);
        }
    }

    /// Queues `data` as one frame to the connection from `to`. False, counted, when there
    /// is none or its queue is full.
    pub fn send(&mut self, to: SocketAddr, data: &[u8], registry: &Registry) -> bool {
        let Some(&token) = self.by_peer.get(&to) else {
            self.counters.frames_dropped += 1;
            return false;
        };
        // The map holds only live connections' tokens.
        let Some(conn) = self.conns.get_mut(&token) else {
            self.counters.frames_dropped += 1;
            return false;
        };
        let Ok(len) = u16::try_from(data.len()) else {
            self.counters.frames_dropped += 1;
            return false;
        };
        if conn.out.len() - conn.sent + 2 + data.len() > MAX_QUEUED {
            self.counters.frames_dropped += 1;
            return false;
        }
        conn.out.extend_from_slice(&len.to_be_bytes());
        conn.out.extend_from_slice(data);
        self.counters.frames_out += 1;
        if !flush(conn) {
            self.close(token, registry, "write failed");
        }
        true
    }

    /// Closes connections that sent no frame within [`IDLE_TIMEOUT`].
    pub fn handle_timeout(&mut self, now: Instant, registry: &Registry) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_INTERVAL;
        let idle: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_frame) >= IDLE_TIMEOUT)
            .map(|(t, _)| *t)
            .collect();
        for token in idle {
            self.counters.idle_closed += 1;
            self.close(token, registry, "idle");
        }
    }

    fn accept(&mut self, registry: &Registry, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    let from_ip = self.per_ip.get(&peer.ip()).copied().unwrap_or(0);
                    if self.conns.len() >= MAX_CONNECTIONS || from_ip >= MAX_PER_IP {
                        self.counters.refused += 1;
                        debug!(%peer, "ICE-TCP connection refused: at the cap");
                        continue;
                    }
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = registry.register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        debug!(%peer, "cannot watch an ICE-TCP connection: {e}");
                        continue;
                    }
                    self.counters.accepted += 1;
                    *self.per_ip.entry(peer.ip()).or_default() += 1;
                    debug!(%peer, "ICE-TCP connection");
                    // A peer address names one connection; a reused one replaces the old.
                    if let Some(old) = self.by_peer.insert(peer, token) {
                        self.close_conn(old, registry);
                    }
                    self.conns.insert(
                        token,
                        Conn {
                            stream,
                            peer,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                            sent: 0,
                            last_frame: now,
                        },
                    );
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A connection reset before it was accepted: the next may be fine.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Out of descriptors: what waits is taken when the next one arrives.
                    debug!("ICE-TCP accept: {e}");
                    return;
                }
            }
        }
    }

    fn close(&mut self, token: Token, registry: &Registry, why: &str) {
        if let Some(conn) = self.conns.get(&token) {
            debug!(peer = %conn.peer, why, "ICE-TCP connection closed");
            if self.by_peer.get(&conn.peer) == Some(&token) {
                self.by_peer.remove(&conn.peer);
            }
        }
        self.close_conn(token, registry);
    }

    fn close_conn(&mut self, token: Token, registry: &Registry) {
        if let Some(mut conn) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut conn.stream);
            if let Some(n) = self.per_ip.get_mut(&conn.peer.ip()) {
                *n -= 1;
                if *n == 0 {
                    self.per_ip.remove(&conn.peer.ip());
                }
            }
        }
        self.pending.retain(|t| *t != token);
    }
}

/// Reads until the socket would block or [`READ_BUDGET`] is spent, handing out complete
/// frames. Only frames the SFU accepts keep the connection from going idle.
fn read(
    conn: &mut Conn,
    now: Instant,
    counters: &mut TcpCounters,
    frame: &mut impl FnMut(SocketAddr, &[u8]) -> bool,
) -> Pass {
    let mut chunk = [0u8; 16 * 1024];
    let mut budget = READ_BUDGET;
    loop {
        if budget == 0 {
            return Pass::More;
        }
        // At most one partial frame waits, so the buffer stays under 2 + MAX_FRAME bytes.
        let room = (2 + MAX_FRAME - conn.inbuf.len()).min(chunk.len());
        match conn.stream.read(&mut chunk[..room]) {
            Ok(0) => return Pass::Closed,
            Ok(n) => {
                budget = budget.saturating_sub(n);
                conn.inbuf.extend_from_slice(&chunk[..n]);
                let peer = conn.peer;
                let (mut got, mut accepted) = (0, false);
                let used = split_frames(&conn.inbuf, |f| {
                    got += 1;
                    accepted |= frame(peer, f);
                });
                conn.inbuf.drain(..used);
                counters.frames_in += got;
                if accepted {
                    conn.last_frame = now;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Pass::Drained,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Pass::Closed,
        }
    }
}

/// Writes what waits until the socket would block. False when the connection failed.
fn flush(conn: &mut Conn) -> bool {
    while conn.sent < conn.out.len() {
        match conn.stream.write(&conn.out[conn.sent..]) {
            Ok(0) => return false,
            Ok(n) => conn.sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if conn.sent == conn.out.len() {
        conn.out.clear();
        conn.sent = 0;
    } else if conn.sent > MAX_QUEUED / 2 {
        conn.out.drain(..conn.sent);
        conn.sent = 0;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(frames: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for f in frames {
            v.extend_from_slice(&(f.len() as u16).to_be_bytes());
            v.extend_from_slice(f);
        }
        v
    }

    #[test]
    fn complete_frames_are_split_and_a_partial_one_waits() {
        let mut bytes = framed(&[b"stun", b"", b"dtls-record"]);
        bytes.extend_from_slice(&[0, 9, b'p', b'a']);
        let mut got = Vec::new();
        let used = split_frames(&bytes, |f| got.push(f.to_vec()));
        assert_eq!(got, vec![b"stun".to_vec(), b"dtls-record".to_vec()]);
        assert_eq!(used, bytes.len() - 4, "the partial frame is left");
        assert_eq!(split_frames(&[0], |_| panic!("no frame")), 0);
        assert_eq!(split_frames(&[], |_| panic!("no frame")), 0);
    }

    #[test]
    fn a_frame_split_across_reads_arrives_whole() {
        let bytes = framed(&[&[7u8; 300], b"next"]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for chunk in bytes.chunks(7) {
            buf.extend_from_slice(chunk);
            let used = split_frames(&buf, |f| got.push(f.to_vec()));
            buf.drain(..used);
        }
        assert_eq!(got, vec![vec![7u8; 300], b"next".to_vec()]);
        assert!(buf.is_empty());
    }

    /// A port on loopback, polled by the test.
    struct Harness {
        poll: mio::Poll,
        port: TcpPort,
        addr: SocketAddr,
    }

    impl Harness {
        fn new() -> Harness {
            let poll = mio::Poll::new().unwrap();
            let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.local_addr().unwrap();
            let port = TcpPort::new(listener, Token(2), poll.registry(), Instant::now()).unwrap();
            Harness { poll, port, addr }
        }

        /// Polls until `done` says so (or 5 s), gathering the frames received.
        fn pump(
            &mut self,
            frames: &mut Vec<(SocketAddr, Vec<u8>)>,
            done: impl Fn(&Self, usize) -> bool,
        ) {
            let mut events = mio::Events::with_capacity(16);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !done(self, frames.len()) && Instant::now() < deadline {
                self.poll
                    .poll(&mut events, Some(Duration::from_millis(20)))
                    .unwrap();
                for ev in events.iter() {
                    let now = Instant::now();
                    self.port
                        .handle_ready(ev.token(), self.poll.registry(), now, |from, f| {
                            frames.push((from, f.to_vec()));
                            true
                        });
                }
            }
        }
    }

    #[test]
    fn frames_travel_both_ways_and_a_closed_connection_goes() {
        use std::io::{Read as _, Write as _};
        let mut h = Harness::new();
        let mut client = std::net::TcpStream::connect(h.addr).unwrap();
        let me = client.local_addr().unwrap();
        let bytes = framed(&[b"first", b"second", &[9u8; 1000]]);
        client.write_all(&bytes[..20]).unwrap();
        client.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        client.write_all(&bytes[20..]).unwrap();
        let mut frames = Vec::new();
        h.pump(&mut frames, |_, n| n >= 3);
        assert_eq!(
            frames,
            vec![
                (me, b"first".to_vec()),
                (me, b"second".to_vec()),
                (me, vec![9u8; 1000])
            ]
        );
        assert_eq!(h.port.connections(), 1);

        assert!(h.port.send(me, b"reply", h.poll.registry()));
        let mut got = [0u8; 7];
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, &[0, 5, b'r', b'e', b'p', b'l', b'y']);

        let stranger = SocketAddr::from(([127, 0, 0, 1], 9));
        assert!(!h.port.send(stranger, b"lost", h.poll.registry()));
        assert_eq!(h.port.counters().frames_dropped, 1);

        drop(client);
        h.pump(&mut frames, |h, _| h.port.connections() == 0);
        assert_eq!(h.port.connections(), 0);
        assert!(!h.port.send(me, b"gone", h.poll.registry()));
    }

    #[test]
    fn a_connection_that_sends_no_frame_is_closed_when_idle() {
        let mut h = Harness::new();
        let _client = std::net::TcpStream::connect(h.addr).unwrap();
        let mut frames = Vec::new();
        h.pump(&mut frames, |h, _| h.port.connections() == 1);
        assert_eq!(h.port.connections(), 1);
        let later = Instant::now() + IDLE_TIMEOUT + SWEEP_INTERVAL;
        h.port.handle_timeout(later, h.poll.registry());
        assert_eq!(h.port.connections(), 0);
        assert_eq!(h.port.counters().idle_closed, 1);
    }

    #[test]
    fn a_stalled_reader_loses_whole_frames_and_keeps_its_framing() {
        use std::io::Read as _;
        let mut h = Harness::new();
        let mut client = std::net::TcpStream::connect(h.addr).unwrap();
        let me = client.local_addr().unwrap();
        let mut frames = Vec::new();
        h.pump(&mut frames, |h, _| h.port.connections() == 1);
        // The client reads nothing: the kernel buffers fill, then the queue, then frames go.
        let frame = vec![0x5au8; 60_000];
        let mut queued = 0usize;
        while h.port.send(me, &frame, h.poll.registry()) {
            queued += 1;
            assert!(queued < 10_000, "the queue has a cap");
        }
        assert!(h.port.counters().frames_dropped >= 1);
        assert_eq!(h.port.connections(), 1, "a slow reader is not cut off");
        // Reading it all back, every frame is whole.
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        let mut received = 0;
        loop {
            h.pump(&mut frames, |_, _| true);
            let mut events = mio::Events::with_capacity(16);
            h.poll
                .poll(&mut events, Some(Duration::from_millis(1)))
                .unwrap();
            for ev in events.iter() {
                h.port
                    .handle_ready(ev.token(), h.poll.registry(), Instant::now(), |_, _| true);
            }
            match client.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    let used = split_frames(&buf, |f| {
                        assert_eq!(f, &frame[..]);
                        received += 1;
                    });
                    buf.drain(..used);
                }
                Err(_) => break,
            }
        }
        assert_eq!(received, queued);
        assert!(buf.is_empty());
    }

    #[test]
    fn frames_the_sfu_refuses_do_not_keep_a_connection_alive() {
        use std::io::Write as _;
        let mut h = Harness::new();
        let mut client = std::net::TcpStream::connect(h.addr).unwrap();
        let start = Instant::now();
        let mut frames = Vec::new();
        h.pump(&mut frames, |h, _| h.port.connections() == 1);
        client.write_all(&framed(&[b"garbage"])).unwrap();
        // Read with a closure that refuses every frame, as the SFU does garbage.
        let mut events = mio::Events::with_capacity(16);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = 0;
        while seen == 0 && Instant::now() < deadline {
            h.poll
                .poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            for ev in events.iter() {
                h.port
                    .handle_ready(ev.token(), h.poll.registry(), Instant::now(), |_, _| {
                        seen += 1;
                        false
                    });
            }
        }
        assert_eq!(seen, 1);
        h.port
            .handle_timeout(start + IDLE_TIMEOUT + SWEEP_INTERVAL, h.poll.registry());
        assert_eq!(h.port.connections(), 0, "garbage is not a sign of life");
    }

    #[test]
    fn one_address_gets_at_most_its_share_of_connections() {
        let mut h = Harness::new();
        let clients: Vec<_> = (0..MAX_PER_IP + 2)
            .map(|_| std::net::TcpStream::connect(h.addr).unwrap())
            .collect();
        let mut frames = Vec::new();
        h.pump(&mut frames, |h, _| h.port.counters().refused >= 2);
        assert_eq!(h.port.connections(), MAX_PER_IP);
        assert_eq!(h.port.counters().refused, 2);
        drop(clients);
    }

    #[test]
    fn a_fast_sender_is_read_in_slices_and_loses_nothing() {
        use std::io::Write as _;
        let mut h = Harness::new();
        let mut client = std::net::TcpStream::connect(h.addr).unwrap();
        let mut frames = Vec::new();
        h.pump(&mut frames, |h, _| h.port.connections() == 1);
        // More than two budgets' worth, written before the port reads any of it.
        let frame = [3u8; 1200];
        let count = 2 * READ_BUDGET / frame.len() + 50;
        let bytes = framed(&vec![&frame[..]; count]);
        let writer = std::thread::spawn(move || {
            client.write_all(&bytes).unwrap();
            client
        });
        let mut got = 0;
        let mut slices = 0;
        let mut events = mio::Events::with_capacity(16);
        let deadline = Instant::now() + Duration::from_secs(10);
        while got < count && Instant::now() < deadline {
            let wait = if h.port.has_pending() { 0 } else { 20 };
            h.poll
                .poll(&mut events, Some(Duration::from_millis(wait)))
                .unwrap();
            let now = Instant::now();
            let mut count_frame = |_: SocketAddr, f: &[u8]| {
                assert_eq!(f, &frame[..]);
                got += 1;
                true
            };
            if h.port.has_pending() {
                slices += 1;
            }
            h.port
                .handle_pending(h.poll.registry(), now, &mut count_frame);
            for ev in events.iter() {
                h.port
                    .handle_ready(ev.token(), h.poll.registry(), now, &mut count_frame);
            }
        }
        assert_eq!(got, count);
        assert!(slices >= 1, "the reads were split by the budget");
        drop(writer.join().unwrap());
    }
}
