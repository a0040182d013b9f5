//! Outgoing datagrams sent in batches with one `sendmmsg` call: at an SFU's fan-out most of
//! the cost of a packet is the system call that sends it, and one call can carry dozens.

use crate::core::Transmit;
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
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            items: Vec::with_capacity(BATCH),
            addrs: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
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

    /// Sends everything queued on `fd`. Returns how many datagrams could not be sent: a
    /// full socket buffer drops the rest of the batch, as it would drop a single send.
    pub fn flush(&mut self, fd: RawFd) -> usize {
        let mut failed = 0;
        let mut start = 0;
        while start < self.items.len() {
            let slices: Vec<[IoSlice<'_>; 1]> = self.items[start..]
                .iter()
                .map(|t| [IoSlice::new(&t.data)])
                .collect();
            match sendmmsg(
                fd,
                &mut self.headers,
                &slices,
                &self.addrs[start..],
                [],
                MsgFlags::empty(),
            ) {
                Ok(sent) => start += sent.count().max(1),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => {
                    // The first datagram failed (an ICMP error surfacing, a full buffer):
                    // skip it and go on with the rest.
                    failed += 1;
                    start += 1;
                }
            }
        }
        self.items.clear();
        self.addrs.clear();
        failed
    }
}
