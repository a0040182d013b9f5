//! VP8's picture numbering across a simulcast switch. Each layer numbers its pictures on its
//! own (the picture id, and the `TL0PICIDX` of its base temporal layer, RFC 7741 §4.2). A
//! subscriber moved from one layer to another must see both carry on from where the last
//! one stopped, or its decoder reads the jump as lost pictures. Pure: the numbers in, the
//! numbers out; the send path writes them into each subscriber's copy of the payload.

/// Where a VP8 payload descriptor keeps its picture numbers, and what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Numbers {
    /// The picture id, its offset in the payload, and whether it has 15 bits (else 7).
    pub picture_id: Option<(u16, usize, bool)>,
    /// `TL0PICIDX` and its offset.
    pub tl0picidx: Option<(u8, usize)>,
}

impl Vp8Numbers {
    /// Reads the descriptor at the start of `p`; `None` if it numbers nothing.
    pub fn parse(p: &[u8]) -> Option<Vp8Numbers> {
        let &b0 = p.first()?;
        if b0 & 0x80 == 0 {
            return None;
        }
        let &x = p.get(1)?;
        let mut i = 2;
        let mut numbers = Vp8Numbers {
            picture_id: None,
            tl0picidx: None,
        };
        if x & 0x80 != 0 {
            let &m = p.get(i)?;
            if m & 0x80 != 0 {
                let &low = p.get(i + 1)?;
                let id = u16::from_be_bytes([m & 0x7f, low]);
                numbers.picture_id = Some((id, i, true));
                i += 2;
            } else {
                numbers.picture_id = Some((u16::from(m), i, false));
                i += 1;
            }
        }
        if x & 0x40 != 0 {
            numbers.tl0picidx = Some((*p.get(i)?, i));
        }
        (numbers.picture_id.is_some() || numbers.tl0picidx.is_some()).then_some(numbers)
    }
}

/// The numbers to write into one subscriber's copy of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Rewrite {
    /// Where the numbers are, as read.
    pub at: Vp8Numbers,
    /// The subscriber's picture id.
    pub picture_id: u16,
    /// The subscriber's `TL0PICIDX`.
    pub tl0picidx: u8,
}

impl Vp8Rewrite {
    /// Writes the numbers into `payload`, a copy of the one they were read from.
    pub fn apply(&self, payload: &mut [u8]) {
        if let Some((_, i, long)) = self.at.picture_id {
            if long && i + 1 < payload.len() {
                let [hi, lo] = (self.picture_id & 0x7fff).to_be_bytes();
                payload[i] = 0x80 | hi;
                payload[i + 1] = lo;
            } else if let Some(b) = payload.get_mut(i) {
                *b = (self.picture_id & 0x7f) as u8;
            }
        }
        if let Some((_, i)) = self.at.tl0picidx
            && let Some(b) = payload.get_mut(i)
        {
            *b = self.tl0picidx;
        }
    }
}

/// One subscriber's picture numbering of a VP8 track.
#[derive(Debug, Default, Clone)]
pub struct Vp8Munger {
    source: Option<u32>,
    picture_offset: u16,
    tl0_offset: u8,
    last: Option<(u16, u8)>,
}

impl Vp8Munger {
    /// The numbers for a packet of `ssrc` that is forwarded, with the descriptor `n`. A
    /// packet of another source than the last (a switch, on a keyframe) is numbered on
    /// from the last one sent.
    pub fn handle_packet(&mut self, ssrc: u32, n: Vp8Numbers) -> Vp8Rewrite {
        let pid = n.picture_id.map_or(0, |p| p.0);
        let tl0 = n.tl0picidx.map_or(0, |t| t.0);
        if self.source != Some(ssrc) {
            if let Some((last_pid, last_tl0)) = self.last {
                self.picture_offset = last_pid.wrapping_add(1).wrapping_sub(pid);
                self.tl0_offset = last_tl0.wrapping_add(1).wrapping_sub(tl0);
            }
            self.source = Some(ssrc);
        }
        let rw = self.rewrite(n);
        let newer = self
            .last
            .is_none_or(|(l, _)| (rw.picture_id.wrapping_sub(l) & 0x7fff) < 0x4000);
        if newer {
            self.last = Some((rw.picture_id, rw.tl0picidx));
        }
        rw
    }

