//! How long a room takes to move from P2P to the SFU, for the metrics.
//!
//! The move counts as done when every member's SFU session is connected and receives
//! forwarded media on a subscription to every track the other members publish. That is what
//! a person in the call notices, and it includes negotiating a newcomer's session.

use crate::rooms::ModeSwitch;
use crate::state::AppState;
use sfu::RoomId;
use sfu::{RoomStats, TransportState};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Longer than this and the move counts as timed out.
pub const SWITCH_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// How long the moved state must hold before it counts.
const STABLE_FOR: Duration = Duration::from_millis(500);

/// Packets each subscription had sent, by (subscriber, track).
type Sent = HashMap<(String, u64), u64>;

/// Watches the room's counters from `started` (the decision to move, `switch`) and records
/// the time. Gives up quietly if a later switch overtakes it or the room disappears first.
pub async fn measure(state: AppState, switch: ModeSwitch, started: Instant) {
    let room = switch.room.clone();
    let id = RoomId(room.clone());
    let before = match state.sfu.room_stats(id.clone()).await {
        Ok(Some(rs)) => sent(&rs),
        _ => return,
    };
    let mut done_at: Option<Instant> = None;
    loop {
        tokio::time::sleep(POLL).await;
        if !state.rooms.is_current(&switch) {
            return;
        }
        let Ok(Some(rs)) = state.sfu.room_stats(id.clone()).await else {
            return;
        };
        let now = Instant::now();
        if moved(&rs, &before) {
            // A member may connect before its tracks are published; only a state that holds
            // for a while counts, timed from when it first held.
            let since = *done_at.get_or_insert(now);
            if now - since >= STABLE_FOR {
                let took = since - started;
                info!(%room, ms = took.as_millis() as u64, "room moved to the SFU");
                state.metrics.switched_to_sfu(took);
                return;
            }
            continue;
        }
        done_at = None;
        if started.elapsed() > SWITCH_TIMEOUT {
            warn!(%room, "room did not finish moving to the SFU in time");
            state.metrics.switch_timed_out();
            return;
        }
    }
}

fn sent(rs: &RoomStats) -> Sent {
    rs.participants
        .iter()
        .flat_map(|p| {
            p.subscribed
                .iter()
                .map(|s| ((p.id.clone(), s.track_id), s.counters.packets))
        })
        .collect()
}

/// Whether every member is connected and has received media, since `before`, on a
/// subscription to each of the other members' tracks.
fn moved(rs: &RoomStats, before: &Sent) -> bool {
    let published: usize = rs.participants.iter().map(|p| p.published.len()).sum();
    rs.participants.iter().all(|p| {
        p.state == TransportState::Connected
            && p.subscribed.len() == published - p.published.len()
            && p.subscribed.iter().all(|s| {
                s.counters.packets
                    > before
                        .get(&(p.id.clone(), s.track_id))
                        .copied()
                        .unwrap_or(0)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sfu::{Kind, ParticipantStats, PublishedStats, SubscribedStats, Tally};
    use std::time::SystemTime;

    fn published(track_id: u64) -> PublishedStats {
        PublishedStats {
            track_id,
            kind: Kind::Video,
            codec: "VP8",
            ssrc: 1,
            bitrate_bps: 0,
            layers: Vec::new(),
            counters: Default::default(),
        }
    }

    fn subscribed(track_id: u64, packets: u64) -> SubscribedStats {
        SubscribedStats {
            track_id,
            publisher_id: String::new(),
            kind: Kind::Video,
            bitrate_bps: 0,
            layer: Some(0),
            target_layer: 0,
            counters: sfu::DownTrackCounters {
                packets,
                ..Default::default()
            },
        }
    }

    fn member(id: &str, publishes: u64, receives: &[(u64, u64)]) -> ParticipantStats {
        ParticipantStats {
            id: id.into(),
            state: TransportState::Connected,
            rtt_ms: None,
            feedback: None,
            bandwidth_estimate_bps: None,
            selected_candidate: None,
            joined_at: SystemTime::UNIX_EPOCH,
            published: vec![published(publishes)],
            subscribed: receives.iter().map(|&(t, n)| subscribed(t, n)).collect(),
        }
    }

    fn room(participants: Vec<ParticipantStats>) -> RoomStats {
        RoomStats {
            worker: 0,
            forwarding: true,
            name: "r".into(),
            created_at: SystemTime::UNIX_EPOCH,
            totals: Tally::default(),
            participants,
            active_speaker: None,
        }
    }

    #[test]
    fn done_only_when_every_subscription_carries_new_media() {
        let before = room(vec![
            member("a", 1, &[(2, 5)]),
            member("b", 2, &[(1, 5)]),
            member("c", 3, &[]),
        ]);
        let base = sent(&before);
        // The newcomer has no subscriptions yet.
        assert!(!moved(&before, &base));
        let mut now = room(vec![
            member("a", 1, &[(2, 9), (3, 1)]),
            member("b", 2, &[(1, 9), (3, 1)]),
            member("c", 3, &[(1, 1), (2, 1)]),
        ]);
        assert!(moved(&now, &base));
        // One subscription still at its count from before the move.
        now.participants[0].subscribed[0].counters.packets = 5;
        assert!(!moved(&now, &base));
        now.participants[0].subscribed[0].counters.packets = 6;
        now.participants[2].state = TransportState::New;
        assert!(!moved(&now, &base));
    }
}
