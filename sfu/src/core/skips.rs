//! Packets dropped from the middle of a stream, with the gaps they leave closed.
//!
//! The SFU does not forward some packets of a stream it forwards: padding-only packets, which
//! a publisher sends to probe its own uplink. If the subscriber saw their sequence numbers go
//! missing, it would ask for them again (NACK) and the SFU would re-send what it meant to
//! drop. So every later packet's outgoing sequence number is lowered by the drops before it
//! (as mediasoup's `SeqManager` does), and a late, reordered packet still gets the number it
//! would have had in order. Pure and allocation-free: a fixed array of recent drops.

use crate::core::seq::seq_newer;

/// Drops remembered one by one; older ones are folded into a plain count.
const CAP: usize = 64;

/// The drops of one source, since the subscriber started receiving it.
#[derive(Debug, Clone)]
pub struct Skips {
    /// Dropped sequence numbers, oldest first, each within `WINDOW` of the newest packet.
    seqs: [u16; CAP],
    len: usize,
    /// Drops older than anything that may still be forwarded: they lower every number.
    folded: u16,
    /// The newest drop folded before it fell out of the window (the array was full): a
    /// packet older than it would be numbered wrongly, so it is stale.
    floor: Option<u16>,
}

impl Default for Skips {
    fn default() -> Self {
        Skips {
            seqs: [0; CAP],
            len: 0,
            folded: 0,
            floor: None,
        }
    }
}

impl Skips {
    /// How far behind the newest packet a late one may be and still be forwarded: drops
    /// further behind are folded into a count, which only packets after them may share.
    pub const WINDOW: u16 = 1024;

    /// Whether `seq` may not be forwarded: it was itself dropped (a copy arriving late), or
    /// it is older than a drop folded early.
    pub fn is_stale(&self, seq: u16) -> bool {
        self.seqs[..self.len].contains(&seq) || self.floor.is_some_and(|f| !seq_newer(seq, f))
    }

    /// Records the drop of `seq`, newer than every packet of the source so far.
    pub fn skip(&mut self, seq: u16) {
        self.advance(seq);
        if self.len == CAP {
            self.floor = Some(self.seqs[0]);
            self.folded = self.folded.wrapping_add(1);
            self.remove_oldest();
        }
        self.seqs[self.len] = seq;
        self.len += 1;
    }

    /// Notes that the newest packet is now `newest`, folding drops left far behind it.
    pub fn advance(&mut self, newest: u16) {
        while self.len > 0 && newest.wrapping_sub(self.seqs[0]) >= Self::WINDOW {
            self.folded = self.folded.wrapping_add(1);
            self.remove_oldest();
        }
        if self
            .floor
            .is_some_and(|f| newest.wrapping_sub(f) >= Self::WINDOW)
        {
            // Packets that far back are stale anyway.
            self.floor = None;
        }
    }

    /// How much lower than its own the outgoing number of packet `seq` is: the drops before it.
    pub fn before(&self, seq: u16) -> u16 {
        let recent = self.seqs[..self.len]
            .iter()
            .filter(|&&d| seq_newer(seq, d))
            .count();
        // At most CAP: it fits.
        self.folded.wrapping_add(recent as u16)
    }

    /// The packet whose number, lowered by the drops before it, is `lowered`: the inverse of
    /// `seq - before(seq)`, for mapping a NACKed number back to the source's.
    pub fn raise(&self, lowered: u16) -> u16 {
        let mut seq = lowered.wrapping_add(self.folded);
        for &d in &self.seqs[..self.len] {
            if !seq_newer(d, seq) {
                seq = seq.wrapping_add(1);
            }
        }
        seq
    }

    fn remove_oldest(&mut self) {
        self.seqs.copy_within(1..self.len, 0);
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_close_over_drops_and_map_back() {
        let mut s = Skips::default();
        // 10 and 11 are dropped; 12 follows.
        s.skip(10);
        s.skip(11);
        assert_eq!(s.before(9), 0);
        assert_eq!(s.before(12), 2);
        assert_eq!(12u16.wrapping_sub(s.before(12)), 10, "12 takes 10's place");
        // Every kept packet maps back from its lowered number.
        for seq in [5u16, 9, 12, 13, 40] {
            assert_eq!(s.raise(seq.wrapping_sub(s.before(seq))), seq);
        }
    }

    #[test]
    fn a_late_packet_keeps_the_number_it_would_have_had() {
        let mut s = Skips::default();
        // 101 is late (lost, then retransmitted); 102 was padding and dropped.
        s.skip(102);
        let out = |seq: u16| seq.wrapping_sub(s.before(seq));
        assert_eq!([out(100), out(101), out(103)], [100, 101, 102]);
    }

    #[test]
    fn old_drops_fold_into_a_count_and_numbers_wrap() {
        let mut s = Skips::default();
        s.skip(65_534);
        s.skip(65_535);
        s.skip(3);
        assert_eq!(s.before(4), 3);
        s.advance(3 + Skips::WINDOW);
        assert_eq!(s.len, 0, "all folded");
        assert_eq!(s.before(3 + Skips::WINDOW), 3);
        assert_eq!(s.raise(Skips::WINDOW), 3 + Skips::WINDOW);
        assert!(!s.is_stale(3 + Skips::WINDOW));
        // More drops than the array holds fold the oldest.
        for k in 0..(CAP as u16 + 10) {
            s.skip(2000 + 2 * k);
        }
        let seq = 2000 + 2 * (CAP as u16 + 10);
        assert_eq!(s.before(seq), 3 + CAP as u16 + 10);
        assert_eq!(s.raise(seq.wrapping_sub(s.before(seq))), seq);
        // Packets older than a drop folded early would share numbers: they are stale.
        assert!(s.is_stale(2000 + 2 * 9));
        assert!(!s.is_stale(2000 + 2 * 10 + 1));
    }

    #[test]
    fn a_copy_of_a_dropped_packet_is_stale() {
        let mut s = Skips::default();
        s.skip(7);
        assert!(s.is_stale(7));
        assert!(!s.is_stale(6) && !s.is_stale(8));
    }
}
