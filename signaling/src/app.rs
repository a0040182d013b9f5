//! The HTTP application: Socket.IO, the web client, and health.

use crate::socket;
use crate::state::AppState;
use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use socketioxide::SocketIo;
use socketioxide::handler::ConnectHandler;
use std::time::Duration;

/// Largest Socket.IO payload accepted: room for a 64 KiB SDP and its JSON framing.
const MAX_PAYLOAD: u64 = 256 * 1024;

/// Builds the router and the Socket.IO handle. A client that goes silent is dropped by the
/// ping timeout (at most about 6 s), which counts as leaving.
pub fn app(state: AppState) -> (Router, SocketIo) {
    let (svc, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(3))
        .ping_timeout(Duration::from_secs(3))
        .max_payload(MAX_PAYLOAD)
        .with_state(state)
        .build_svc();
    io.ns("/", socket::on_connect.with(socket::register_handlers));
    // One Socket.IO service on one route: each layered copy would keep sessions of its own,
    // and a polling client's second request would land on a copy that never saw it.
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route_service("/socket.io/", svc)
        .fallback(asset);
    (router, io)
}

async fn asset(uri: Uri) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        p => p,
    };
    match client::ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type)], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
