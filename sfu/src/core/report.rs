//! Snapshots of the live counters, for the admin API and the tests.

use crate::core::Sfu;
use crate::core::ids::RoomId;
use crate::core::participant::{Participant, TransportState};
use crate::core::room::Room;
use crate::core::stats::{IngressCounters, Tally};
use crate::core::track::Kind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

/// Everything the media worker counts, at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct SfuStats {
    /// Datagrams not attributed to a session, by reason.
    pub ingress: IngressCounters,
    /// Media counters since the SFU started, including sessions that have left.
    pub totals: Totals,
    /// Every room, by name.
    pub rooms: Vec<RoomStats>,
    /// Routing-table sizes, so that leaks show: sessions, their ICE username fragments,
    /// the remote addresses bound to them, and published tracks.
    pub tables: TableSizes,
}

/// The SFU-wide figures alone, without a report per room: what metrics scrape, at the cost
/// of one pass over the sessions' counters.
#[derive(Debug, Clone, Serialize)]
pub struct SfuSummary {
    /// Datagrams not attributed to a session, by reason.
    pub ingress: IngressCounters,
    /// Media counters since the SFU started, including sessions that have left.
    pub totals: Totals,
    /// Routing-table sizes.
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
    /// Media counters of its current sessions.
    pub totals: Totals,
    /// Its sessions.
    pub participants: Vec<ParticipantStats>,
}

/// Media counters summed over tracks and subscriptions.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP bytes received from publishers.
    pub bytes_in: u64,
    /// RTP packets forwarded to subscribers.
    pub packets_out: u64,
    /// RTP bytes forwarded to subscribers.
    pub bytes_out: u64,
    /// Packets not forwarded, all reasons.
    pub packets_dropped: u64,
    /// Packets not forwarded, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Packets missing from publishers' sequences.
    pub packets_lost: u64,
    /// Packets subscribers NACKed.
    pub nacks: u64,
    /// NACKed packets re-sent from the cache.
    pub retransmits: u64,
    /// Keyframe requests sent to publishers.
    pub plis: u64,
}

impl From<&Tally> for Totals {
    fn from(t: &Tally) -> Totals {
        Totals {
            packets_in: t.packets_in,
            bytes_in: t.bytes_in,
            packets_out: t.packets_out,
            bytes_out: t.bytes_out,
            packets_dropped: t.dropped_total(),
            dropped: t.dropped_by_reason().collect(),
            packets_lost: t.packets_lost,
            nacks: t.nacks,
            retransmits: t.retransmits,
            plis: t.plis,
        }
    }
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
        // Every session belongs to exactly one room, so the rooms' tallies add up to the
        // live part of the totals.
        let mut totals = self.retired;
        let mut rooms: Vec<RoomStats> = self
            .rooms
            .values()
            .map(|room| {
                let (report, tally) = self.room_report(room, now);
                totals.add(&tally);
                report
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        SfuStats {
            ingress: self.ingress,
            totals: Totals::from(&totals),
            rooms,
            tables: self.table_sizes(),
        }
    }

    /// The SFU-wide figures without the per-room reports. Every session belongs to exactly
    /// one room, so these totals equal [`Sfu::stats`]'s.
    pub fn summary(&self) -> SfuSummary {
        let mut totals = self.retired;
        for p in self.participants.values() {
            totals.add(&self.tally(p));
        }
        SfuSummary {
            ingress: self.ingress,
            totals: Totals::from(&totals),
            tables: self.table_sizes(),
        }
    }

    /// A snapshot of one room's counters.
    pub fn room_stats(&self, room: &RoomId, now: Instant) -> Option<RoomStats> {
        self.rooms.get(room).map(|r| self.room_report(r, now).0)
    }

    /// The room's report, and the tally of its sessions' counters behind its totals.
    fn room_report(&self, room: &Room, now: Instant) -> (RoomStats, Tally) {
        let members = || {
            room.participants
                .iter()
                .filter_map(|k| self.participants.get(k))
        };
        let mut tally = Tally::default();
        for p in members() {
            tally.add(&self.tally(p));
        }
        let report = RoomStats {
            name: room.id.0.clone(),
            created_at: room.created_at,
            totals: Totals::from(&tally),
            participants: members().map(|p| self.participant_report(p, now)).collect(),
        };
        (report, tally)
    }

    /// The counters of a session's published tracks and subscriptions.
    fn tally(&self, p: &Participant) -> Tally {
        let mut t = Tally::default();
        for track in p.published.values().filter_map(|id| self.tracks.get(id)) {
            t.add_track(&track.counters);
        }
        for dt in p.downtracks.values() {
            t.add_downtrack(&dt.counters);
        }
        t
    }

    fn participant_report(&self, p: &Participant, now: Instant) -> ParticipantStats {
        ParticipantStats {
            id: p.id.0.clone(),
            state: p.state,
            rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
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
                    dropped: d.counters.dropped_by_reason().collect(),
                })
                .collect(),
        }
    }
}
