//! The HTTP listener: a task per connection, with the limits a public server needs.
//!
//! Clients that send slowly or not at all must not hold the server. A request's headers must
//! arrive within [`HEADER_TIMEOUT`], so that a "slow-loris" client, which sends half a request
//! and stalls, is cut off; a whole request must be served within [`REQUEST_TIMEOUT`]; a
//! client that takes no data for [`WRITE_STALL`] is dropped; and one client address holds at
//! most `max_per_ip` connections at once, WebSockets included, so that it cannot use up the
//! process's open files and lock everyone else out.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{debug, warn};

mod conn;
mod per_ip;

use conn::Conn;
pub use conn::{Kill, WRITE_STALL};
use per_ip::PerIp;

/// How long a client has to send a request's headers, from the connection's start or the
/// end of its previous request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take to be served, its body included, so that a client that
/// trickles a body is cut off like one that trickles its headers. Socket.IO's long-polls last
/// a ping interval (3 s); a WebSocket upgrade is answered at once, and the WebSocket lives on.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
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
    let mut connections = tokio::task::JoinSet::new();
    let mut accept_errors = ErrorLog::default();
    let router = router.layer(axum::middleware::from_fn(time_limit));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        // Reap finished connections, so that the set holds only open ones.
        while connections.try_join_next().is_some() {}
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
        let kill = Kill::default();
        let io = TokioIo::new(Conn::new(stream, slot, kill.clone()));
        let router = router.clone();
        // Every request of the connection carries its kill switch.
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(kill.clone());
            router.clone().oneshot(req)
        });
        let conn = builder.serve_connection(io, service).with_upgrades();
        let mut stop = stop.clone();
        connections.spawn(async move {
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
    // Requests in flight finish (each connection was told to stop); the server's shutdown
    // waits for them, but not for ever.
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        debug!("connections still open after {DRAIN:?}; dropping them");
    }
}

/// Answers 408 to a request not served within [`REQUEST_TIMEOUT`].
async fn time_limit(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
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
