//! A UDP shim between the SFU and one peer that drops a share of the SFU's RTP to that peer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::UdpSocket;

pub struct LossyProxy {
    /// Where the peer sends (the address put into its descriptions).
    pub addr: SocketAddr,
    pub dropped: Arc<AtomicU64>,
    pub passed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyProxy {
    /// Drops `percent` % of the RTP datagrams from `sfu` to the peer, chosen by a seeded
    /// generator so that runs are comparable. STUN, DTLS and RTCP pass untouched.
    pub async fn start(sfu: SocketAddr, percent: u32) -> LossyProxy {
        let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = front.local_addr().unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        let passed = Arc::new(AtomicU64::new(0));
        let (d, p) = (dropped.clone(), passed.clone());
        let task = tokio::spawn(async move {
            let mut peer: Option<SocketAddr> = None;
            let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
            let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
            loop {
                tokio::select! {
                    r = front.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { continue };
                        peer = Some(from);
                        let _ = back.send_to(&a[..n], sfu).await;
                    }
                    r = back.recv_from(&mut b) => {
                        let Ok((n, _)) = r else { continue };
                        let Some(to) = peer else { continue };
                        let is_rtp = n > 12 && (128..192).contains(&b[0]) && !(192..=223).contains(&b[1]);
                        if is_rtp {
                            // xorshift64: deterministic, uniform enough for a loss pattern.
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            if rng % 100 < percent as u64 {
                                d.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            p.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = front.send_to(&b[..n], to).await;
                    }
                }
            }
        });
        LossyProxy {
            addr,
            dropped,
            passed,
            task,
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
