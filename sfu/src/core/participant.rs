//! Participant: one WebRTC session with the SFU, its published Tracks and its DownTracks.

use crate::core::downtrack::DownTrack;
use crate::core::error::{SfuError, rtc_err};
use crate::core::ids::{ParticipantId, RoomId, TrackId};
use crate::core::media;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

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
    /// Tracks to subscribe to once the first negotiation is done.
    pub(crate) pending_subscriptions: Vec<TrackId>,
    pub(crate) negotiated_once: bool,
    pub(crate) offer_outstanding: bool,
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
            pending_subscriptions: Vec::new(),
            negotiated_once: false,
            offer_outstanding: false,
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

    /// Applies the client's offer and returns the SFU's answer.
    pub(crate) fn accept_offer(&mut self, sdp: String, now: Instant) -> Result<String, SfuError> {
        check_sdp_size(&sdp)?;
        if self.offer_outstanding {
            // Glare: the client's offer wins; ours is rolled back and made again afterwards.
            let rollback = RTCSessionDescription::rollback(None).map_err(rtc_err)?;
            self.pc
                .set_local_description(now, rollback)
                .map_err(rtc_err)?;
            self.offer_outstanding = false;
            self.negotiation_needed = true;
        }
        let remote_ssrcs = announced_ssrcs(&sdp);
        let offer =
            RTCSessionDescription::offer(sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.pc
            .set_remote_description(now, offer)
            .map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let answer = self.pc.create_answer(None).map_err(rtc_err)?;
        self.pc
            .set_local_description(now, answer.clone())
            .map_err(rtc_err)?;
        self.remote_ssrcs = remote_ssrcs;
        Ok(self
            .pc
            .local_description()
            .map(|d| d.sdp)
            .unwrap_or(answer.sdp))
    }

    /// Applies the client's answer to an offer the SFU made.
    pub(crate) fn accept_answer(&mut self, sdp: String, now: Instant) -> Result<(), SfuError> {
        check_sdp_size(&sdp)?;
        if !self.offer_outstanding {
            return Err(SfuError::BadSdp("no offer is waiting for an answer".into()));
        }
        let answer =
            RTCSessionDescription::answer(sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.pc
            .set_remote_description(now, answer)
            .map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.offer_outstanding = false;
        Ok(())
    }

    /// Makes an offer if one is needed and none is in flight.
    pub(crate) fn poll_offer(&mut self, now: Instant) -> Result<Option<String>, SfuError> {
        if !self.negotiation_needed || self.offer_outstanding || !self.negotiated_once {
            return Ok(None);
        }
        let offer = self.pc.create_offer(None).map_err(rtc_err)?;
        self.pc
            .set_local_description(now, offer.clone())
            .map_err(rtc_err)?;
        self.negotiation_needed = false;
        self.offer_outstanding = true;
        Ok(Some(
            self.pc
                .local_description()
                .map(|d| d.sdp)
                .unwrap_or(offer.sdp),
        ))
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
