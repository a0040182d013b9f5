//! The HTTP listener: a task per connection, with the limits a public server needs.
//!
//! Clients that send slowly or not at all must not hold the server. A request's headers must
//! arrive within [`HEADER_TIMEOUT`], so that a "slow-loris" client, which sends half a request
//! and stalls, is cut off; and one client address holds at most `max_per_ip` connections at
//! once, WebSockets included, so that it cannot use up the process's open files and lock
//! everyone else out.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// How long a client has to send a request's headers, from the connection's start or the
/// end of its previous request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open connections get to finish when the server stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` turns true. `max_per_ip` of 0 means no cap.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_per_ip: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let counts = PerIp::default();
    let mut accept_errors = ErrorLog::default();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most often: the pending connection stays in
                    // the backlog; try again shortly rather than spin.
                    accept_errors.note(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = counts.take(peer.ip(), max_per_ip) else {
            debug!(%peer, max_per_ip, "connection refused: too many from this address");
            continue;
        };
        let io = TokioIo::new(Counted {
            stream,
            _slot: slot,
        });
        let conn = builder
            .serve_connection(io, TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stopped(&mut stop) => {
                    // Finish the request in flight, then close; a WebSocket has been handed
                    // over already and is closed by its own server.
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(DRAIN, conn).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = ended {
                debug!(%peer, "connection ended: {e}");
            }
        });
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PerIp {
    /// A slot for one more connection from `ip`, or `None` when it holds `max` already.
    fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let ip = ip.to_canonical();
        // Never poisoned: nothing panics while the map is held.
        let mut map = self.0.lock().expect("connection counts lock");
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
struct Slot {
    counts: PerIp,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().expect("connection counts lock");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A connection that holds its slot for as long as it lives: through an upgrade to a
/// WebSocket too, which takes the stream over.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Logs accept errors at most once a second, with how many there were.
#[derive(Default)]
struct ErrorLog {
    since: Option<Instant>,
    count: u64,
}

impl ErrorLog {
    fn note(&mut self, e: &io::Error) {
        self.count += 1;
        let now = Instant::now();
        if self
            .since
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            warn!(count = self.count, "cannot accept connections: {e}");
            self.since = Some(now);
            self.count = 0;
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
