//! The HTTP application: Socket.IO, the web client, health, metrics and the admin API.

use crate::admin::{self, Access};
use crate::limits;
use crate::socket;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use socketioxide::SocketIo;
use socketioxide::handler::ConnectHandler;

/// Largest Socket.IO payload accepted: room for a 64 KiB SDP and its JSON framing.
const MAX_PAYLOAD: u64 = 256 * 1024;

/// Builds the router and the Socket.IO handle. A client that goes silent is dropped by the
/// ping timeout (at most about 6 s), which counts as leaving. The admin API is served here
/// only with a token; without one it is on [`admin_app`]'s loopback listener.
pub fn app(state: AppState) -> (Router, SocketIo) {
    let (svc, io) = SocketIo::builder()
        .ping_interval(limits::PING_INTERVAL)
        .ping_timeout(limits::PING_TIMEOUT)
        .max_payload(MAX_PAYLOAD)
        .max_buffer_size(limits::send_buffer_packets(state.config.max_room_size))
        .with_state(state.clone())
        .build_svc();
    io.ns("/", socket::on_connect.with(socket::register_handlers));
    // The first app built for this state owns it; later ones (none in practice) only serve.
    let _ = state.io.set(io.clone());
    let access = match &state.config.admin_token {
        Some(token) => Access::Token(token.clone()),
        None => Access::Refused,
    };
    // One Socket.IO service on one route: each layered copy would keep sessions of its own,
    // and a polling client's second request would land on a copy that never saw it.
    let router = Router::new()
        .route_service("/socket.io/", svc)
        .merge(admin::router(state.clone(), access))
        .merge(probes(state))
        .fallback(asset);
    (router, io)
}

/// The loopback-only admin listener's routes, used when no admin token is configured.
pub fn admin_app(state: AppState) -> Router {
    admin::router(state.clone(), Access::Open).merge(probes(state))
}

/// `/healthz` and `/metrics`: unauthenticated, as probes and scrapers expect. The metrics
/// are aggregates with bounded labels; they name no room or participant.
fn probes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.sfu.summary().await {
        Ok(stats) => {
            let sockets = state.io.get().map_or(0, |io| io.sockets().len());
            let turn = match state.turn.get() {
                Some(t) => Some(t.usage().await),
                None => None,
            };
            let text = state
                .metrics
                .render(&stats, state.rooms.counts(), sockets, turn);
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("media plane: {e}\n"),
        )
            .into_response(),
    }
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
