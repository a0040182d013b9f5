//! Participant: one WebRTC session with the SFU, its published Tracks and its DownTracks.

use crate::core::downtrack::{DownTrack, FreeSender};
use crate::core::error::{SfuError, rtc_err};
use crate::core::forwarder::Forwarder;
use crate::core::ids::{ParticipantId, RoomId, TrackId};
use crate::core::media;
use crate::core::negotiation::{ANSWER_TIMEOUT, Offers};
use crate::core::stats::DownTrackCounters;
use crate::core::throttle::Throttle;
use crate::core::track::{Kind, Track};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::warn;

/// The largest session description the SFU accepts.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// How many remote addresses one session may bind (ICE may try several candidates).
const MAX_ADDRS: usize = 8;

/// Where the session's transport is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportState {
    /// Waiting for ICE and DTLS.
    New,
    /// Media can flow.
    Connected,
    /// ICE or DTLS failed, or the peer went away.
    Failed,
    /// Closed by the SFU.
    Closed,
}

/// One WebRTC session.
pub struct Participant {
    /// The id the signaling layer gave.
    pub id: ParticipantId,
    /// The room this session belongs to.
    pub room: RoomId,
    pub(crate) pc: RTCPeerConnection,
    pub(crate) ice_ufrag: String,
    pub(crate) ice_pwd: String,
    /// Remote addresses verified by a STUN check with our credentials.
    pub(crate) addrs: Vec<SocketAddr>,
    /// Published tracks by the SSRC they arrive with.
    pub(crate) by_ssrc: HashMap<u32, TrackId>,
    /// Published tracks by the session's receiver track id.
    pub(crate) published: HashMap<String, TrackId>,
    /// SSRCs the remote description announced; empty when it announced none.
    pub(crate) remote_ssrcs: HashSet<u32>,
    /// Subscriptions, by the track they forward.
    pub(crate) downtracks: HashMap<TrackId, DownTrack>,
    /// Subscriptions by the local track id that RTCP feedback names.
    pub(crate) by_local_track: HashMap<String, TrackId>,
    /// Senders of ended subscriptions, kept for the next subscriptions of their kind.
    free_senders: Vec<FreeSender>,
    /// Tracks to subscribe to once the first negotiation is done.
    pub(crate) pending_subscriptions: Vec<TrackId>,
    pub(crate) negotiated_once: bool,
    /// The SFU's own offers: one at a time, and made again when an answer is refused.
    offers: Offers,
    /// The session's refused offers and answers, for the log.
    pub(crate) refusals: Throttle,
    pub(crate) negotiation_needed: bool,
    /// Transport state, as last reported by the WebRTC stack.
    pub state: TransportState,
    /// When the session joined.
    pub joined_at: Instant,
    /// The latest round-trip time its receiver reports gave.
    pub rtt: Option<std::time::Duration>,
}

impl Participant {
    pub(crate) fn new(
        id: ParticipantId,
        room: RoomId,
        announce: SocketAddr,
        now: Instant,
    ) -> Result<Participant, SfuError> {
        let ice_ufrag = random_token(16);
        let ice_pwd = random_token(32);
        let setting_engine = SettingEngineBuilder::new()
            .with_lite(true)
            .with_ice_credentials(ice_ufrag.clone(), ice_pwd.clone())
            .build();
        let mut media_engine = media::media_engine().map_err(rtc_err)?;
        let registry = media::registry(&mut media_engine).map_err(rtc_err)?;
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(setting_engine)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(rtc_err)?;
        media::add_host_candidate(&mut pc, announce).map_err(rtc_err)?;
        Ok(Participant {
            id,
            room,
            pc,
            ice_ufrag,
            ice_pwd,
            addrs: Vec::new(),
            by_ssrc: HashMap::new(),
            published: HashMap::new(),
            remote_ssrcs: HashSet::new(),
            downtracks: HashMap::new(),
            by_local_track: HashMap::new(),
            free_senders: Vec::new(),
            pending_subscriptions: Vec::new(),
            negotiated_once: false,
            offers: Offers::default(),
            refusals: Throttle::default(),
            negotiation_needed: false,
            state: TransportState::New,
            joined_at: now,
            rtt: None,
        })
    }

    /// Binds a verified remote address. Returns the address evicted to stay within the bound.
    pub(crate) fn bind_addr(&mut self, addr: SocketAddr) -> Option<SocketAddr> {
        if self.addrs.contains(&addr) {
            return None;
        }
        self.addrs.push(addr);
        (self.addrs.len() > MAX_ADDRS).then(|| self.addrs.remove(0))
    }

