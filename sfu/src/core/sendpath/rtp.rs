//! The RTP header of a forwarded packet, as one subscriber gets it, written straight into the
//! packet's buffer.

use bytes::BufMut;

/// The header fields a subscriber's packet gets: the Forwarder's numbering, the payload type
/// the subscriber negotiated, and the publisher's marker bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutHeader {
    /// The DownTrack's SSRC.
    pub ssrc: u32,
    /// The DownTrack's sequence number for the packet.
    pub seq: u16,
    /// The DownTrack's timestamp for the packet.
    pub timestamp: u32,
    /// The subscriber's payload type for the codec.
    pub payload_type: u8,
    /// The publisher's marker bit (end of a video frame).
    pub marker: bool,
}

/// The one-byte-header extension block that carries a transport-wide sequence number:
/// the 0xBEDE profile, one word of elements (the element, two octets, one octet of padding).
const TWCC_BLOCK_LEN: usize = 8;

/// Length of the header [`write_header`] writes.
pub fn header_len(twcc: Option<(u8, u16)>) -> usize {
    12 + if twcc.is_some() { TWCC_BLOCK_LEN } else { 0 }
}

/// Whether `id` can name an extension in the one-byte form (RFC 8285 §4.2).
pub fn is_one_byte_id(id: u8) -> bool {
    (1..=14).contains(&id)
}

/// Appends the RTP header of `h` to `buf`, with the transport-wide sequence number
/// `twcc = (extension id, number)` when the subscriber negotiated it. Version 2, no padding,
/// no CSRCs. Returns the header's length.
pub fn write_header(buf: &mut impl BufMut, h: &OutHeader, twcc: Option<(u8, u16)>) -> usize {
    let twcc = twcc.filter(|(id, _)| is_one_byte_id(*id));
    let x = if twcc.is_some() { 0x10 } else { 0 };
    buf.put_u8(0x80 | x);
    buf.put_u8(h.payload_type & 0x7f | if h.marker { 0x80 } else { 0 });
    buf.put_u16(h.seq);
    buf.put_u32(h.timestamp);
    buf.put_u32(h.ssrc);
    if let Some((id, number)) = twcc {
        buf.put_u16(0xBEDE);
        buf.put_u16(1);
        // The element's length field is its length minus one: two octets.
        buf.put_u8(id << 4 | 1);
        buf.put_u16(number);
        buf.put_u8(0);
    }
    header_len(twcc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::shared::marshal::Unmarshal;

    fn header() -> OutHeader {
        OutHeader {
            ssrc: 0xDEAD_BEEF,
            seq: 65_535,
            timestamp: 0x0102_0304,
            payload_type: 111,
            marker: true,
        }
    }

    #[test]
    fn rtc_parses_the_header_as_written() {
        let mut buf = Vec::new();
        let n = write_header(&mut buf, &header(), None);
        assert_eq!(n, buf.len());
        buf.extend_from_slice(b"payload");
        let pkt = rtc::rtp::Packet::unmarshal(&mut &buf[..]).unwrap();
        assert_eq!(pkt.header.ssrc, 0xDEAD_BEEF);
        assert_eq!(pkt.header.sequence_number, 65_535);
        assert_eq!(pkt.header.timestamp, 0x0102_0304);
        assert_eq!(pkt.header.payload_type, 111);
        assert!(pkt.header.marker);
        assert!(!pkt.header.extension);
        assert_eq!(&pkt.payload[..], b"payload");
    }

    #[test]
    fn the_transport_wide_number_is_a_one_byte_extension() {
        let mut buf = Vec::new();
        let n = write_header(&mut buf, &header(), Some((3, 0xABCD)));
        assert_eq!(n, 20);
        buf.extend_from_slice(b"x");
        let pkt = rtc::rtp::Packet::unmarshal(&mut &buf[..]).unwrap();
        assert!(pkt.header.extension);
        assert_eq!(pkt.header.extension_profile, 0xBEDE);
        assert_eq!(&pkt.header.get_extension(3).unwrap()[..], &[0xAB, 0xCD]);
        assert_eq!(&pkt.payload[..], b"x");
    }

    #[test]
    fn an_id_beyond_the_one_byte_form_stamps_nothing() {
        let mut buf = Vec::new();
        assert_eq!(write_header(&mut buf, &header(), Some((15, 1))), 12);
        assert_eq!(buf[0], 0x80);
    }
}
