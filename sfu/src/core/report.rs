//! Snapshots of the live counters, for the admin API and the tests. The counters themselves
//! are declared once, in [`crate::core::stats`], and appear here as they are.

use crate::core::api::SelectedCandidate;
use crate::core::codec::Kind;
use crate::core::sendpath::FeedbackCounters;
use crate::core::session::TransportState;
use crate::core::stats::{DownTrackCounters, IngressCounters, Tally, TrackCounters};
use serde::Serialize;
use std::time::SystemTime;

/// Everything the media plane counts, at one instant: one worker's, or the sum of a pool's
/// (see [`SfuStats::merge`]).
#[derive(Debug, Clone, Serialize)]
pub struct SfuStats {
    /// Datagrams not attributed to a session, by reason.
    pub ingress: IngressCounters,
    /// Media counters since the SFU started, including sessions that have left.
    pub totals: Tally,
    /// Every room, by name.
    pub rooms: Vec<RoomStats>,
    /// Table sizes, so that leaks show.
    pub tables: TableSizes,
    /// Each media worker's load (empty from a bare [`crate::core::Sfu`]).
    pub workers: Vec<WorkerStats>,
}

/// The SFU-wide figures alone, without a report per room: what metrics scrape.
#[derive(Debug, Clone, Serialize)]
pub struct SfuSummary {
    /// Datagrams not attributed to a session, by reason.
    pub ingress: IngressCounters,
    /// Media counters since the SFU started, including sessions that have left.
    pub totals: Tally,
    /// Table sizes.
    pub tables: TableSizes,
    /// Each media worker's load (empty from a bare [`crate::core::Sfu`]).
    pub workers: Vec<WorkerStats>,
}

/// One media worker: a thread with its own socket, and the rooms placed on it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerStats {
    /// Its index in the pool (its media port is the first port plus this).
    pub index: usize,
    /// The media address it announces.
    pub media_addr: String,
    /// False while it is being replaced after a failure (its figures are then zero).
    pub alive: bool,
    /// How many times it failed and was started afresh.
    pub restarts: u64,
    /// Rooms placed on it.
    pub rooms: usize,
    /// SFU sessions it holds.
    pub participants: usize,
    /// Subscriptions (DownTracks) it forwards to.
    pub down_tracks: usize,
    /// RTP packets received from publishers, since it (last) started.
    pub packets_in: u64,
    /// RTP packets forwarded to subscribers, since it (last) started.
    pub packets_out: u64,
    /// Packets received per second, over about the last second.
    pub packets_in_per_second: f64,
    /// Packets forwarded per second, over about the last second.
    pub packets_out_per_second: f64,
    /// CPU time its thread has used, in seconds.
    pub cpu_seconds: f64,
    /// The share of one core its thread used over about the last second (0 to 1).
    pub cpu_utilization: f64,
    /// Its ICE-TCP address, when it accepts ICE over TCP.
    pub ice_tcp_addr: Option<String>,
    /// Open ICE-TCP connections.
    pub ice_tcp_connections: usize,
    /// ICE-TCP frames dropped: no connection to their destination, or its queue was full.
    pub ice_tcp_frames_dropped: u64,
}

impl SfuStats {
    /// The pool's figures from its workers': counters and tables add up, rooms are listed
    /// together (by name, then worker), and each worker keeps its own line.
    pub fn merge(parts: impl IntoIterator<Item = SfuStats>) -> SfuStats {
        let mut all = SfuStats {
            ingress: IngressCounters::default(),
            totals: Tally::default(),
            rooms: Vec::new(),
            tables: TableSizes::default(),
            workers: Vec::new(),
        };
        for p in parts {
            all.ingress.add(&p.ingress);
            all.totals.add(&p.totals);
            all.rooms.extend(p.rooms);
            all.tables.add(&p.tables);
            all.workers.extend(p.workers);
        }
        all.rooms
            .sort_by(|a, b| (&a.name, a.worker).cmp(&(&b.name, b.worker)));
        all
    }
}

impl SfuSummary {
    /// The pool's figures from its workers' (see [`SfuStats::merge`]).
    pub fn merge(parts: impl IntoIterator<Item = SfuSummary>) -> SfuSummary {
        let mut all = SfuSummary {
            ingress: IngressCounters::default(),
            totals: Tally::default(),
            tables: TableSizes::default(),
            workers: Vec::new(),
        };
        for p in parts {
            all.ingress.add(&p.ingress);
            all.totals.add(&p.totals);
            all.tables.add(&p.tables);
            all.workers.extend(p.workers);
        }
        all
    }
}

