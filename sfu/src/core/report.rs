//! Snapshots of the live counters, for the admin API and the tests.

use crate::core::Sfu;
use crate::core::forwarder::DropReason;
use crate::core::participant::TransportState;
use crate::core::stats::IngressCounters;
use crate::core::track::Kind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

/// Everything the media worker counts, at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct SfuStats {
    /// Datagrams not attributed to a session, by reason.
    pub ingress: IngressCounters,
    /// Every room, by name.
    pub rooms: Vec<RoomStats>,
    /// Routing-table sizes, so that leaks show: sessions, their ICE username fragments,
    /// the remote addresses bound to them, and published tracks.
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
}

/// One room.
#[derive(Debug, Clone, Serialize)]
pub struct RoomStats {
    /// The room's name.
    pub name: String,
    /// When it was created.
    pub created_at: SystemTime,
    /// Its sessions.
    pub participants: Vec<ParticipantStats>,
}

/// One session.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantStats {
    /// The participant id.
    pub id: String,
    /// Transport state.
    pub state: TransportState,
    /// When it joined.
    pub joined_at: SystemTime,
    /// Tracks it publishes.
    pub published: Vec<PublishedStats>,
    /// Tracks it receives.
    pub subscribed: Vec<SubscribedStats>,
}

/// A published track.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedStats {
    /// SFU-wide track id.
    pub track_id: u64,
    /// Audio or video.
    pub kind: Kind,
    /// Codec name.
    pub codec: &'static str,
    /// The publisher's SSRC.
    pub ssrc: u32,
    /// Packets received.
    pub packets: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Incoming bitrate.
    pub bitrate_bps: u64,
    /// Packets missing from the publisher's sequence.
    pub packets_lost: u64,
    /// Sequence numbers subscribers NACKed.
    pub nacks: u64,
    /// NACKed packets re-sent from the cache.
    pub retransmits: u64,
    /// Keyframe requests sent to the publisher.
    pub plis: u64,
}

/// A subscription.
#[derive(Debug, Clone, Serialize)]
pub struct SubscribedStats {
    /// The track forwarded.
    pub track_id: u64,
    /// Its publisher.
    pub publisher_id: String,
    /// Packets sent.
    pub packets: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Outgoing bitrate.
    pub bitrate_bps: u64,
    /// Packets not sent, all reasons.
    pub packets_dropped: u64,
    /// Packets not sent, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
}

impl Sfu {
    /// A snapshot of every counter.
    pub fn stats(&self, now: Instant) -> SfuStats {
        let mut rooms: Vec<RoomStats> = self
            .rooms
            .values()
            .map(|room| RoomStats {
                name: room.id.0.clone(),
                created_at: room.created_at,
                participants: room
                    .participants
                    .iter()
                    .filter_map(|k| self.participants.get(k))
                    .map(|p| ParticipantStats {
                        id: p.id.0.clone(),
                        state: p.state,
                        joined_at: self.config.wall_clock(p.joined_at),
                        published: p
                            .published
                            .values()
                            .filter_map(|t| self.tracks.get(t))
                            .map(|t| PublishedStats {
                                track_id: t.id.0,
                                kind: t.kind,
                                codec: t.codec.as_str(),
                                ssrc: t.ssrc,
                                packets: t.counters.packets,
                                bytes: t.counters.bytes,
                                bitrate_bps: t.counters.bitrate.bps(now),
                                packets_lost: t.counters.packets_lost,
                                nacks: t.counters.nacks,
                                retransmits: t.counters.retransmits,
                                plis: t.counters.plis,
                            })
                            .collect(),
                        subscribed: p
                            .downtracks
                            .values()
                            .map(|d| SubscribedStats {
                                track_id: d.track.0,
                                publisher_id: self
                                    .tracks
                                    .get(&d.track)
                                    .map(|t| t.owner_id.0.clone())
                                    .unwrap_or_default(),
                                packets: d.counters.packets,
                                bytes: d.counters.bytes,
                                bitrate_bps: d.counters.bitrate.bps(now),
                                packets_dropped: d.counters.dropped_total(),
                                dropped: DropReason::ALL
                                    .iter()
                                    .map(|r| (r.as_str(), d.counters.dropped[r.index()]))
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        SfuStats {
            ingress: self.ingress,
            rooms,
            tables: self.table_sizes(),
        }
    }
}
