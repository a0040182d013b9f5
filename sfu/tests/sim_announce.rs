//! An SFU behind NAT (or bound to a wildcard address) announces an address other than the
//! one its socket is bound to: clients' checks arrive for the announced one, and must
//! connect all the same.

use sfu::testkit::sim::Sim;
use sfu::testkit::{PeerOptions, everyone_receives};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn peers_connect_to_an_announced_address_that_is_not_the_bound_one() {
    let public = SocketAddr::from(([203, 0, 113, 7], 40000));
    let mut sim = Sim::with_config(1, |c| c.announce_addr = public);
    assert_ne!(sim.sfu.config().local_addr, public);
    for (i, name) in ["ada", "bob", "cat"].iter().enumerate() {
        sim.join("room", name, i as u8 + 1, PeerOptions::default());
    }
    let all = |s: &Sim| {
        let peers: Vec<_> = (0..3).map(|i| s.peer(i)).collect();
        everyone_receives(&peers, 50)
    };
    assert!(
        sim.run_until(Duration::from_secs(10), all),
        "media flows through the announced address"
    );
}
