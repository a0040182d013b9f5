//! Track: the published side of a stream, as it arrives from its publisher.

use crate::core::cache::{CachedPacket, RetransmitCache};
use crate::core::codec::{Codec, CodecParams, Kind};
use crate::core::downtrack::DownTrackKey;
use crate::core::forwarder::DropReason;
use crate::core::ids::{ParticipantId, SessionId, TrackId};
use crate::core::keyframe::KeyframeRequester;
use crate::core::seq::seq_newer;
use crate::core::session::Receiver;
use crate::core::stats::{BitrateMeter, TrackCounters};
use std::time::{Duration, Instant};

/// A published track: what every subscriber's DownTrack forwards from.
pub(crate) struct Track {
    pub(crate) id: TrackId,
    /// The publishing session.
    pub(crate) owner: SessionId,
    pub(crate) owner_id: ParticipantId,
    pub(crate) kind: Kind,
    pub(crate) codec: CodecParams,
    /// The codec, as far as keyframe detection goes.
    pub(crate) codec_name: Codec,
    /// SSRC the publisher sends with.
    pub(crate) ssrc: u32,
    /// Where the publisher's session receives it, for keyframe requests.
    pub(crate) receiver: Receiver,
    /// Recent packets, for answering subscribers' NACKs; none for audio, which no
    /// subscriber NACKs (Opus is negotiated without `nack`).
    pub(crate) cache: Option<RetransmitCache<CachedPacket>>,
    /// Debounces keyframe requests towards the publisher.
    pub(crate) keyframes: KeyframeRequester,
    pub(crate) counters: TrackCounters,
    pub(crate) bitrate: BitrateMeter,
    /// The DownTracks forwarding it.
    pub(crate) subscribers: Vec<DownTrackKey>,
    /// A copy of the room's flag, so the media path need not look the room up.
    pub(crate) forwarding: bool,
    /// The id of the audio-level header extension on its packets, if the publisher sends it.
    pub(crate) audio_level_ext: Option<u8>,
    /// Last-N holds its video back: the publisher is not a recent speaker.
    pub(crate) last_n_held: bool,
    highest_seq: Option<u16>,
}

/// What a new track is, from the session that publishes it.
pub(crate) struct NewTrack {
    pub(crate) owner: SessionId,
    pub(crate) owner_id: ParticipantId,
    pub(crate) kind: Kind,
    pub(crate) codec: CodecParams,
    pub(crate) ssrc: u32,
    pub(crate) receiver: Receiver,
    pub(crate) forwarding: bool,
    pub(crate) audio_level_ext: Option<u8>,
}

impl Track {
    /// Why none of its packets go out now, if none do: the room talks peer to peer, or
    /// Last-N holds its video back.
    pub(crate) fn held_back(&self) -> Option<DropReason> {
        if !self.forwarding {
            Some(DropReason::Paused)
        } else if self.last_n_held {
            Some(DropReason::NotSpeaking)
        } else {
            None
        }
    }

    pub(crate) fn new(id: TrackId, new: NewTrack, keyframe_interval: Duration) -> Track {
        Track {
            id,
            owner: new.owner,
            owner_id: new.owner_id,
            kind: new.kind,
            codec_name: new.codec.codec(),
            codec: new.codec,
            ssrc: new.ssrc,
            receiver: new.receiver,
            cache: (new.kind == Kind::Video).then(|| {
                RetransmitCache::new(
                    RetransmitCache::<()>::DEFAULT_SLOTS,
                    RetransmitCache::<()>::DEFAULT_MAX_AGE,
                )
            }),
            keyframes: KeyframeRequester::new(keyframe_interval),
            counters: TrackCounters::default(),
            bitrate: BitrateMeter::default(),
            subscribers: Vec::new(),
            forwarding: new.forwarding,
            audio_level_ext: new.audio_level_ext,
            last_n_held: false,
            highest_seq: None,
        }
    }

    /// Counts an incoming packet and the gap before it, if any.
    pub(crate) fn record_incoming(&mut self, seq: u16, len: usize, now: Instant) {
        self.counters.packets += 1;
        self.counters.bytes += len as u64;
        self.bitrate.record(len, now);
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
