//! Snapshots of the live counters.

use super::Sfu;
use crate::core::ids::RoomId;
use crate::core::report::{
    LayerStats, ParticipantStats, PublishedStats, RoomStats, SfuStats, SfuSummary, SubscribedStats,
    TableSizes,
};
use crate::core::rooms::Room;
use crate::core::session::Session;
use crate::core::stats::Tally;
use std::time::Instant;

impl Sfu {
    /// A snapshot of every counter.
    pub fn stats(&self, now: Instant) -> SfuStats {
        // Every session belongs to exactly one room, so the rooms' tallies add up to the
        // live part of the totals.
        let mut totals = self.retired;
        let mut rooms: Vec<RoomStats> = self
            .rooms
            .iter()
            .map(|(id, room)| {
                let report = self.room_report(id, room, now);
                totals.add(&report.totals);
                report
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        SfuStats {
            ingress: self.ingress,
            totals,
            rooms,
            tables: self.table_sizes(),
            workers: Vec::new(),
        }
    }

    /// The SFU-wide figures without the per-room reports. Every session belongs to exactly
    /// one room, so these totals equal [`Sfu::stats`]'s.
    pub fn summary(&self) -> SfuSummary {
        let mut totals = self.retired;
        for s in self.sessions.iter() {
            totals.add(&self.tally(s));
        }
        SfuSummary {
            ingress: self.ingress,
            totals,
            tables: self.table_sizes(),
            workers: Vec::new(),
        }
    }

    /// A snapshot of one room's counters.
    pub fn room_stats(&self, room: &RoomId, now: Instant) -> Option<RoomStats> {
        self.rooms.get(room).map(|r| self.room_report(room, r, now))
    }

    /// Sizes of the routing tables, the track table and the timers.
    pub fn table_sizes(&self) -> TableSizes {
        let routes = self.routes.sizes();
        TableSizes {
            rooms: self.rooms.len(),
            sessions: self.sessions.len(),
            ufrags: routes.ufrags,
            addresses: routes.addresses,
            tracks: self.tracks.len(),
            down_tracks: self.tracks.downtrack_count(),
            timers: self.timers.len(),
            links: self.sendpath.len(),
            hidden_views: self.views.len(),
        }
    }

    fn room_report(&self, id: &RoomId, room: &Room, now: Instant) -> RoomStats {
        let members = || room.members().iter().filter_map(|&m| self.sessions.get(m));
        let mut totals = Tally::default();
        for s in members() {
            totals.add(&self.tally(s));
        }
        RoomStats {
            name: id.0.clone(),
            worker: self.config.worker,
            forwarding: room.forwarding(),
            created_at: room.created_at,
            totals,
            participants: members().map(|s| self.participant_report(s, now)).collect(),
            active_speaker: room
                .dominant_speaker()
                .and_then(|k| self.sessions.get(k))
                .map(|s| s.participant.0.clone()),
        }
    }

    /// The counters of a session's published tracks and subscriptions.
    fn tally(&self, s: &Session) -> Tally {
        self.tracks.tally(s.published(), s.id, s.subscriptions())
    }

    fn participant_report(&self, s: &Session, now: Instant) -> ParticipantStats {
        ParticipantStats {
            id: s.participant.0.clone(),
            state: s.state,
            rtt_ms: s.rtt.map(|d| d.as_secs_f64() * 1000.0),
            feedback: self.sendpath.feedback(s.id),
            bandwidth_estimate_bps: self.sendpath.estimator(s.id).map(|e| e.bps()),
            selected_candidate: s.selected.clone(),
            joined_at: self.config.wall_clock(s.joined_at),
            published: s
                .published()
                .filter_map(|t| self.tracks.get(t))
                .map(|t| PublishedStats {
                    track_id: t.id.0,
                    kind: t.kind,
                    codec: t.codec_name.as_str(),
                    ssrc: t.layers[0].ssrc,
                    bitrate_bps: t.bitrate.bps(now),
                    layers: t
                        .layers
                        .iter()
                        .map(|l| LayerStats {
                            rid: l.rid.clone(),
                            ssrc: l.ssrc,
                            bitrate_bps: l.bitrate.bps(now),
                            width: l.size.map(|s| s.0),
                            height: l.size.map(|s| s.1),
                            active: l.active(now),
                        })
                        .collect(),
                    counters: t.counters,
                })
                .collect(),
            subscribed: s
                .subscriptions()
                .filter_map(|tid| Some((self.tracks.get(tid)?, self.tracks.downtrack(s.id, tid)?)))
                .map(|(t, d)| SubscribedStats {
                    track_id: t.id.0,
                    publisher_id: t.owner_id.0.clone(),
                    kind: t.kind,
                    bitrate_bps: d.bitrate.bps(now),
                    layer: d.layer,
                    target_layer: d.target,
                    counters: d.counters,
                })
                .collect(),
        }
    }
}
