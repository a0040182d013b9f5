//! A session's offer/answer exchanges with the client, and the senders its subscriptions
//! ride on.
//!
//! The client makes the first offer. The SFU offers after that, when tracks come and go: one
//! offer at a time, made again after a refusal or a silence ([`super::offers`]). A sender
//! whose subscription ended keeps its m-section, inactive, for the next subscription of its
//! kind (RFC 8829 lets a session recycle an m-section): a session's SDP then stays the size of
//! the tracks live now, however many came and went.

use super::offers::Offers;
use crate::core::codec::CodecParams;
use crate::core::codec::Kind;
use crate::core::downtrack::Negotiated;
use crate::core::error::{SfuError, rtc_err};
use crate::core::forwarder::Forwarder;
use crate::core::ids::{ParticipantId, TrackId};
use crate::core::session::MAX_SDP_BYTES;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters,
};
use rtc::rtp_transceiver::{
    RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverId, RTCRtpTransceiverInit,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The sender of one subscription, in the subscriber's session.
#[derive(Debug)]
pub(crate) struct Sender {
    pub(crate) transceiver: RTCRtpTransceiverId,
    /// Id of the local track (how RTCP from the subscriber is addressed).
    pub(crate) local_track_id: String,
    kind: Kind,
}

/// The sending m-section of a subscription that ended, kept for the next subscription of the
/// same kind. The m-section goes inactive in the next exchange and, once that exchange is
/// done, carries the next track. Its Forwarder stays with it, so that the subscriber sees one
/// continuous SSRC, sequence and timestamp space on the m-section.
struct FreeSender {
    transceiver: RTCRtpTransceiverId,
    kind: Kind,
    forwarder: Forwarder,
    /// The first exchange that can have made the m-section inactive: the one that begins
    /// after it was freed.
    usable_from: u64,
}

/// The exchanges of one session.
#[derive(Default)]
pub(crate) struct Negotiation {
    offers: Offers,
    negotiated_once: bool,
    /// Something changed (a sender added or freed) that only an offer of ours can tell.
    needed: bool,
    free_senders: Vec<FreeSender>,
    /// The SSRCs of the last client offer's `a=ssrc` lines.
    remote_ssrcs: HashSet<u32>,
}

impl Negotiation {
    /// Whether the client has made its first offer.
    pub(crate) fn negotiated_once(&self) -> bool {
        self.negotiated_once
    }

    /// The SSRCs the last applied client offer announced.
    pub(crate) fn take_remote_ssrcs(&mut self) -> HashSet<u32> {
        std::mem::take(&mut self.remote_ssrcs)
    }

    /// Whether our offer has waited for its answer too long, and is about to be made again.
    pub(crate) fn answer_overdue(&self, now: Instant) -> bool {
        self.offers.awaits_answer() && self.offers.may_offer(false, now)
    }

    /// When an offer of ours is due again, after a failure or a silence.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.offers.poll_timeout()
    }

    /// Applies the client's offer and returns the SFU's answer. A refused offer leaves the
    /// session as it was before it.
    pub(crate) fn accept_offer(
        &mut self,
        pc: &mut RTCPeerConnection,
        sdp: String,
        now: Instant,
    ) -> Result<String, SfuError> {
        check_sdp_size(&sdp)?;
        if self.offers.holds_local_offer() {
            // Glare: the client's offer wins; ours is rolled back and made again afterwards.
            let rollback = RTCSessionDescription::rollback(None).map_err(rtc_err)?;
            pc.set_local_description(now, rollback).map_err(rtc_err)?;
            self.offers.handle_withdrawn();
            self.needed = true;
        }
        let remote_ssrcs = announced_ssrcs(&sdp);
        let offer =
            RTCSessionDescription::offer(sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        pc.set_remote_description(now, offer)
            .map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let answered = pc.create_answer(None).and_then(|answer| {
            pc.set_local_description(now, answer.clone())?;
            Ok(answer)
        });
        let answer = match answered {
            Ok(answer) => answer,
            Err(e) => {
                // Back to stable, so that the next offer from either side can be applied.
                if let Ok(rollback) = RTCSessionDescription::rollback(None) {
                    let _ = pc.set_remote_description(now, rollback);
                }
                return Err(SfuError::BadSdp(e.to_string()));
            }
        };
        self.remote_ssrcs = remote_ssrcs;
        self.offers.handle_client_offer();
        self.negotiated_once = true;
        Ok(pc.local_description().map(|d| d.sdp).unwrap_or(answer.sdp))
    }

    /// Applies the client's answer to an offer the SFU made. A refused answer withdraws that
    /// offer, and a fresh one is made after the wait it returns with the error.
    pub(crate) fn accept_answer(
        &mut self,
        pc: &mut RTCPeerConnection,
        sdp: String,
        now: Instant,
    ) -> Result<(), (SfuError, Option<Duration>)> {
        if !self.offers.awaits_answer() {
            return Err((
                SfuError::BadSdp("no offer is waiting for an answer".into()),
                None,
            ));
        }
        let applied = check_sdp_size(&sdp).and_then(|()| {
            let answer =
                RTCSessionDescription::answer(sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
            pc.set_remote_description(now, answer)
                .map_err(|e| SfuError::BadSdp(e.to_string()))
        });
        match applied {
            Ok(()) => {
                self.offers.handle_answered();
                Ok(())
            }
            Err(e) => Err((e, self.offers.handle_refused(now))),
        }
    }

    /// The client's answer was refused before it reached the SFU (by the signaling layer).
    /// Returns the wait before the fresh offer, or `None` if no answer was awaited.
    pub(crate) fn answer_refused(&mut self, now: Instant) -> Option<Duration> {
        self.offers.handle_refused(now)
    }

    /// Makes an offer if one is needed and none is in flight, or if a failed one's wait is
    /// over. A fresh offer after a refusal replaces the refused one in place (RFC 8829 lets
    /// an offerer set a new offer while one is pending): the m-sections keep their mids, so
    /// a client that applied the refused offer can apply this one too.
    pub(crate) fn poll_offer(
        &mut self,
        pc: &mut RTCPeerConnection,
        now: Instant,
    ) -> Result<Option<String>, SfuError> {
        if !self.negotiated_once || !self.offers.may_offer(self.needed, now) {
            return Ok(None);
        }
        let made = pc.create_offer(None).and_then(|offer| {
            pc.set_local_description(now, offer.clone())?;
            Ok(offer)
        });
        let offer = match made {
            Ok(offer) => offer,
            Err(e) => {
                let wait = self.offers.handle_offer_failed(now);
                return Err(SfuError::Rtc(format!("{e}; trying again in {wait:?}")));
            }
        };
        self.needed = false;
        self.offers.handle_offered(now);
        Ok(Some(
            pc.local_description().map(|d| d.sdp).unwrap_or(offer.sdp),
        ))
    }

    /// A sender for `track`: the m-section of an ended subscription of the same kind if one
    /// is free, else a new transceiver. Returns it with the Forwarder that feeds it.
    pub(crate) fn add_sender(
        &mut self,
        pc: &mut RTCPeerConnection,
        track: TrackId,
        owner: &ParticipantId,
        kind: Kind,
        codec: RTCRtpCodec,
    ) -> Result<(Sender, Forwarder), SfuError> {
        let local_track_id = format!("{owner}-{track}");
        let free = self.take_free_sender(pc, kind);
        let ssrc = free
            .as_ref()
            .map_or_else(rand::random::<u32>, |f| f.forwarder.out_ssrc());
        let clock_rate = codec.clock_rate;
        let local = MediaStreamTrack::new(
            owner.0.clone(),
            local_track_id.clone(),
            format!("{owner} {track}"),
            kind.to_rtc(),
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        );
        let (transceiver, forwarder) = match free {
            Some(mut free) => {
                // rtc hands out a sender only while its transceiver sends. Should the track
                // not take, the m-section goes back to inactive, and stays free.
                set_direction(pc, free.transceiver, RTCRtpTransceiverDirection::Sendonly);
                let replaced = match pc.rtp_sender(RTCRtpSenderId::from(free.transceiver)) {
                    Some(mut sender) => sender.replace_track(local).map_err(rtc_err),
                    None => Err(SfuError::Rtc("free sender is gone".into())),
                };
                if let Err(e) = replaced {
                    set_direction(pc, free.transceiver, RTCRtpTransceiverDirection::Inactive);
                    self.free_senders.push(free);
                    return Err(e);
                }
                // Numbering carries on from the last track; the new one starts on a keyframe.
                free.forwarder.reassign();
                (free.transceiver, free.forwarder)
            }
            None => {
                // A transceiver of its own, never one of the subscriber's publishing ones:
                // those negotiated only the subscriber's own codec, and reusing them would tie
                // the two.
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![],
                    send_encodings: vec![],
                };
                let id = pc
                    .add_transceiver_from_track(local, Some(init))
                    .map_err(rtc_err)?;
                (id, Forwarder::new(ssrc, clock_rate, kind == Kind::Video))
            }
        };
        self.needed = true;
        let sender = Sender {
            transceiver,
            local_track_id,
            kind,
        };
        Ok((sender, forwarder))
    }

    /// Frees a sender whose subscription ended: its m-section goes inactive in the next
    /// exchange, and it waits, with `forwarder`, for the next subscription of its kind.
    pub(crate) fn remove_sender(
        &mut self,
        pc: &mut RTCPeerConnection,
        sender: Sender,
        forwarder: Forwarder,
    ) {
        set_direction(pc, sender.transceiver, RTCRtpTransceiverDirection::Inactive);
        self.free_senders.push(FreeSender {
            transceiver: sender.transceiver,
            kind: sender.kind,
            forwarder,
            usable_from: self.offers.next_exchange(),
        });
        self.needed = true;
    }

    /// A free sender of `kind` whose m-section both sides have agreed is inactive, in an
    /// exchange that began after it was freed (one already under way may still carry the
    /// departed track, and its answer would make the m-section send again). One still on its
    /// way to inactive is not reused: the client would see the m-section carry another track
    /// with no pause between, and browsers fire no `track` event for that.
    fn take_free_sender(&mut self, pc: &mut RTCPeerConnection, kind: Kind) -> Option<FreeSender> {
        let completed = self.offers.completed();
        let i = self.free_senders.iter().position(|f| {
            f.kind == kind
                && completed >= f.usable_from
                && pc
                    .rtp_transceiver(f.transceiver)
                    .is_some_and(|t| t.current_direction() == RTCRtpTransceiverDirection::Inactive)
        })?;
        Some(self.free_senders.swap_remove(i))
    }
}

/// The payload type `sender` sends `codec` with, once both sides have agreed that its
/// m-section sends: `None` while that exchange is still under way.
pub(crate) fn negotiated(
    pc: &mut RTCPeerConnection,
    sender: &Sender,
    codec: &CodecParams,
) -> Option<Negotiated> {
    let sending = pc
        .rtp_transceiver(sender.transceiver)
        .is_some_and(|t| t.current_direction().has_send());
    if !sending {
        return None;
    }
    let mut s = pc.rtp_sender(RTCRtpSenderId::from(sender.transceiver))?;
    let params = &s.get_parameters().rtp_parameters;
    let codecs = &params.codecs;
    let same_mime = |c: &&rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters| {
        c.rtp_codec.mime_type.eq_ignore_ascii_case(&codec.mime_type)
    };
    let payload_type = codecs
        .iter()
        .filter(same_mime)
        .find(|c| c.rtp_codec.sdp_fmtp_line == codec.fmtp)
        .or_else(|| codecs.iter().find(same_mime))
        .map(|c| c.payload_type)?;
    let twcc_ext = super::config::extension_id(params, rtc::sdp::extmap::TRANSPORT_CC_URI);
    Some(Negotiated {
        payload_type,
        twcc_ext,
    })
}

fn set_direction(
    pc: &mut RTCPeerConnection,
    transceiver: RTCRtpTransceiverId,
    direction: RTCRtpTransceiverDirection,
) {
    if let Some(mut t) = pc.rtp_transceiver(transceiver) {
        t.set_direction(direction);
    }
}

fn check_sdp_size(sdp: &str) -> Result<(), SfuError> {
    if sdp.len() > MAX_SDP_BYTES {
        Err(SfuError::SdpTooLarge(sdp.len()))
    } else {
        Ok(())
    }
}

/// The SSRCs of `a=ssrc:` lines, so that RTP with any other SSRC can be counted and dropped.
fn announced_ssrcs(sdp: &str) -> HashSet<u32> {
    if sdp.lines().any(|l| l.starts_with("a=simulcast:")) {
        // Simulcast layers are named by their rid, not announced by SSRC: the stack binds
        // each new SSRC to its layer (or drops it) from the header extensions.
        return HashSet::new();
    }
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=ssrc:"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_ssrcs_are_collected() {
        let sdp = "v=0\r\na=ssrc:123 cname:x\r\na=ssrc:123 msid:a b\r\na=ssrc:456 cname:x\r\na=ssrc:bad\r\n";
        let s = announced_ssrcs(sdp);
        assert_eq!(s.len(), 2);
        assert!(s.contains(&123) && s.contains(&456));
        let simulcast = format!("{sdp}a=simulcast:send q;h;f\r\n");
        assert!(announced_ssrcs(&simulcast).is_empty(), "no filter by SSRC");
    }
}
