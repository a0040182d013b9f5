//! What the admin API returns: the signaling state (names, modes) joined with the media
//! plane's live counters.

use crate::rooms::{Mode, RoomView};
use serde::Serialize;
use sfu::core::participant::TransportState;
use sfu::core::report::{ParticipantStats, PublishedStats, RoomStats, SubscribedStats};
use sfu::core::track::Kind;
use std::time::SystemTime;
use utoipa::ToSchema;

/// A room in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomSummary {
    /// The room's name.
    pub name: String,
    /// How its media flows.
    pub mode: Mode,
    /// Members.
    pub participants: usize,
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
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Its members.
    pub participants: Vec<ParticipantView>,
    /// Media counters of its current members.
    pub totals: RoomTotals,
}

/// A room's media counters. In P2P mode the server forwards nothing, and these show it.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RoomTotals {
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP packets forwarded to subscribers.
    pub packets_out: u64,
    /// RTP bytes received from publishers.
    pub bytes_in: u64,
    /// RTP bytes forwarded to subscribers.
    pub bytes_out: u64,
    /// Packets not forwarded (paused in P2P mode, waiting for a keyframe, …).
    pub packets_dropped: u64,
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
    pub published: Vec<PublishedView>,
    /// Tracks the SFU forwards to it.
    pub subscribed: Vec<SubscribedView>,
}

/// A member's connection to the SFU.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransportView {
    /// `new`, `connected`, `failed` or `closed`.
    #[schema(value_type = String)]
    pub state: TransportState,
    /// Round-trip time from its latest receiver report, once it has sent one.
    pub rtt_ms: Option<f64>,
}

/// A published track.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedView {
    /// SFU-wide track id.
    pub track_id: u64,
    /// `audio` or `video`.
    #[schema(value_type = String)]
    pub kind: Kind,
    /// Codec name.
    pub codec: String,
    /// The publisher's SSRC.
    pub ssrc: u32,
    /// RTP packets received.
    pub packets: u64,
    /// RTP bytes received.
    pub bytes: u64,
    /// Incoming bitrate.
    pub bitrate_bps: u64,
    /// Packets missing from the publisher's sequence.
    pub packets_lost: u64,
    /// Packets subscribers NACKed.
    pub nacks: u64,
    /// NACKed packets re-sent from the cache.
    pub retransmits: u64,
    /// Keyframe requests sent to the publisher.
    pub plis: u64,
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscribedView {
    /// The track forwarded.
    pub track_id: u64,
    /// Its publisher.
    pub publisher_id: String,
    /// RTP packets sent.
    pub packets: u64,
    /// RTP bytes sent.
    pub bytes: u64,
    /// Outgoing bitrate.
    pub bitrate_bps: u64,
    /// Packets not sent.
    pub packets_dropped: u64,
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
    pub fn new(room: &RoomView, media: Option<&RoomStats>) -> RoomSummary {
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
            mode: room.mode,
            participants: room.members.len(),
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
        let totals = media.map_or_else(RoomTotals::default, |m| RoomTotals {
            packets_in: m.totals.packets_in,
            packets_out: m.totals.packets_out,
            bytes_in: m.totals.bytes_in,
            bytes_out: m.totals.bytes_out,
            packets_dropped: m.totals.packets_dropped,
        });
        RoomDetail {
            name: room.name.clone(),
            mode: room.mode,
            created_at: rfc3339(media.map_or_else(SystemTime::now, |m| m.created_at)),
            participants,
            totals,
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
            },
            published: stats.map_or_else(Vec::new, |s| {
                s.published.iter().map(PublishedView::from).collect()
            }),
            subscribed: stats.map_or_else(Vec::new, |s| {
                s.subscribed.iter().map(SubscribedView::from).collect()
            }),
        }
    }
}

impl From<&PublishedStats> for PublishedView {
    fn from(t: &PublishedStats) -> PublishedView {
        PublishedView {
            track_id: t.track_id,
            kind: t.kind,
            codec: t.codec.to_owned(),
            ssrc: t.ssrc,
            packets: t.packets,
            bytes: t.bytes,
            bitrate_bps: t.bitrate_bps,
            packets_lost: t.packets_lost,
            nacks: t.nacks,
            retransmits: t.retransmits,
            plis: t.plis,
        }
    }
}

impl From<&SubscribedStats> for SubscribedView {
    fn from(t: &SubscribedStats) -> SubscribedView {
        SubscribedView {
            track_id: t.track_id,
            publisher_id: t.publisher_id.clone(),
            packets: t.packets,
            bytes: t.bytes,
            bitrate_bps: t.bitrate_bps,
            packets_dropped: t.packets_dropped,
        }
    }
}
