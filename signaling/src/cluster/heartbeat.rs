//! The node's side of the cluster: every [`REFRESH`], its registration, load and room list
//! go to Redis and its rooms' leases are renewed. A Redis outage is logged once, and its
//! end too; calls go on meanwhile.

use super::{Cluster, NodeLoad, NodeView, REFRESH};
use crate::admin::{RoomSummary, room_summaries};
use crate::state::AppState;
use std::sync::Arc;
use tracing::{info, warn};

/// This node as the cluster sees it: its addresses and its load now.
pub async fn this_node(state: &AppState) -> Result<NodeView, sfu::SfuError> {
    node_view(state, &room_summaries(state).await?).await
}

/// This node, its load counted from `rooms` (its room list now).
async fn node_view(state: &AppState, rooms: &[RoomSummary]) -> Result<NodeView, sfu::SfuError> {
    let summary = state.sfu.summary().await?;
    Ok(NodeView {
        id: state.config.node_id.clone(),
        url: state.url.get().cloned().unwrap_or_default(),
        media: state
            .sfu
            .announce_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect(),
        started_at: state.started_at.clone(),
        load: NodeLoad {
            rooms: rooms.len(),
            participants: rooms.iter().map(|r| r.participants).sum(),
            down_tracks: summary.workers.iter().map(|w| w.down_tracks).sum(),
            cpu_cores: summary.workers.iter().map(|w| w.cpu_utilization).sum(),
        },
    })
}

/// Refreshes this node's records until `stop` turns true, then leaves the cluster.
pub async fn run(
    state: AppState,
    cluster: Arc<Cluster>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut failing = false;
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        crate::socket::relay::tick(&state);
        let result = async {
            let rooms = room_summaries(&state).await.map_err(|e| e.to_string())?;
            let me = node_view(&state, &rooms).await.map_err(|e| e.to_string())?;
            cluster
                .refresh(&me, &rooms)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Ok(taken) = &result {
            for room in taken {
                close_room(&state, room).await;
            }
        }
        match result.map(drop) {
            Err(e) if !failing => {
                warn!(node = %cluster.id(), "cluster refresh failed (the calls go on; retrying every second): {e}");
                failing = true;
            }
            Ok(()) if failing => {
                info!(node = %cluster.id(), "cluster refresh works again");
                failing = false;
            }
            _ => {}
        }
    }
    match cluster.leave().await {
        Ok(()) => info!(node = %cluster.id(), "left the cluster"),
        Err(e) => {
            warn!(node = %cluster.id(), "could not leave the cluster cleanly (its records expire by themselves): {e}")
        }
    }
}

/// Closes a room of this node that another node now holds (it took the room over while
/// this one was cut off): its members are disconnected, and rejoin it on that node.
async fn close_room(state: &AppState, room: &str) {
    let Some(view) = state.rooms.room(room) else {
        return;
    };
    warn!(%room, members = view.members.len(), "another node holds this room now; disconnecting its members here so that they rejoin it there");
    for m in view.members {
        if let Some(member) = crate::socket::endpoint::find(state, &m.id) {
            crate::socket::leave_room(state, &member, "disconnected").await;
            member.close(state, "the room moved to another node");
        }
    }
}