    /// The numbers for a packet of the current source sent again (a retransmission).
    pub fn rewrite(&self, n: Vp8Numbers) -> Vp8Rewrite {
        let pid = n.picture_id.map_or(0, |p| p.0);
        let tl0 = n.tl0picidx.map_or(0, |t| t.0);
        Vp8Rewrite {
            at: n,
            picture_id: pid.wrapping_add(self.picture_offset) & 0x7fff,
            tl0picidx: tl0.wrapping_add(self.tl0_offset),
        }
    }

    /// The track behind the subscription changed: nothing carries over but the numbering.
    pub fn reassign(&mut self) {
        self.source = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor with a 15-bit picture id and a TL0PICIDX, then the frame.
    fn payload(pid: u16, tl0: u8) -> Vec<u8> {
        let [hi, lo] = pid.to_be_bytes();
        vec![0x90, 0xc0, 0x80 | hi, lo, tl0, 0x00, 0x9d, 0x01, 0x2a]
    }

    #[test]
    fn the_descriptor_is_read_in_both_picture_id_widths() {
        let n = Vp8Numbers::parse(&payload(0x1234, 7)).unwrap();
        assert_eq!(n.picture_id, Some((0x1234, 2, true)));
        assert_eq!(n.tl0picidx, Some((7, 4)));
        let short = [0x90, 0x80, 0x55, 0x00];
        assert_eq!(
            Vp8Numbers::parse(&short).unwrap().picture_id,
            Some((0x55, 2, false))
        );
        assert_eq!(Vp8Numbers::parse(&[0x10, 0x00]), None, "no extension");
        assert_eq!(Vp8Numbers::parse(&[0x90, 0x80]), None, "truncated");
    }

    #[test]
    fn a_switch_numbers_on_from_the_last_picture_sent() {
        let mut m = Vp8Munger::default();
        let mut sent = Vec::new();
        // Layer A's pictures 100..=102, then a switch to layer B at its picture 9000.
        for (ssrc, pid, tl0) in [
            (1, 100, 50),
            (1, 101, 51),
            (1, 102, 52),
            (2, 9000, 3),
            (2, 9001, 4),
        ] {
            let mut p = payload(pid, tl0);
            let rw = m.handle_packet(ssrc, Vp8Numbers::parse(&p).unwrap());
            rw.apply(&mut p);
            let n = Vp8Numbers::parse(&p).unwrap();
            sent.push((n.picture_id.unwrap().0, n.tl0picidx.unwrap().0));
        }
        assert_eq!(
            sent,
            [(100, 50), (101, 51), (102, 52), (103, 53), (104, 54)]
        );
        // A retransmission of B's first picture gets the number it was sent with.
        let rw = m.rewrite(Vp8Numbers::parse(&payload(9000, 3)).unwrap());
        assert_eq!((rw.picture_id, rw.tl0picidx), (103, 53));
    }

    #[test]
    fn numbers_wrap_in_their_own_width() {
        let mut m = Vp8Munger::default();
        m.handle_packet(1, Vp8Numbers::parse(&payload(0x7fff, 255)).unwrap());
        let rw = m.handle_packet(2, Vp8Numbers::parse(&payload(5, 9)).unwrap());
        assert_eq!((rw.picture_id, rw.tl0picidx), (0, 0));
        let mut short = [0x90, 0x80, 0x7f, 0x00];
        let rw = Vp8Rewrite {
            at: Vp8Numbers::parse(&short).unwrap(),
            picture_id: 0x0180,
            tl0picidx: 0,
        };
        rw.apply(&mut short);
        assert_eq!(short[2], 0x00, "7 bits");
    }
}
