//! The admin HTTP API: rooms, participants and their live media counters, and removing them.
//!
//! With `--admin-token`, every `/api/*` call needs `Authorization: Bearer <token>`. Without
//! one, the API answers only on a loopback listener of its own, and the public listener
//! refuses it.

mod auth;
pub mod views;

pub use auth::Access;
use auth::BearerScheme;
pub use views::{
    ParticipantView, Removed, RoomDetail, RoomSummary, TransportView, WorkerTotals, WorkersView,
};

use crate::cluster::AdminAction;
use crate::rooms::Mode;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sfu::RoomId;
use sfu::RoomStats;
use std::collections::HashMap;
use utoipa::{OpenApi, ToSchema};

/// The admin routes under `/api`, guarded as `access` says.
pub fn router(state: AppState, access: Access) -> Router {
    let api = Router::new()
        .route("/api/rooms", get(list_rooms))
        .route("/api/rooms/{room}", get(get_room).delete(close_room))
        .route(
            "/api/rooms/{room}/participants/{id}",
            axum::routing::delete(remove_participant),
        )
        .route("/api/workers", get(list_workers))
        .route("/api/nodes", get(list_nodes))
        .route("/api/turn", get(turn_usage))
        .route("/api/openapi.json", get(openapi))
        .route("/api/{*rest}", axum::routing::any(no_such_endpoint))
        .method_not_allowed_fallback(wrong_method)
        .with_state(state);
    auth::guard(api, access)
}

/// Why an admin call failed, as JSON: `{error: {code, message}}`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// No such room or participant.
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The media plane did not answer.
    #[error("media plane: {0}")]
    Sfu(#[from] sfu::SfuError),
    /// Another node of the cluster did not answer.
    #[error("cluster: {0}")]
    Unavailable(String),
    /// The cluster's Redis did not answer, or holds something unusable.
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
}

/// `GET /api/nodes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodesView {
    /// The node that answered.
    pub node: String,
    /// Whether it is in a cluster (`--redis`).
    pub cluster: bool,
    /// The live nodes.
    pub nodes: Vec<crate::cluster::NodeView>,
}

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable code and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `not-found`, `method-not-allowed` or `unavailable`.
    pub code: String,
    /// For people.
    pub message: String,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AdminError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            AdminError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed")
            }
            AdminError::Sfu(_) | AdminError::Cluster(_) | AdminError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
    }
}

async fn wrong_method(method: axum::http::Method) -> AdminError {
    AdminError::MethodNotAllowed(format!(
        "{method} is not allowed here; see /api/openapi.json"
    ))
}

async fn no_such_endpoint() -> AdminError {
    AdminError::NotFound("no such admin endpoint; see /api/openapi.json".into())
}

fn no_room(room: &str) -> AdminError {
    AdminError::NotFound(format!("no room named {room:?}"))
}

/// Every room, with its mode, size and bitrates.
#[utoipa::path(get, path = "/api/rooms", security(("bearer" = [])),
    responses((status = 200, body = [RoomSummary]), (status = 401, body = ErrorBody)))]
async fn list_rooms(State(state): State<AppState>) -> Result<Json<Vec<RoomSummary>>, AdminError> {
    match state.cluster.get() {
        Some(cluster) => Ok(Json(cluster.rooms().await?)),
        None => Ok(Json(room_summaries(&state).await?)),
    }
}

/// This node's rooms, with their media counters.
pub async fn room_summaries(state: &AppState) -> Result<Vec<RoomSummary>, sfu::SfuError> {
    let stats = state.sfu.stats().await?;
    let media: HashMap<&str, &RoomStats> =
        stats.rooms.iter().map(|r| (r.name.as_str(), r)).collect();
    Ok(state
        .rooms
        .snapshot()
        .iter()
        .map(|r| {
            RoomSummary::new(
                &state.config.node_id,
                r,
                media.get(r.name.as_str()).copied(),
            )
        })
        .collect())
}

/// The nodes of the cluster, with their addresses and load (this node alone when it is
/// not in a cluster).
#[utoipa::path(get, path = "/api/nodes", security(("bearer" = [])),
    responses((status = 200, body = NodesView), (status = 401, body = ErrorBody)))]
async fn list_nodes(State(state): State<AppState>) -> Result<Json<NodesView>, AdminError> {
    let nodes = match state.cluster.get() {
        Some(cluster) => cluster.nodes().await?,
        None => vec![crate::cluster::this_node(&state).await?],
    };
    Ok(Json(NodesView {
        node: state.config.node_id.clone(),
        cluster: state.cluster.get().is_some(),
        nodes,
    }))
}

