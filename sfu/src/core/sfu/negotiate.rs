//! Offers, answers and candidates from signaling, and the SFU's own offers.

use super::{Event, IceCandidate, Sfu};
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, SessionId, TrackId};
use crate::core::session::TransportState;
use std::time::Instant;

impl Sfu {
    /// Applies the participant's offer and returns the SFU's answer.
    pub fn handle_offer(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        sdp: String,
    ) -> Result<String, SfuError> {
        self.observe(now);
        let id = self.session_of(participant)?;
        let s = self.session_mut(id)?;
        let first = !s.negotiated_once();
        let result = s.accept_offer(sdp, now);
        if result.is_ok() && first {
            for tid in s.take_deferred() {
                self.subscribe(id, tid, now);
            }
        }
        // Even a refused offer may have rolled back one of ours, to be made again.
        self.sessions.mark(id);
        self.run(now);
        result
    }

    /// Applies the participant's answer to the SFU's last offer. A refused answer withdraws
    /// that offer, and a fresh one follows after a backoff.
    pub fn handle_answer(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        sdp: String,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let id = self.session_of(participant)?;
        let result = self.session_mut(id)?.accept_answer(sdp, now);
        self.sessions.mark(id);
        self.run(now);
        result
    }

    /// The participant's answer was refused before it reached the SFU (malformed or too
    /// large): the SFU's offer is withdrawn, and a fresh one follows after a backoff.
    pub fn handle_answer_refused(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        reason: &str,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let id = self.session_of(participant)?;
        self.session_mut(id)?.answer_refused(now, reason);
        self.sessions.mark(id);
        self.run(now);
        Ok(())
    }

    /// Adds a remote ICE candidate. The SFU is ICE-lite, so this only helps it learn
    /// addresses early; connectivity checks from the client are what bind an address.
    pub fn handle_candidate(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        candidate: IceCandidate,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let id = self.session_of(participant)?;
        if candidate.candidate.len() > 1024 {
            return Err(SfuError::BadCandidate("candidate too long".into()));
        }
        if candidate.candidate.is_empty() {
            return Ok(()); // end-of-candidates
        }
        self.session_mut(id)?.add_candidate(candidate)?;
        self.sessions.mark(id);
        self.run(now);
        Ok(())
    }

    fn session_mut(
        &mut self,
        id: SessionId,
    ) -> Result<&mut crate::core::session::Session, SfuError> {
        self.sessions
            .get_mut(id)
            .ok_or_else(|| SfuError::Rtc("session state missing".into()))
    }

    /// A session's negotiation step, after its output was drained: learn the payload types
    /// of subscriptions whose m-section is now agreed to send, ask their publishers for a
    /// keyframe, and make the SFU's next offer if one is due.
    pub(super) fn negotiate(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        let waiting = |tid: &TrackId| {
            self.tracks
                .downtrack(id, *tid)
                .is_some_and(|dt| dt.out.is_none())
        };
        // Most calls come with media, when nothing waits: no list is made for them.
        let pending: Vec<TrackId> = if s.subscriptions().any(|t| waiting(&t)) {
            s.subscriptions().filter(waiting).collect()
        } else {
            Vec::new()
        };
        let mut started = Vec::new();
        for tid in pending {
            let Some(track) = self.tracks.get(tid) else {
                continue;
            };
            if let Some(out) = s.negotiated(tid, &track.codec)
                && let Some(dt) = self.tracks.downtrack_mut(id, tid)
            {
                dt.out = Some(out);
                started.push(tid);
            }
        }
        if let Some(sdp) = s.poll_offer(now) {
            self.outbox.event(Event::Offer {
                participant: s.participant.clone(),
                session: id,
                sdp,
            });
        }
        let connected = self
            .sessions
            .get(id)
            .is_some_and(|s| s.state == TransportState::Connected);
        if connected {
            if !started.is_empty() && !self.sendpath.is_ready(id) {
                // The transport came up while every m-section was inactive, so the send path
                // could not reach it then; now one sends.
                self.start_sending(id, now);
            }
            for tid in started {
                self.request_keyframe_for(id, tid, now);
            }
        }
    }
}
