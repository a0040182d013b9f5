//! Track: the published side of a stream, as it arrives from its publisher.

use crate::core::PKey;
use crate::core::cache::RetransmitCache;
use crate::core::forwarder::seq_newer;
use crate::core::ids::{ParticipantId, TrackId};
use crate::core::keyframe::{Codec, KeyframeRequester};
use crate::core::stats::TrackCounters;
use rtc::rtp_transceiver::RTCRtpReceiverId;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use std::time::{Duration, Instant};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl Kind {
    pub(crate) fn from_rtc(kind: RtpCodecKind) -> Kind {
        if kind == RtpCodecKind::Video {
            Kind::Video
        } else {
            Kind::Audio
        }
    }

    pub(crate) fn to_rtc(self) -> RtpCodecKind {
        match self {
            Kind::Audio => RtpCodecKind::Audio,
            Kind::Video => RtpCodecKind::Video,
        }
    }
}

/// A published track: what every subscriber's DownTrack forwards from.
pub struct Track {
    /// SFU-wide id.
    pub id: TrackId,
    /// The publishing session.
    pub(crate) owner: PKey,
    /// The publisher's participant id.
    pub owner_id: ParticipantId,
    /// Audio or video.
    pub kind: Kind,
    /// The codec, as far as the SFU needs to know it.
    pub codec: Codec,
    /// The negotiated codec, copied into each subscriber's offer.
    pub(crate) rtp_codec: RTCRtpCodec,
    /// SSRC the publisher sends with.
    pub ssrc: u32,
    pub(crate) receiver_id: RTCRtpReceiverId,
    /// Recent packets, for answering subscribers' NACKs.
    pub(crate) cache: RetransmitCache<rtc::rtp::Packet>,
    /// Debounces keyframe requests towards the publisher.
    pub(crate) keyframes: KeyframeRequester,
    /// Live counters.
    pub counters: TrackCounters,
    /// Sessions with a DownTrack of this track.
    pub(crate) subscribers: Vec<PKey>,
    /// A copy of the room's flag, so the media path need not look the room up.
    pub(crate) forwarding: bool,
    highest_seq: Option<u16>,
}

impl Track {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: TrackId,
        owner: PKey,
        owner_id: ParticipantId,
        kind: Kind,
        rtp_codec: RTCRtpCodec,
        ssrc: u32,
        receiver_id: RTCRtpReceiverId,
        keyframe_interval: Duration,
    ) -> Track {
        Track {
            id,
            owner,
            owner_id,
            kind,
            codec: Codec::from_mime(&rtp_codec.mime_type),
            rtp_codec,
            ssrc,
            receiver_id,
            cache: RetransmitCache::new(
                RetransmitCache::<()>::DEFAULT_SLOTS,
                RetransmitCache::<()>::DEFAULT_MAX_AGE,
            ),
            keyframes: KeyframeRequester::new(keyframe_interval),
            counters: TrackCounters::default(),
            subscribers: Vec::new(),
            forwarding: true,
            highest_seq: None,
        }
    }

    /// Counts an incoming packet and the gap before it, if any.
    pub(crate) fn record_incoming(&mut self, seq: u16, len: usize, now: Instant) {
        self.counters.packets += 1;
        self.counters.bytes += len as u64;
        self.counters.bitrate.record(len, now);
        match self.highest_seq {
            None => self.highest_seq = Some(seq),
            Some(h) if seq_newer(seq, h) => {
                self.counters.packets_lost += u64::from(seq.wrapping_sub(h).saturating_sub(1));
                self.highest_seq = Some(seq);
            }
            Some(_) => {}
        }
    }
}
