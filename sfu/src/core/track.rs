//! Track: the published side of a stream, as it arrives from its publisher.

use crate::core::codec::{Codec, CodecParams, Kind};
use crate::core::downtrack::DownTrackKey;
use crate::core::forwarder::DropReason;
use crate::core::ids::{ParticipantId, SessionId, TrackId};
use crate::core::layer::{self, Layer};
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
    /// Its encodings, lowest quality first: one, or a simulcast camera's several.
    pub(crate) layers: Vec<Layer>,
    /// Where the publisher's session receives it, for keyframe requests.
    pub(crate) receiver: Receiver,
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
    keyframe_interval: Duration,
}

/// What a new track is, from the session that publishes it.
pub(crate) struct NewTrack {
    pub(crate) owner: SessionId,
    pub(crate) owner_id: ParticipantId,
    pub(crate) kind: Kind,
    pub(crate) codec: CodecParams,
    pub(crate) ssrc: u32,
    /// The RTP stream id of its first layer, if it is simulcast.
    pub(crate) rid: Option<String>,
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
            layers: vec![Layer::new(
                new.rid,
                new.ssrc,
                new.kind == Kind::Video,
                keyframe_interval,
            )],
            receiver: new.receiver,
            counters: TrackCounters::default(),
            bitrate: BitrateMeter::default(),
            subscribers: Vec::new(),
            forwarding: new.forwarding,
            audio_level_ext: new.audio_level_ext,
            last_n_held: false,
            keyframe_interval,
        }
    }

    /// Adds a simulcast layer that has started arriving, in its rank; returns its index, or
    /// `None` if the track has it already or has all it may have.
    pub(crate) fn add_layer(&mut self, rid: String, ssrc: u32) -> Option<usize> {
        if self.layers.len() >= MAX_LAYERS
            || self
                .layers
                .iter()
                .any(|l| l.ssrc == ssrc || l.rid.as_deref() == Some(&rid))
        {
            return None;
        }
        let rank = layer::rank(Some(&rid));
        let at = self
            .layers
            .iter()
            .position(|l| layer::rank(l.rid.as_deref()) > rank)
            .unwrap_or(self.layers.len());
        let video = self.kind == Kind::Video;
        self.layers.insert(
            at,
            Layer::new(Some(rid), ssrc, video, self.keyframe_interval),
        );
        Some(at)
    }

    /// The index of the layer arriving with `ssrc`.
    pub(crate) fn layer_of(&self, ssrc: u32) -> Option<usize> {
        self.layers.iter().position(|l| l.ssrc == ssrc)
    }

    /// Counts an incoming packet of layer `layer` and the gap before it, if any.
    pub(crate) fn record_incoming(&mut self, layer: usize, seq: u16, len: usize, now: Instant) {
        self.counters.packets += 1;
        self.counters.bytes += len as u64;
        self.bitrate.record(len, now);
        if let Some(l) = self.layers.get_mut(layer) {
            self.counters.packets_lost += l.record(seq, len, now);
        }
    }

    /// When a coalesced keyframe request of one of its layers is next due.
    pub(crate) fn keyframe_timeout(&self) -> Option<Instant> {
        self.layers
            .iter()
            .filter_map(|l| l.keyframes.poll_timeout())
            .min()
    }
}

/// The most layers a track takes: browsers send at most three, and a fourth rid would only
/// cost memory.
pub(crate) const MAX_LAYERS: usize = 4;
