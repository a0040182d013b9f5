//! Snapshots of the live counters, for the admin API and the tests. The counters themselves
//! are declared once, in [`crate::core::stats`], and appear here as they are.

use crate::core::codec::Kind;
use crate::core::sendpath::FeedbackCounters;
use crate::core::session::TransportState;
use crate::core::stats::{DownTrackCounters, IngressCounters, Tally, TrackCounters};
use serde::Serialize;
use std::time::SystemTime;

/// Everything the media worker counts, at one instant.
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
}

/// Sizes of the SFU's tables.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct TableSizes {
    /// Sessions.
    pub sessions: usize,
    /// ICE username fragments routed.
    pub ufrags: usize,
    /// Remote addresses bound to sessions.
    pub addresses: usize,
    /// Published tracks.
    pub tracks: usize,
    /// Timers set.
    pub timers: usize,
    /// Transports the send path sends on.
    pub links: usize,
    /// Hidden (subscriber, publisher) video pairs.
    pub hidden_views: usize,
}

/// One room.
#[derive(Debug, Clone, Serialize)]
pub struct RoomStats {
    /// The room's name.
    pub name: String,
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
