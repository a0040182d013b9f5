//! Packet buffers, reused: a forwarded packet is written into a buffer from the pool, and
//! the IO layer hands the buffer back once the datagram is sent, so that steady forwarding
//! allocates nothing.

use bytes::BytesMut;

/// Room for the largest packet the SFU forwards: an MTU-sized datagram.
pub const BUFFER_SIZE: usize = 1536;

/// Buffers kept: enough for a burst of fan-out (a 100-subscriber keyframe), and a bound on
/// what an idle SFU holds (about 1.5 MB).
pub const MAX_POOLED: usize = 1024;

/// Free packet buffers.
#[derive(Default)]
pub struct BufferPool {
    free: Vec<BytesMut>,
}

impl BufferPool {
    /// An empty buffer with room for a packet: a reused one if there is one.
    pub fn take(&mut self) -> BytesMut {
        self.free
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(BUFFER_SIZE))
    }

    /// Gives a buffer back. One that has lost its room (split or frozen elsewhere) is let go.
    pub fn put(&mut self, mut buf: BytesMut) {
        buf.clear();
        if buf.capacity() >= BUFFER_SIZE && self.free.len() < MAX_POOLED {
            self.free.push(buf);
        }
    }

    /// Buffers waiting for reuse.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no buffer waits for reuse.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again() {
        let mut pool = BufferPool::default();
        let mut b = pool.take();
        b.extend_from_slice(b"packet");
        let ptr = b.as_ptr();
        pool.put(b);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
    }

    #[test]
    fn small_buffers_and_a_full_pool_are_let_go() {
        let mut pool = BufferPool::default();
        pool.put(BytesMut::with_capacity(100));
        assert!(pool.is_empty());
        for _ in 0..MAX_POOLED + 5 {
            pool.put(BytesMut::with_capacity(BUFFER_SIZE));
        }
        assert_eq!(pool.len(), MAX_POOLED);
    }
}