    /// Applies the client's offer and returns the SFU's answer. A refused offer leaves the
    /// session as it was before it.
    pub(crate) fn accept_offer(&mut self, sdp: String, now: Instant) -> Result<String, SfuError> {
        check_sdp_size(&sdp)?;
        if self.offers.holds_local_offer() {
            // Glare: the client's offer wins; ours is rolled back and made again afterwards.
            let rollback = RTCSessionDescription::rollback(None).map_err(rtc_err)?;
            self.pc
                .set_local_description(now, rollback)
                .map_err(rtc_err)?;
            self.offers.handle_withdrawn();
            self.negotiation_needed = true;
        }
        let remote_ssrcs = announced_ssrcs(&sdp);
        let offer =
            RTCSessionDescription::offer(sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.pc
            .set_remote_description(now, offer)
            .map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let answered = self.pc.create_answer(None).and_then(|answer| {
            self.pc.set_local_description(now, answer.clone())?;
            Ok(answer)
        });
        let answer = match answered {
            Ok(answer) => answer,
            Err(e) => {
                // Back to stable, so that the next offer from either side can be applied.
                if let Ok(rollback) = RTCSessionDescription::rollback(None) {
                    let _ = self.pc.set_remote_description(now, rollback);
                }
                return Err(SfuError::BadSdp(e.to_string()));
            }
        };
        self.remote_ssrcs = remote_ssrcs;
        self.offers.handle_client_offer();
        Ok(self
            .pc
            .local_description()
            .map(|d| d.sdp)
            .unwrap_or(answer.sdp))
    }

    /// Applies the client's answer to an offer the SFU made. A refused answer withdraws that
    /// offer, and a fresh one is made after the wait it returns with the error.
    pub(crate) fn accept_answer(
        &mut self,
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
            self.pc
                .set_remote_description(now, answer)
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

    /// Logs a refused answer at warn (the first few of a session, then every hundredth):
    /// the client keeps its view of the session only if it learns of the refusal, so this is
    /// worth an operator's eye, with who and what comes next.
    pub(crate) fn log_refused_answer(
        &mut self,
        code: &str,
        why: &dyn std::fmt::Display,
        retry: Option<Duration>,
    ) {
        let Some(n) = self.refusals.note() else {
            return;
        };
        let participant = &self.id;
        match retry {
            Some(wait) => warn!(%participant, code, refusals = n,
                "answer refused: {why}; a fresh offer follows in {wait:?}"),
            None => warn!(%participant, code, refusals = n, "answer refused: {why}"),
        }
    }

    /// The client's answer was refused before it reached the SFU (by the signaling layer).
    /// Returns the wait before the fresh offer, or `None` if no answer was awaited.
    pub(crate) fn answer_refused(&mut self, now: Instant) -> Option<Duration> {
        self.offers.handle_refused(now)
    }

    /// Makes an offer if one is needed and none is in flight, or if a refused one's wait is
    /// over. A fresh offer after a refusal replaces the refused one in place (RFC 8829 lets
    /// an offerer set a new offer while one is pending): the m-sections keep their mids, so
    /// a client that applied the refused offer can apply this one too.
    pub(crate) fn poll_offer(&mut self, now: Instant) -> Result<Option<String>, SfuError> {
        if !self.negotiated_once || !self.offers.may_offer(self.negotiation_needed, now) {
            return Ok(None);
        }
        if self.offers.awaits_answer() {
            warn!(participant = %self.id, "no answer to the SFU's offer in {ANSWER_TIMEOUT:?}; offering again");
        }
        let made = self.pc.create_offer(None).and_then(|offer| {
            self.pc.set_local_description(now, offer.clone())?;
            Ok(offer)
        });
        let offer = match made {
            Ok(offer) => offer,
            Err(e) => {
                let wait = self.offers.handle_offer_failed(now);
                warn!(participant = %self.id, "cannot make an offer: {e}; trying again in {wait:?}");
                return Err(rtc_err(e));
            }
        };
        self.negotiation_needed = false;
        self.offers.handle_offered(now);
        Ok(Some(
            self.pc
                .local_description()
                .map(|d| d.sdp)
                .unwrap_or(offer.sdp),
        ))
    }

    /// The next instant the session needs the core: its WebRTC stack's timers, or a fresh
    /// offer after a refused answer.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.pc.poll_timeout(), self.offers.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Gives the session a sender for `track`, forwarding as `ssrc` when the sender is new:
    /// the m-section of an ended subscription of the same kind if one is free, else a new
    /// transceiver. Either way the session needs an offer before media can flow.
    pub(crate) fn add_downtrack(&mut self, track: &Track) -> Result<DownTrack, SfuError> {
        let local_track_id = format!("{}-{}", track.owner_id, track.id);
        let free = self.take_free_sender(track.kind);
        let ssrc = free
            .as_ref()
            .map_or_else(rand::random::<u32>, |f| f.forwarder.out_ssrc());
        let local = MediaStreamTrack::new(
            track.owner_id.0.clone(),
            local_track_id.clone(),
            format!("{} {}", track.owner_id, track.id),
            track.kind.to_rtc(),
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: track.rtp_codec.clone(),
                ..Default::default()
            }],
        );
        let (transceiver, forwarder) = match free {
            Some(mut free) => {
                // rtc hands out a sender only while its transceiver sends. Should the track
                // not take, the m-section goes back to inactive, and stays free.
                self.set_direction(free.transceiver, RTCRtpTransceiverDirection::Sendonly);
                let replaced = match self.pc.rtp_sender(free.transceiver.into()) {
                    Some(mut sender) => sender.replace_track(local).map_err(rtc_err),
                    None => Err(SfuError::Rtc("free sender is gone".into())),
                };
                if let Err(e) = replaced {
                    self.set_direction(free.transceiver, RTCRtpTransceiverDirection::Inactive);
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
                let id = self
                    .pc
                    .add_transceiver_from_track(local, Some(init))
                    .map_err(rtc_err)?;
                let forwarder =
                    Forwarder::new(ssrc, track.rtp_codec.clock_rate, track.kind == Kind::Video);
                (id, forwarder)
            }
        };
        self.negotiation_needed = true;
        self.by_local_track.insert(local_track_id.clone(), track.id);
        Ok(DownTrack {
            track: track.id,
            transceiver,
            local_track_id,
            forwarder,
            out_pt: None,
            counters: Default::default(),
        })
    }

    /// Ends a subscription: its m-section goes inactive in the next exchange, and its sender
    /// waits for the next subscription of its kind. Returns the subscription's counters.
    pub(crate) fn remove_downtrack(
        &mut self,
        tid: TrackId,
        kind: Kind,
    ) -> Option<DownTrackCounters> {
        let DownTrack {
            transceiver,
            local_track_id,
            forwarder,
            counters,
            ..
        } = self.downtracks.remove(&tid)?;
        self.by_local_track.remove(&local_track_id);
        self.set_direction(transceiver, RTCRtpTransceiverDirection::Inactive);
        self.free_senders.push(FreeSender {
            transceiver,
            kind,
            forwarder,
            usable_from: self.offers.next_exchange(),
        });
        self.negotiation_needed = true;
        Some(counters)
    }

    fn set_direction(&mut self, transceiver: usize, direction: RTCRtpTransceiverDirection) {
        if let Some(mut t) = self.pc.rtp_transceiver(transceiver) {
            t.set_direction(direction);
        }
    }

    /// A free sender of `kind` whose m-section both sides have agreed is inactive, in an
    /// exchange that began after it was freed (one already under way may still carry the
    /// departed track, and its answer would make the m-section send again). One still on its
    /// way to inactive is not reused: the client would see the m-section carry another track
    /// with no pause between, and browsers fire no `track` event for that.
    fn take_free_sender(&mut self, kind: Kind) -> Option<FreeSender> {
        let (pc, completed) = (&mut self.pc, self.offers.completed());
        let i = self.free_senders.iter().position(|f| {
            f.kind == kind
                && completed >= f.usable_from
                && pc
                    .rtp_transceiver(f.transceiver)
                    .is_some_and(|t| t.current_direction() == RTCRtpTransceiverDirection::Inactive)
        })?;
        Some(self.free_senders.swap_remove(i))
    }

    /// The payload type a subscription sends with, once both sides have agreed that its
    /// m-section sends: `None` while that exchange is still under way.
    pub(crate) fn negotiated_pt(&mut self, transceiver: usize, track: &Track) -> Option<u8> {
        let sending = self
            .pc
            .rtp_transceiver(transceiver)
            .is_some_and(|t| t.current_direction().has_send());
        if !sending {
            return None;
        }
        let mut sender = self.pc.rtp_sender(transceiver.into())?;
        let codecs = &sender.get_parameters().rtp_parameters.codecs;
        codecs
            .iter()
            .find(|c| {
                c.rtp_codec
                    .mime_type
                    .eq_ignore_ascii_case(&track.rtp_codec.mime_type)
                    && c.rtp_codec.sdp_fmtp_line == track.rtp_codec.sdp_fmtp_line
            })
            .or_else(|| {
                codecs.iter().find(|c| {
                    c.rtp_codec
                        .mime_type
                        .eq_ignore_ascii_case(&track.rtp_codec.mime_type)
                })
            })
            .map(|c| c.payload_type)
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
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=ssrc:"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// ICE credentials: letters and digits, from the operating system's random source.
fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
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
    }

    #[test]
    fn tokens_are_random_alphanumerics() {
        let a = random_token(16);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_token(16));
    }
}
