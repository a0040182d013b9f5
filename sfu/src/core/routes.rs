//! Routes: how a datagram, or a command from signaling, finds its session. Connectivity checks
//! name the session by the server's ICE username fragment; everything else comes from an
//! address that a verified check bound to the session; signaling names the participant.
//! Every entry of a session goes when it does, and an address belongs to one session.

use crate::core::api::Remote;
use crate::core::ids::{ParticipantId, SessionId};
use std::collections::HashMap;

/// How many remote addresses one session may bind (ICE may try several candidates).
const MAX_ADDRS: usize = 8;

/// What a session is known by.
struct Known {
    ufrag: String,
    participant: ParticipantId,
    /// Remote addresses verified by a STUN check with the session's credentials, oldest first.
    addrs: Vec<Remote>,
}

/// The routing tables of one SFU.
#[derive(Default)]
pub(crate) struct Routes {
    sessions: HashMap<SessionId, Known>,
    by_participant: HashMap<ParticipantId, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
    by_addr: HashMap<Remote, SessionId>,
}

/// Sizes of the routing tables.
pub(crate) struct RouteSizes {
    pub(crate) ufrags: usize,
    pub(crate) addresses: usize,
}

impl Routes {
    /// Routes to a new session. False, changing nothing, if the participant has one already.
    pub(crate) fn add(&mut self, id: SessionId, participant: ParticipantId, ufrag: String) -> bool {
        if self.by_participant.contains_key(&participant) {
            return false;
        }
        self.by_participant.insert(participant.clone(), id);
        self.by_ufrag.insert(ufrag.clone(), id);
        self.sessions.insert(
            id,
            Known {
                ufrag,
                participant,
                addrs: Vec::new(),
            },
        );
        true
    }

    /// Forgets every route to a session.
    pub(crate) fn remove(&mut self, id: SessionId) {
        if let Some(known) = self.sessions.remove(&id) {
            self.by_participant.remove(&known.participant);
            self.by_ufrag.remove(&known.ufrag);
            for addr in known.addrs {
                self.by_addr.remove(&addr);
            }
        }
    }

    /// The participant's session.
    pub(crate) fn by_participant(&self, participant: &ParticipantId) -> Option<SessionId> {
        self.by_participant.get(participant).copied()
    }

    /// The session the server's ICE username fragment names.
    pub(crate) fn by_ufrag(&self, ufrag: &str) -> Option<SessionId> {
        self.by_ufrag.get(ufrag).copied()
    }

    /// The session a verified check bound this address to.
    pub(crate) fn by_addr(&self, addr: Remote) -> Option<SessionId> {
        self.by_addr.get(&addr).copied()
    }

    /// Binds a verified address to a session: taken from another session if it had it (a
    /// client reconnected), and the session's oldest dropped past the limit.
    pub(crate) fn bind(&mut self, id: SessionId, addr: Remote) {
        match self.by_addr.get(&addr) {
            Some(&owner) if owner == id => return,
            Some(&owner) => {
                if let Some(old) = self.sessions.get_mut(&owner) {
                    old.addrs.retain(|a| *a != addr);
                }
            }
            None => {}
        }
        let Some(known) = self.sessions.get_mut(&id) else {
            return;
        };
        known.addrs.push(addr);
        self.by_addr.insert(addr, id);
        if known.addrs.len() > MAX_ADDRS {
            let evicted = known.addrs.remove(0);
            self.by_addr.remove(&evicted);
        }
    }

    pub(crate) fn sizes(&self) -> RouteSizes {
        RouteSizes {
            ufrags: self.by_ufrag.len(),
            addresses: self.by_addr.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Remote {
        Remote::udp(std::net::SocketAddr::from(([10, 0, 0, 1], port)))
    }

    #[test]
    fn routes_go_with_their_session_and_addresses_move() {
        let mut r = Routes::default();
        let (a, b) = (SessionId(1), SessionId(2));
        assert!(r.add(a, "ada".into(), "ua".into()));
        assert!(
            !r.add(SessionId(9), "ada".into(), "ux".into()),
            "one per participant"
        );
        assert!(r.add(b, "bob".into(), "ub".into()));
        r.bind(a, addr(1));
        assert_eq!(r.by_addr(addr(1)), Some(a));
        // The address moves to bob (a reconnect): ada no longer has it.
        r.bind(b, addr(1));
        assert_eq!(r.by_addr(addr(1)), Some(b));
        r.remove(a);
        assert_eq!(r.by_addr(addr(1)), Some(b), "not ada's any more");
        // A session binds at most MAX_ADDRS; the oldest goes.
        for p in 2..(2 + MAX_ADDRS as u16 + 1) {
            r.bind(b, addr(p));
        }
        assert_eq!(r.by_addr(addr(1)), None);
        assert_eq!(r.sizes().addresses, MAX_ADDRS);
        r.remove(b);
        let s = r.sizes();
        assert_eq!((s.ufrags, s.addresses), (0, 0));
        assert_eq!(r.by_participant(&"bob".into()), None);
        assert_eq!(r.by_ufrag("ub"), None);
    }

    #[test]
    fn the_same_address_over_udp_and_tcp_is_two_routes() {
        let mut r = Routes::default();
        let (a, b) = (SessionId(1), SessionId(2));
        r.add(a, "ada".into(), "ua".into());
        r.add(b, "bob".into(), "ub".into());
        let udp = addr(5000);
        let tcp = Remote {
            protocol: crate::core::api::Protocol::Tcp,
            addr: udp.addr,
        };
        r.bind(a, udp);
        r.bind(b, tcp);
        assert_eq!(r.by_addr(udp), Some(a));
        assert_eq!(r.by_addr(tcp), Some(b));
    }
}
