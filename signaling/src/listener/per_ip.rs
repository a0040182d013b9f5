//! Open connections per client address, so that one client cannot hold them all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per client address.
#[derive(Clone, Default)]
pub(super) struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PerIp {
    /// A slot for one more connection from `ip`, or `None` when it holds `max` already.
    pub(super) fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let ip = ip.to_canonical();
        // A poisoned map is still a map of counts (nothing panics while it is held anyway).
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_default();
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One counted connection; its drop gives the slot back.
pub(super) struct Slot {
    counts: PerIp,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // A poisoned map is still a map of counts: carry on with it rather than panic here.
        let mut map = self
            .counts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_per_address_and_slots_come_back() {
        let counts = PerIp::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..3).filter_map(|_| counts.take(a, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(
            counts.take(a, 3).is_none(),
            "a fourth from the same address"
        );
        // The same address written as IPv4-mapped IPv6 is the same client.
        assert!(counts.take("::ffff:10.0.0.1".parse().unwrap(), 3).is_none());
        assert!(
            counts.take(b, 3).is_some(),
            "another address is not affected"
        );
        drop(held);
        assert!(counts.take(a, 3).is_some());
        assert!(
            counts.0.lock().unwrap().len() <= 1,
            "empty entries are dropped"
        );
        assert!(counts.take(a, 0).is_some(), "0 means no cap");
    }
}
