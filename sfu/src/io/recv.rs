//! Incoming datagrams read in batches with one `recvmmsg` call: a worker woken for a few
//! datagrams reads them all, and learns that the socket is drained, in one system call
//! instead of one per datagram plus one that finds nothing.

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use std::io::IoSliceMut;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per `recvmmsg` call.
pub const BATCH: usize = 32;
/// Room for one datagram: more than any MTU on the paths media takes.
const DATAGRAM: usize = 2048;

/// The buffers and kernel headers of one batch, allocated once.
pub struct RecvBatch {
    bufs: Box<[[u8; DATAGRAM]; BATCH]>,
    headers: MultiHeaders<SockaddrStorage>,
    got: Vec<(SocketAddr, usize)>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: Box::new([[0; DATAGRAM]; BATCH]),
            headers: MultiHeaders::preallocate(BATCH, None),
            got: Vec::with_capacity(BATCH),
        }
    }
}

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A whole batch: more may wait.
    Full,
    /// An error for one datagram (an ICMP error surfacing): more may wait.
    Some,
    /// Fewer than a batch, or nothing: the socket is drained.
    Drained,
}

impl RecvBatch {
    /// Reads what waits on the non-blocking `fd`, up to a batch, handing each datagram and
    /// its source to `each`.
    pub fn read(&mut self, fd: RawFd, mut each: impl FnMut(SocketAddr, &[u8])) -> Read {
        // On the stack, so that nothing is allocated per read; its borrows of the buffers end
        // with the call.
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            self.bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
        let outcome = match recvmmsg(
            fd,
            &mut self.headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(results) => {
                for r in results {
                    if let Some(from) = r.address.as_ref().and_then(socket_addr) {
                        self.got.push((from, r.bytes));
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        let n = self.got.len();
        for (i, (from, len)) in self.got.drain(..).enumerate() {
            each(from, &self.bufs[i][..len.min(DATAGRAM)]);
        }
        match outcome {
            Err(Errno::EAGAIN) => Read::Drained,
            Err(_) => Read::Some,
            Ok(()) if n >= BATCH => Read::Full,
            // Fewer than asked for: the queue was empty. A datagram arriving after this
            // wakes the (edge-triggered) poll again.
            Ok(()) => Read::Drained,
        }
    }
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn reads_waiting_datagrams_in_order_then_says_drained() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::default();
        assert_eq!(
            batch.read(rx.as_raw_fd(), |_, _| panic!("nothing sent")),
            Read::Drained
        );
        let total = BATCH as u32 + 5;
        for i in 0..total {
            tx.send_to(&i.to_be_bytes(), rx.local_addr().unwrap())
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut reads = Vec::new();
        loop {
            let r = batch.read(rx.as_raw_fd(), |from, data| {
                assert_eq!(from, tx.local_addr().unwrap());
                seen.push(u32::from_be_bytes(data.try_into().unwrap()));
            });
            reads.push(r);
            if r == Read::Drained {
                break;
            }
        }
        assert_eq!(seen, (0..total).collect::<Vec<_>>());
        assert_eq!(reads[0], Read::Full);
    }
}
