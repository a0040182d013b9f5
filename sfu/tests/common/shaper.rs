//! A UDP shim between the SFU and one peer that limits what the SFU sends the peer to a rate,
//! as a narrow downlink does: what exceeds it waits in a queue, and what would wait longer
//! than the queue allows is dropped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

pub struct Shaper {
    /// Where the peer sends (the address put into its descriptions).
    pub addr: SocketAddr,
    dropped: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// The longest a datagram waits in the shaper's queue.
const QUEUE: Duration = Duration::from_millis(200);

impl Shaper {
    /// Carries at most `bps` (IP and UDP headers included) from `sfu` to the peer.
    pub async fn start(sfu: SocketAddr, bps: u64) -> Shaper {
        let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = front.local_addr().unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        let d = dropped.clone();
        let task = tokio::spawn(async move {
            let mut peer: Option<SocketAddr> = None;
            let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
            let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
            let mut busy_until = Instant::now();
            loop {
                let due = queue.front().map(|(at, _)| *at);
                tokio::select! {
                    r = front.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { continue };
                        peer = Some(from);
                        let _ = back.send_to(&a[..n], sfu).await;
                    }
                    r = back.recv_from(&mut b) => {
                        let Ok((n, _)) = r else { continue };
                        let now = Instant::now();
                        let start = busy_until.max(now);
                        if start - now > QUEUE {
                            d.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let bits = (n as u64 + 28) * 8;
                        busy_until = start + Duration::from_secs_f64(bits as f64 / bps as f64);
                        queue.push_back((busy_until, b[..n].to_vec()));
                    }
                    _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                        let now = Instant::now();
                        while let Some((at, data)) = queue.front() {
                            if *at > now {
                                break;
                            }
                            if let Some(to) = peer {
                                let _ = front.send_to(data, to).await;
                            }
                            queue.pop_front();
                        }
                    }
                }
            }
        });
        Shaper {
            addr,
            dropped,
            task,
        }
    }

    /// Datagrams the full queue dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        self.task.abort();
    }
}
