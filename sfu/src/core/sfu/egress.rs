//! The send path's links to the sessions' transports: made when a transport comes up, moved
//! when its selected ICE pair moves, and woken to send its sender reports.

use super::Sfu;
use crate::core::ids::SessionId;
use crate::core::sendpath::REPORT_INTERVAL;
use crate::core::stats::ntp_time;
use crate::core::timers::TimerOf;
use std::time::Instant;
use tracing::{debug, warn};

impl Sfu {
    /// The session's transport is up: its subscriptions are sent on the SFU's own path.
    /// Called again once an m-section sends, if the transport could not be reached before.
    pub(super) fn start_sending(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        let Some((keys, to)) = s.send_transport() else {
            // Every m-section is inactive (a member that only watches, before its first
            // subscription): the next one that sends brings the send path up.
            debug!(participant = %s.participant, "connected; the send path waits for an m-section that sends");
            return;
        };
        if let Err(e) = self.sendpath.handle_connected(id, &keys, to, now) {
            warn!(participant = %s.participant, "nothing can be forwarded to it: {e}");
            return;
        }
        debug!(participant = %s.participant, profile = ?keys.profile, %to, "send path up");
        // Spread the sessions' reports over the interval rather than send them all at once.
        let first = REPORT_INTERVAL.mul_f64(rand::random_range(0.5..1.0));
        self.timers.set(TimerOf::Reports(id), Some(now + first));
    }

    /// The session's transport is gone.
    pub(super) fn stop_sending(&mut self, id: SessionId) {
        self.sendpath.remove(id);
        self.timers.set(TimerOf::Reports(id), None);
    }

    /// A connectivity check arrived: the participant may have moved its selected pair.
    pub(super) fn refresh_destination(&mut self, id: SessionId) {
        if !self.sendpath.is_ready(id) {
            return;
        }
        if let Some(to) = self.sessions.get_mut(id).and_then(|s| s.destination()) {
            self.sendpath.handle_destination(id, to);
        }
    }

    /// Sends the sender reports of the session's streams, and sets the next.
    pub(super) fn send_reports(&mut self, id: SessionId, now: Instant) {
        if !self.sendpath.is_ready(id) {
            return;
        }
        let ntp = ntp_time(self.config.wall_clock(now));
        self.sendpath.send_reports(id, now, ntp);
        self.timers
            .set(TimerOf::Reports(id), Some(now + REPORT_INTERVAL));
    }
}
