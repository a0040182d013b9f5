//! The baseline: a minimal UDP relay with no ICE, DTLS, SRTP or RTP logic. Each datagram a
//! publisher sends is copied to every other member of its room, read with `recvmmsg` and sent
//! with `sendmmsg`. Its packets per second per core is what one core can forward through the
//! kernel on this machine: the yardstick the SFU's figure is divided by.
//!
//! Members register with one datagram, `JOIN <room>`; like the SFU, every member receives
//! what every other member publishes.

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg};
use sfu::io::recycle;
use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

const BATCH: usize = 32;
const SEND_BATCH: usize = 256;
const MTU: usize = 1500;

#[derive(Default)]
struct Room {
    members: Vec<SocketAddrV4>,
}

/// Relays until the socket fails. Blocking; run it on a thread or process of its own.
pub fn run(socket: UdpSocket) -> std::io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut rooms: Vec<Room> = Vec::new();
    let mut room_ids: HashMap<String, usize> = HashMap::new();
    let mut member_of: HashMap<SocketAddrV4, usize> = HashMap::new();
    let mut bufs = vec![[0u8; MTU]; BATCH];
    let mut recv_headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrIn>::preallocate(SEND_BATCH, None);
    let mut received: Vec<(usize, SocketAddrV4)> = Vec::with_capacity(BATCH);
    // For every copy to send: the buffer it comes from, and where it goes.
    let mut out_buf: Vec<usize> = Vec::with_capacity(SEND_BATCH * 4);
    let mut out_addr: Vec<Option<SockaddrIn>> = Vec::with_capacity(SEND_BATCH * 4);
    // The send iovec array's allocation, kept empty between batches (see `sfu::io::recycle`).
    let mut spare: Vec<[IoSlice<'static>; 1]> = Vec::with_capacity(SEND_BATCH * 4);
    loop {
        received.clear();
        {
            // nix ties these iovecs' lifetime to the headers' borrow, so they cannot be
            // recycled like the send side's: one small allocation per received batch.
            let mut slices: Vec<[IoSliceMut<'_>; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let msgs = recvmmsg(
                fd,
                &mut recv_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            )
            .map_err(std::io::Error::from)?;
            for m in msgs {
                // recvmmsg fills the buffers in order; one without an address stays unused.
                let addr = m
                    .address
                    .map_or(SocketAddrV4::new(0.into(), 0), SocketAddrV4::from);
                received.push((m.bytes, addr));
            }
        }
        out_buf.clear();
        out_addr.clear();
        for (i, &(len, from)) in received.iter().enumerate() {
            let data = &bufs[i][..len];
            if let Some(rest) = data.strip_prefix(b"JOIN ") {
                let room = String::from_utf8_lossy(rest)
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let id = *room_ids.entry(room).or_insert_with(|| {
                    rooms.push(Room::default());
                    rooms.len() - 1
                });
                if member_of.insert(from, id).is_none() {
                    rooms[id].members.push(from);
                }
                continue;
            }
            let Some(&id) = member_of.get(&from) else {
                continue;
            };
            for &to in &rooms[id].members {
                if to != from {
                    out_buf.push(i);
                    out_addr.push(Some(SockaddrIn::from(to)));
                }
            }
        }
        let mut slices: Vec<[IoSlice<'_>; 1]> = recycle(std::mem::take(&mut spare));
        slices.extend(
            out_buf
                .iter()
                .map(|&i| [IoSlice::new(&bufs[i][..received[i].0])]),
        );
        for (chunk, addrs) in slices.chunks(SEND_BATCH).zip(out_addr.chunks(SEND_BATCH)) {
            let mut start = 0;
            while start < chunk.len() {
                match sendmmsg(
                    fd,
                    &mut send_headers,
                    &chunk[start..],
                    &addrs[start..],
                    [],
                    MsgFlags::empty(),
                ) {
                    Ok(sent) => start += sent.count().max(1),
                    // A full socket buffer drops the rest of this batch, as a real server would.
                    Err(_) => break,
                }
            }
        }
        slices.clear();
        spare = recycle(slices);
    }
}

/// Binds the relay's socket (default buffer sizes, as the SFU's).
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(addr)
}
