//! Datagrams in: classified by first byte and routed to their session in O(1).

use crate::core::PKey;
use crate::core::demux::{self, PacketKind};
use crate::core::sfu::Sfu;
use bytes::BytesMut;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::debug;

impl Sfu {
    /// Feeds one datagram received on the media socket.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.observe(now);
        self.ingress.datagrams += 1;
        let kind = demux::classify(data);
        let key = match kind {
            PacketKind::Garbage => {
                self.ingress.garbage += 1;
                return;
            }
            PacketKind::Stun => match self.route_stun(from, data) {
                Some(k) => k,
                None => return,
            },
            PacketKind::Dtls | PacketKind::Rtp => match self.by_addr.get(&from) {
                Some(&k) => k,
                None => {
                    self.ingress.unknown_source += 1;
                    return;
                }
            },
        };
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        if kind == PacketKind::Rtp && !is_rtcp(data) && data.len() >= 12 {
            let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
            if !p.remote_ssrcs.is_empty()
                && !p.remote_ssrcs.contains(&ssrc)
                && !p.by_ssrc.contains_key(&ssrc)
            {
                self.ingress.unknown_ssrc += 1;
                return;
            }
        }
        let msg = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.config.local_addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        };
        if let Err(e) = p.pc.handle_read(msg) {
            self.ingress.rejected += 1;
            debug!(participant = %p.id, "rejected datagram: {e}");
        }
        self.drain(key, now);
    }

    /// Routes STUN by the server's ICE username fragment, and binds the sender's address
    /// to the session once the check's MESSAGE-INTEGRITY proves it knows the password.
    fn route_stun(&mut self, from: SocketAddr, data: &[u8]) -> Option<PKey> {
        let Some(info) = demux::parse_stun(data) else {
            self.ingress.bad_stun += 1;
            return None;
        };
        let Some(ufrag) = info.local_ufrag() else {
            // Responses and indications carry no USERNAME: they come from a bound address.
            return match self.by_addr.get(&from) {
                Some(&k) => Some(k),
                None => {
                    self.ingress.bad_stun += 1;
                    None
                }
            };
        };
        let Some(&key) = self.by_ufrag.get(ufrag) else {
            self.ingress.unknown_ufrag += 1;
            return None;
        };
        let p = self.participants.get_mut(&key)?;
        if !demux::check_integrity(data, &info, &p.ice_pwd) {
            self.ingress.bad_credentials += 1;
            return None;
        }
        match self.by_addr.get(&from) {
            Some(&owner) if owner == key => {}
            Some(&owner) => {
                // The address moved to another session (a client reconnected): rebind it.
                if let Some(old) = self.participants.get_mut(&owner) {
                    old.addrs.retain(|a| *a != from);
                }
                self.bind(key, from);
            }
            None => self.bind(key, from),
        }
        Some(key)
    }

    fn bind(&mut self, key: PKey, from: SocketAddr) {
        if let Some(p) = self.participants.get_mut(&key) {
            if let Some(evicted) = p.bind_addr(from) {
                self.by_addr.remove(&evicted);
            }
            self.by_addr.insert(from, key);
        }
    }
}

/// RTCP packet types 192–223 share the first-byte range with RTP (RFC 5761).
fn is_rtcp(data: &[u8]) -> bool {
    data.get(1).is_some_and(|b| (192..=223).contains(b))
}