/// Sizes of the SFU's tables.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TableSizes {
    /// Rooms.
    pub rooms: usize,
    /// Sessions.
    pub sessions: usize,
    /// ICE username fragments routed.
    pub ufrags: usize,
    /// Remote addresses bound to sessions.
    pub addresses: usize,
    /// Published tracks.
    pub tracks: usize,
    /// Subscriptions (DownTracks).
    pub down_tracks: usize,
    /// Timers set.
    pub timers: usize,
    /// Transports the send path sends on.
    pub links: usize,
    /// Hidden (subscriber, publisher) video pairs.
    pub hidden_views: usize,
}

impl TableSizes {
    /// Adds another worker's tables to these.
    pub fn add(&mut self, o: &TableSizes) {
        self.rooms += o.rooms;
        self.sessions += o.sessions;
        self.ufrags += o.ufrags;
        self.addresses += o.addresses;
        self.tracks += o.tracks;
        self.down_tracks += o.down_tracks;
        self.timers += o.timers;
        self.links += o.links;
        self.hidden_views += o.hidden_views;
    }
}

/// One room.
#[derive(Debug, Clone, Serialize)]
pub struct RoomStats {
    /// The room's name.
    pub name: String,
    /// The media worker it is placed on.
    pub worker: usize,
    /// Whether the SFU forwards its media (off while its members talk peer to peer).
    pub forwarding: bool,
    /// When it was created.
    pub created_at: SystemTime,
    /// Media counters of its current sessions.
    pub totals: Tally,
    /// Its sessions.
    pub participants: Vec<ParticipantStats>,
    /// The participant id of who has the floor, once anyone has spoken.
    pub active_speaker: Option<String>,
}

/// One session.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantStats {
    /// The participant id.
    pub id: String,
    /// Transport state.
    pub state: TransportState,
    /// Round-trip time from its latest receiver report, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// What its transport-wide feedback reported about the packets sent to it, once its
    /// transport is up.
    pub feedback: Option<FeedbackCounters>,
    /// Its downlink bandwidth estimate, from that feedback, in bits per second.
    pub bandwidth_estimate_bps: Option<u64>,
    /// The ICE candidate pair its media uses, once one is selected.
    pub selected_candidate: Option<SelectedCandidate>,
    /// When it joined.
    pub joined_at: SystemTime,
    /// Tracks it publishes.
    pub published: Vec<PublishedStats>,
    /// Tracks it receives.
    pub subscribed: Vec<SubscribedStats>,
}

/// A published track.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedStats {
    /// SFU-wide track id.
    pub track_id: u64,
    /// Audio or video.
    pub kind: Kind,
    /// Codec name.
    pub codec: &'static str,
    /// The publisher's SSRC (of its lowest layer).
    pub ssrc: u32,
    /// Incoming bitrate.
    pub bitrate_bps: u64,
    /// Its encodings, lowest first: one, or a simulcast camera's several.
    pub layers: Vec<LayerStats>,
    /// Its counters.
    #[serde(flatten)]
    pub counters: TrackCounters,
}

/// One encoding of a published track.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerStats {
    /// Its RTP stream id, for a simulcast layer.
    pub rid: Option<String>,
    /// Its SSRC.
    pub ssrc: u32,
    /// Its bitrate.
    pub bitrate_bps: u64,
    /// Its picture width, from its keyframes (VP8), if known.
    pub width: Option<u16>,
    /// See `width`.
    pub height: Option<u16>,
    /// Whether the publisher is sending it.
    pub active: bool,
}

/// A subscription.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscribedStats {
    /// The track forwarded.
    pub track_id: u64,
    /// Its publisher.
    pub publisher_id: String,
    /// Audio or video.
    pub kind: Kind,
    /// Outgoing bitrate.
    pub bitrate_bps: u64,
    /// The layer of the track it forwards (an index into the track's `layers`), once one
    /// has started.
    pub layer: Option<usize>,
    /// The layer the allocator chose for it; forwarding moves there on its next keyframe.
    pub target_layer: usize,
    /// Its counters.
    #[serde(flatten)]
    pub counters: DownTrackCounters,
}