/// One room: its members, their tracks and transport, and its media totals.
#[utoipa::path(get, path = "/api/rooms/{room}", security(("bearer" = [])),
    params(("room" = String, Path, description = "The room's name")),
    responses((status = 200, body = RoomDetail), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<RoomDetail>, AdminError> {
    let view = state.rooms.room(&room).ok_or_else(|| no_room(&room))?;
    let media = state.sfu.room_stats(RoomId(room)).await?;
    Ok(Json(RoomDetail::new(&view, media.as_ref())))
}

/// Closes a room: every member is told why and disconnected.
#[utoipa::path(delete, path = "/api/rooms/{room}", security(("bearer" = [])),
    params(("room" = String, Path, description = "The room's name")),
    responses((status = 200, body = Removed), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn close_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<Removed>, AdminError> {
    if let Some(removed) = crate::socket::close_room(&state, &room).await {
        return Ok(Json(Removed { removed }));
    }
    let action = AdminAction::CloseRoom { room: room.clone() };
    match on_home(&state, &room, action).await? {
        Some(removed) => Ok(Json(Removed { removed })),
        None => Err(no_room(&room)),
    }
}

/// Removes one member, who is told why and disconnected.
#[utoipa::path(delete, path = "/api/rooms/{room}/participants/{id}", security(("bearer" = [])),
    params(("room" = String, Path, description = "The room's name"),
        ("id" = String, Path, description = "The participant id")),
    responses((status = 200, body = Removed), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn remove_participant(
    State(state): State<AppState>,
    Path((room, id)): Path<(String, String)>,
) -> Result<Json<Removed>, AdminError> {
    let removed = if state.rooms.room(&room).is_some() {
        crate::socket::remove_from_room(&state, &room, &id)
            .await
            .then(|| vec![id.clone()])
    } else {
        let action = AdminAction::RemoveMember {
            room: room.clone(),
            member: id.clone(),
        };
        on_home(&state, &room, action).await?
    };
    removed
        .map(|removed| Json(Removed { removed }))
        .ok_or_else(|| AdminError::NotFound(format!("no participant {id:?} in room {room:?}")))
}

/// In a cluster, carries out `action` on the node that holds `room`, if another node does:
/// the ids it removed, or `None` if no node has such a room (or member).
async fn on_home(
    state: &AppState,
    room: &str,
    action: AdminAction,
) -> Result<Option<Vec<String>>, AdminError> {
    let (Some(cluster), Some(bus)) = (state.cluster.get(), state.bus.get()) else {
        return Ok(None);
    };
    if !crate::messages::valid_room_name(room) {
        return Ok(None);
    }
    let Some(home) = cluster.home_of(room).await? else {
        return Ok(None);
    };
    if home == cluster.id() {
        return Ok(None);
    }
    let result = bus
        .admin(&home, action)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    // The other node's answer is input: a list of ids, or nothing.
    Ok(serde_json::from_value(result).unwrap_or(None))
}

/// The media workers: each one's rooms, sessions, subscriptions, packet rates and CPU, and
/// their sum.
#[utoipa::path(get, path = "/api/workers", security(("bearer" = [])),
    responses((status = 200, body = WorkersView), (status = 401, body = ErrorBody)))]
async fn list_workers(State(state): State<AppState>) -> Result<Json<WorkersView>, AdminError> {
    let summary = state.sfu.summary().await?;
    Ok(Json(WorkersView::new(summary.workers)))
}

/// The embedded TURN server: where it listens and what it relays now (`enabled: false`
/// without `--turn-listen`).
#[utoipa::path(get, path = "/api/turn", security(("bearer" = [])),
    responses((status = 200, body = TurnView), (status = 401, body = ErrorBody)))]
async fn turn_usage(State(state): State<AppState>) -> Json<TurnView> {
    let Some(turn) = state.turn.get() else {
        return Json(TurnView {
            enabled: false,
            urls: Vec::new(),
            usage: crate::turn::TurnUsage::default(),
        });
    };
    Json(TurnView {
        enabled: true,
        urls: turn.urls(),
        usage: turn.usage().await,
    })
}

/// The embedded TURN server's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnView {
    /// Whether it runs.
    pub enabled: bool,
    /// The URLs clients are given.
    pub urls: Vec<String>,
    /// Its live allocations and their relayed bytes.
    #[serde(flatten)]
    pub usage: crate::turn::TurnUsage,
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", security(("bearer" = [])),
    responses((status = 200, description = "The OpenAPI document"), (status = 401, body = ErrorBody)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The OpenAPI document of the admin API.
#[derive(OpenApi)]
#[openapi(
    info(title = "sfu-server admin API", description = "Rooms, participants and live media counters."),
    paths(list_rooms, get_room, close_room, remove_participant, list_workers, list_nodes,
        turn_usage, openapi),
    components(schemas(RoomSummary, RoomDetail, ParticipantView, TransportView, WorkersView,
        TurnView, crate::turn::TurnUsage,
        WorkerTotals, sfu::WorkerStats, NodesView, crate::cluster::NodeView,
        crate::cluster::NodeLoad,
        sfu::PublishedStats, sfu::LayerStats, sfu::SubscribedStats, sfu::Tally, sfu::TrackCounters,
        sfu::DownTrackCounters, sfu::Kind, sfu::TransportState, sfu::FeedbackCounters,
        sfu::SelectedCandidate, sfu::Protocol, Removed,
        ErrorBody, ErrorDetail,
        Mode)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;
