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
/// ping timeout (about 10 s), which counts as leaving.
pub fn app(state: AppState) -> (Router, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(5))
        .ping_timeout(Duration::from_secs(5))
        .max_payload(MAX_PAYLOAD)
        .with_state(state)
        .build_layer();
    io.ns("/", socket::on_connect.with(socket::register_handlers));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback(get(asset))
        .layer(layer);
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
