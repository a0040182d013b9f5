//! Routing a datagram of the shared media socket to its session, without parsing it fully.
//!
//! RFC 7983 tells the protocols apart by the first byte. STUN carries the server's ICE
//! username fragment, which names the session; everything else is routed by the remote
//! address that a verified STUN check bound to that session.

use ring::hmac;

/// What a datagram looks like from its first byte (RFC 7983).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// STUN: ICE connectivity checks.
    Stun,
    /// DTLS records: the handshake and alerts.
    Dtls,
    /// RTP or RTCP, encrypted with SRTP.
    Rtp,
    /// Anything else.
    Garbage,
}

/// Classifies a datagram by its first byte.
pub fn classify(data: &[u8]) -> PacketKind {
    match data.first() {
        Some(0..=3) => PacketKind::Stun,
        Some(20..=63) => PacketKind::Dtls,
        Some(128..=191) => PacketKind::Rtp,
        _ => PacketKind::Garbage,
    }
}

/// Whether an RTP-range datagram is RTCP: packet types 192–223 share the first-byte range
/// with RTP (RFC 5761).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.get(1).is_some_and(|b| (192..=223).contains(b))
}

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const HEADER_LEN: usize = 20;
const MI_LEN: usize = 20;

/// A STUN message's USERNAME and where its MESSAGE-INTEGRITY sits, found without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunInfo<'a> {
    /// The USERNAME attribute: `server_ufrag:client_ufrag` on checks sent to us.
    pub username: Option<&'a [u8]>,
    /// Offset of the MESSAGE-INTEGRITY attribute header, if present.
    pub integrity_at: Option<usize>,
}

impl<'a> StunInfo<'a> {
    /// The server's part of the username: the fragment that names our session.
    pub fn local_ufrag(&self) -> Option<&'a str> {
        let u = self.username?;
        let end = u.iter().position(|&b| b == b':').unwrap_or(u.len());
        std::str::from_utf8(&u[..end]).ok()
    }
}

/// Parses the STUN header and walks the attributes. `None` when the message is malformed.
pub fn parse_stun(data: &[u8]) -> Option<StunInfo<'_>> {
    if data.len() < HEADER_LEN || data[0] & 0xc0 != 0 || data[4..8] != MAGIC_COOKIE {
        return None;
    }
    let len = u16::from_be_bytes([data[2], data[3]]) as usize;
    if !len.is_multiple_of(4) || HEADER_LEN + len != data.len() {
        return None;
    }
    let mut info = StunInfo {
        username: None,
        integrity_at: None,
    };
    let mut i = HEADER_LEN;
    while i + 4 <= data.len() {
        let typ = u16::from_be_bytes([data[i], data[i + 1]]);
        let alen = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        let body = data.get(i + 4..i + 4 + alen)?;
        match typ {
            ATTR_USERNAME if info.integrity_at.is_none() => info.username = Some(body),
            ATTR_MESSAGE_INTEGRITY if info.integrity_at.is_none() => {
                if alen != MI_LEN {
                    return None;
                }
                info.integrity_at = Some(i);
            }
            _ => {}
        }
        i += 4 + alen.div_ceil(4) * 4;
    }
    (i == data.len()).then_some(info)
}

/// Checks the short-term MESSAGE-INTEGRITY (RFC 5389 §15.4) against the session's password.
pub fn check_integrity(data: &[u8], info: &StunInfo<'_>, password: &str) -> bool {
    let Some(at) = info.integrity_at else {
        return false;
    };
    // The length field covers the message up to and including MESSAGE-INTEGRITY.
    let covered_len = (at - HEADER_LEN + 4 + MI_LEN) as u16;
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&data[..HEADER_LEN]);
    header[2..4].copy_from_slice(&covered_len.to_be_bytes());
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&header);
    ctx.update(&data[HEADER_LEN..at]);
    let tag = ctx.sign();
    let expected = &data[at + 4..at + 4 + MI_LEN];
    constant_time_eq(tag.as_ref(), expected)
}

/// Compares two tags without leaking, through timing, where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a binding request with USERNAME and MESSAGE-INTEGRITY, as a browser sends it.
    pub(crate) fn binding_request(username: &str, password: &str) -> Vec<u8> {
        let mut m = vec![0x00, 0x01, 0, 0];
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7u8; 12]);
        m.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        m.extend_from_slice(&(username.len() as u16).to_be_bytes());
        m.extend_from_slice(username.as_bytes());
        while m.len() % 4 != 0 {
            m.push(0);
        }
        let mi_at = m.len();
        let len = (mi_at - HEADER_LEN + 24) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
        let tag = hmac::sign(&key, &m);
        m.extend_from_slice(&ATTR_MESSAGE_INTEGRITY.to_be_bytes());
        m.extend_from_slice(&(MI_LEN as u16).to_be_bytes());
        m.extend_from_slice(tag.as_ref());
        m
    }

    #[test]
    fn classifies_by_first_byte() {
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[22]), PacketKind::Dtls);
        assert_eq!(classify(&[0x80]), PacketKind::Rtp);
        assert_eq!(classify(&[0xff]), PacketKind::Garbage);
        assert_eq!(classify(&[]), PacketKind::Garbage);
    }

    #[test]
    fn finds_the_local_ufrag_and_checks_integrity() {
        let m = binding_request("srvfrag:cli", "secretpassword");
        let info = parse_stun(&m).expect("valid stun");
        assert_eq!(info.local_ufrag(), Some("srvfrag"));
        assert!(check_integrity(&m, &info, "secretpassword"));
        assert!(!check_integrity(&m, &info, "wrongpassword"));
    }

    #[test]
    fn tampered_message_fails_integrity() {
        let mut m = binding_request("srvfrag:cli", "pw");
        m[10] ^= 1;
        let info = parse_stun(&m).expect("still well-formed");
        assert!(!check_integrity(&m, &info, "pw"));
    }

    #[test]
    fn malformed_stun_is_rejected_without_panicking() {
        let good = binding_request("a:b", "pw");
        for cut in 0..good.len() {
            let _ = parse_stun(&good[..cut]);
        }
        assert!(parse_stun(&good[..good.len() - 1]).is_none());
        let mut bad_len = good.clone();
        bad_len[3] = bad_len[3].wrapping_add(4);
        assert!(parse_stun(&bad_len).is_none());
        let mut bad_attr = good.clone();
        bad_attr[23] = 0xff; // USERNAME length runs past the end
        assert!(parse_stun(&bad_attr).is_none());
        assert!(parse_stun(&[0u8; 20]).is_none()); // no magic cookie
    }
}
