//! Outgoing datagrams sent in batches with one `sendmmsg` call: at an SFU's fan-out most of
//! the cost of a packet is the system call that sends it, and one call can carry dozens.

use super::recycle;
use crate::core::Transmit;
use bytes::BytesMut;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
use std::io::IoSlice;
use std::os::fd::RawFd;

/// Datagrams per `sendmmsg` call.
pub const BATCH: usize = 64;

/// Datagrams waiting to be sent, and the kernel headers allocated once for them.
pub struct SendBatch {
    items: Vec<Transmit>,
    addrs: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
    /// The iovec array's allocation, kept empty between flushes (see [`super::recycle`]).
    spare: Vec<[IoSlice<'static>; 1]>,
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            items: Vec::with_capacity(BATCH),
            addrs: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
            spare: Vec::with_capacity(BATCH),
        }
    }
}

impl SendBatch {
    /// Queues a datagram; true when the batch is full and should be flushed.
    pub fn push(&mut self, t: Transmit) -> bool {
        self.addrs.push(Some(SockaddrStorage::from(t.to)));
        self.items.push(t);
        self.items.len() >= BATCH
    }

    /// Sends everything queued on `fd`, then hands each datagram's buffer to `reuse`. Returns
    /// how many datagrams could not be sent: a full socket buffer drops the rest of the
    /// batch, as it would drop a single send.
    pub fn flush(&mut self, fd: RawFd, mut reuse: impl FnMut(BytesMut)) -> usize {
        let mut failed = 0;
        let mut slices: Vec<[IoSlice<'_>; 1]> = recycle(std::mem::take(&mut self.spare));
        slices.extend(self.items.iter().map(|t| [IoSlice::new(&t.data)]));
        let mut start = 0;
        while start < slices.len() {
            match sendmmsg(
                fd,
                &mut self.headers,
                &slices[start..],
                &self.addrs[start..],
                [],
                MsgFlags::empty(),
            ) {
                Ok(sent) => start += sent.count().max(1),
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::ENOBUFS) => {
                    failed += slices.len() - start;
                    break;
                }
                Err(_) => {
                    // The first datagram failed on its own (an ICMP error surfacing for its
                    // destination): skip it and go on with the rest.
                    failed += 1;
                    start += 1;
                }
            }
        }
        slices.clear();
        self.spare = recycle(slices);
        for t in self.items.drain(..) {
            reuse(t.data);
        }
        self.addrs.clear();
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn sends_every_queued_datagram_in_order() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::default();
        for i in 0..(BATCH + 3) as u32 {
            let full = batch.push(Transmit {
                to: rx.local_addr().unwrap(),
                protocol: crate::core::Protocol::Udp,
                data: BytesMut::from(&i.to_be_bytes()[..]),
            });
            if full {
                assert_eq!(batch.flush(tx.as_raw_fd(), drop), 0);
            }
        }
        assert_eq!(batch.flush(tx.as_raw_fd(), drop), 0);
        let mut buf = [0u8; 8];
        for i in 0..(BATCH + 3) as u32 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &i.to_be_bytes());
        }
    }
}
