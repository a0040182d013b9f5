//! Datagrams in: classified by their first byte and routed to their session in O(1).

use super::Sfu;
use crate::core::api::{Protocol, Remote};
use crate::core::demux::{self, PacketKind};
use crate::core::ids::SessionId;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::debug;

impl Sfu {
    /// Feeds one datagram received on the media socket.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.handle_packet(now, Remote::udp(from), data);
    }

    /// Feeds one datagram: from the media socket, or one frame of an ICE-TCP connection.
    /// Returns whether it reached a session: a check with its credentials, or anything
    /// from an address such a check bound. (An ICE-TCP connection that sends nothing else
    /// is closed.)
    pub fn handle_packet(&mut self, now: Instant, from: Remote, data: &[u8]) -> bool {
        // The address the client sent to, as ICE knows it: the announced one, which differs
        // from the bound one behind NAT or on a wildcard bind.
        let local = match from.protocol {
            Protocol::Udp => self.config.announce_addr,
            Protocol::Tcp => match self.config.tcp_addr {
                Some(a) => a,
                None => {
                    self.ingress.garbage += 1;
                    return false;
                }
            },
        };
        self.observe(now);
        self.ingress.datagrams += 1;
        let kind = demux::classify(data);
        let id = match kind {
            PacketKind::Garbage => {
                self.ingress.garbage += 1;
                return false;
            }
            PacketKind::Stun => match self.route_stun(from, data) {
                Some(id) => id,
                None => return false,
            },
            PacketKind::Dtls | PacketKind::Rtp => match self.routes.by_addr(from) {
                Some(id) => id,
                None => {
                    self.ingress.unknown_source += 1;
                    return false;
                }
            },
        };
        let Some(s) = self.sessions.get_mut(id) else {
            return false;
        };
        if kind == PacketKind::Rtp && !demux::is_rtcp(data) && data.len() >= 12 {
            let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
            if !s.expects_ssrc(ssrc) {
                self.ingress.unknown_ssrc += 1;
                return true;
            }
        }
        if let Err(e) = s.handle_datagram(now, local, from, data) {
            self.ingress.rejected += 1;
            debug!(participant = %s.participant, "rejected datagram: {e}");
        }
        self.sessions.mark(id);
        if kind == PacketKind::Stun {
            self.refresh_destination(id);
        }
        self.run(now);
        true
    }

    /// Routes STUN by the server's ICE username fragment, and binds the sender's address
    /// to the session once the check's MESSAGE-INTEGRITY proves it knows the password.
    fn route_stun(&mut self, from: Remote, data: &[u8]) -> Option<SessionId> {
        let Some(info) = demux::parse_stun(data) else {
            self.ingress.bad_stun += 1;
            return None;
        };
        let Some(ufrag) = info.local_ufrag() else {
            // Responses and indications carry no USERNAME: they come from a bound address.
            let routed = self.routes.by_addr(from);
            if routed.is_none() {
                self.ingress.bad_stun += 1;
            }
            return routed;
        };
        let Some(id) = self.routes.by_ufrag(ufrag) else {
            self.ingress.unknown_ufrag += 1;
            return None;
        };
        let password = self.sessions.get(id)?.ice_password();
        if !demux::check_integrity(data, &info, password) {
            self.ingress.bad_credentials += 1;
            return None;
        }
        self.routes.bind(id, from);
        Some(id)
    }
}
