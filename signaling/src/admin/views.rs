//! What the admin API returns: the signaling state (names, modes) joined with the media
//! plane's live counters.

use crate::rooms::{Mode, RoomView};
use serde::{Deserialize, Serialize};
use sfu::{
    FeedbackCounters, ParticipantStats, PublishedStats, RoomStats, SelectedCandidate,
    SubscribedStats, Tally, TransportState, WorkerStats,
};
use std::time::SystemTime;
use utoipa::ToSchema;

/// A room in the list. (Other nodes of a cluster read it back from Redis.)
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomSummary {
    /// The room's name.
    pub name: String,
    /// The node it lives on (`--node-id`; in a cluster, one of `GET /api/nodes`).
    pub node: String,
    /// How its media flows.
    pub mode: Mode,
    /// Members.
    pub participants: usize,
    /// The media worker it is placed on, once it has an SFU session.
    pub worker: Option<usize>,
    /// Tracks published to the SFU.
    pub tracks: usize,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Media the SFU receives from the room's publishers, bits per second.
    pub bitrate_in_bps: u64,
    /// Media the SFU sends to the room's subscribers, bits per second.
    pub bitrate_out_bps: u64,
}

/// One room in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomDetail {
    /// The room's name.
    pub name: String,
    /// How its media flows.
    pub mode: Mode,
    /// The media worker it is placed on, once it has an SFU session.
    pub worker: Option<usize>,
    /// Whether the SFU forwards its media: on in the SFU mode, off once every member has
    /// P2P media flowing after a move back to P2P.
    pub forwarding: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Its members.
    pub participants: Vec<ParticipantView>,
    /// Media counters of its current members. In P2P mode the server forwards nothing,
    /// and these show it.
    pub totals: Tally,
    /// The id of the member who has the floor, from the audio levels the SFU receives;
    /// absent until someone has spoken through the SFU.
    pub active_speaker: Option<String>,
}

/// A member.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    /// Participant id (its Socket.IO id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// When its SFU session started (RFC 3339); absent while it is being created.
    pub joined_at: Option<String>,
    /// Its connection to the SFU.
    pub transport: TransportView,
    /// Tracks it publishes to the SFU.
    pub published: Vec<PublishedStats>,
    /// Tracks the SFU forwards to it.
    pub subscribed: Vec<SubscribedStats>,
}

/// A member's connection to the SFU.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransportView {
    /// `new`, `connected`, `failed` or `closed`.
    pub state: TransportState,
    /// Round-trip time from its latest receiver report, once it has sent one.
    pub rtt_ms: Option<f64>,
    /// What its transport-wide congestion-control feedback reported about the packets the
    /// SFU sent it, once its transport is up.
    pub feedback: Option<FeedbackCounters>,
    /// The SFU's estimate of its downlink, in bits per second, once its transport is up.
    pub bandwidth_estimate_bps: Option<u64>,
    /// How its media reaches the SFU (UDP or ICE-TCP, and its candidate type), once an ICE
    /// pair is selected.
    pub selected_candidate: Option<SelectedCandidate>,
}

/// The media workers: their sum, and each one.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkersView {
    /// Every worker's figures added up (utilization in cores).
    pub total: WorkerTotals,
    /// Each worker, by index.
    pub workers: Vec<WorkerStats>,
}

/// The workers' figures added up.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct WorkerTotals {
    /// Rooms.
    pub rooms: usize,
    /// SFU sessions.
    pub participants: usize,
    /// Subscriptions.
    pub down_tracks: usize,
    /// Packets received per second.
    pub packets_in_per_second: f64,
    /// Packets forwarded per second.
    pub packets_out_per_second: f64,
    /// CPU the workers' threads used over the last second, in cores.
    pub cpu_cores: f64,
}

impl WorkersView {
    /// The view of the workers' lines.
    pub fn new(workers: Vec<WorkerStats>) -> WorkersView {
        let mut total = WorkerTotals::default();
        for w in &workers {
            total.rooms += w.rooms;
            total.participants += w.participants;
            total.down_tracks += w.down_tracks;
            total.packets_in_per_second += w.packets_in_per_second;
            total.packets_out_per_second += w.packets_out_per_second;
            total.cpu_cores += w.cpu_utilization;
        }
        WorkersView { total, workers }
    }
}

/// Participants an administrator removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    /// Their ids.
    pub removed: Vec<String>,
}

/// An RFC 3339 time with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl RoomSummary {
    /// The list entry for a room; `media` is absent while the SFU has no session in it yet.
    pub fn new(node: &str, room: &RoomView, media: Option<&RoomStats>) -> RoomSummary {
        let (tracks, bitrate_in_bps, bitrate_out_bps) = media.map_or((0, 0, 0), |m| {
            let published = m.participants.iter().flat_map(|p| &p.published);
            let subscribed = m.participants.iter().flat_map(|p| &p.subscribed);
            (
                published.clone().count(),
                published.map(|t| t.bitrate_bps).sum(),
                subscribed.map(|t| t.bitrate_bps).sum(),
            )
        });
        RoomSummary {
            name: room.name.clone(),
            node: node.to_owned(),
            mode: room.mode,
            participants: room.members.len(),
            worker: media.map(|m| m.worker),
            tracks,
            created_at: rfc3339(media.map_or_else(SystemTime::now, |m| m.created_at)),
            bitrate_in_bps,
            bitrate_out_bps,
        }
    }
}

impl RoomDetail {
    /// The detail of a room: each member's name from signaling, its counters from the SFU.
    pub fn new(room: &RoomView, media: Option<&RoomStats>) -> RoomDetail {
        let participants = room
            .members
            .iter()
            .map(|m| {
                let stats = media.and_then(|s| s.participants.iter().find(|p| p.id == m.id));
                ParticipantView::new(m.id.clone(), m.name.clone(), stats)
            })
            .collect();
        let totals = media.map_or_else(Tally::default, |m| m.totals);
        RoomDetail {
            name: room.name.clone(),
            mode: room.mode,
            worker: media.map(|m| m.worker),
            forwarding: media.is_some_and(|m| m.forwarding),
            created_at: rfc3339(media.map_or_else(SystemTime::now, |m| m.created_at)),
            participants,
            totals,
            active_speaker: media.and_then(|m| m.active_speaker.clone()),
        }
    }
}

impl ParticipantView {
    fn new(id: String, name: String, stats: Option<&ParticipantStats>) -> ParticipantView {
        let state = stats.map_or(TransportState::New, |s| s.state);
        ParticipantView {
            id,
            name,
            joined_at: stats.map(|s| rfc3339(s.joined_at)),
            transport: TransportView {
                state,
                rtt_ms: stats.and_then(|s| s.rtt_ms),
                feedback: stats.and_then(|s| s.feedback),
                bandwidth_estimate_bps: stats.and_then(|s| s.bandwidth_estimate_bps),
                selected_candidate: stats.and_then(|s| s.selected_candidate.clone()),
            },
            published: stats.map_or_else(Vec::new, |s| s.published.clone()),
            subscribed: stats.map_or_else(Vec::new, |s| s.subscribed.clone()),
        }
    }
}
