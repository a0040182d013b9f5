//! Tracks: every published Track and every DownTrack forwarding one, with the links between
//! them kept consistent: a DownTrack is listed by its track exactly while it exists, and a
//! track that goes takes its DownTracks with it.

use crate::core::cache::CachedPacket;
use crate::core::codec::{Codec, Kind, vp8_size};
use crate::core::downtrack::{DownTrack, DownTrackKey, forward_to};
use crate::core::forwarder::{DropReason, Forwarder, PacketInfo};
use crate::core::ids::{IdSpace, SessionId, TrackId};
use crate::core::sendpath::{OutHeader, OutPacket, SendPath};
use crate::core::stats::Tally;
use crate::core::track::{NewTrack, Track};
use crate::core::vp8::{Vp8Munger, Vp8Numbers};
use rtc::shared::marshal::MarshalSize;
use slab::Slab;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Where forwarded packets go: the subscribers' transports.
pub(crate) trait Egress {
    /// Whether `session` can take media now (its transport is up).
    fn ready(&self, session: SessionId) -> bool;
    /// Sends `p` to `session`; the bytes it took on the wire, or `None` if it was not sent.
    fn send(&mut self, now: Instant, session: SessionId, p: &OutPacket<'_>) -> Option<usize>;
}

impl Egress for SendPath {
    fn ready(&self, session: SessionId) -> bool {
        self.is_ready(session)
    }

    fn send(&mut self, now: Instant, session: SessionId, p: &OutPacket<'_>) -> Option<usize> {
        SendPath::send(self, now, session, p)
    }
}

/// Every track and subscription of one SFU.
pub(crate) struct Tracks {
    tracks: HashMap<TrackId, Track>,
    downtracks: Slab<DownTrack>,
    by_subscriber: HashMap<(SessionId, TrackId), DownTrackKey>,
    ids: IdSpace,
    keyframe_interval: Duration,
}

impl Tracks {
    pub(crate) fn new(keyframe_interval: Duration, ids: IdSpace) -> Tracks {
        Tracks {
            tracks: HashMap::new(),
            downtracks: Slab::new(),
            by_subscriber: HashMap::new(),
            ids,
            keyframe_interval,
        }
    }

    /// Adds a published track; returns its id, unique for the SFU's lifetime.
    pub(crate) fn publish(&mut self, new: NewTrack) -> TrackId {
        let id = TrackId(self.ids.take());
        self.tracks
            .insert(id, Track::new(id, new, self.keyframe_interval));
        id
    }

    /// Removes a track and every DownTrack of it; returns them, for their counters.
    pub(crate) fn unpublish(&mut self, id: TrackId) -> Option<(Track, Vec<DownTrack>)> {
        let mut track = self.tracks.remove(&id)?;
        let downtracks = std::mem::take(&mut track.subscribers)
            .into_iter()
            .filter_map(|k| self.downtracks.try_remove(k.0))
            .inspect(|dt| {
                self.by_subscriber.remove(&(dt.session, id));
            })
            .collect();
        Some((track, downtracks))
    }

    pub(crate) fn get(&self, id: TrackId) -> Option<&Track> {
        self.tracks.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: TrackId) -> Option<&mut Track> {
        self.tracks.get_mut(&id)
    }

    /// Published tracks.
    pub(crate) fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Subscriptions (DownTracks).
    pub(crate) fn downtrack_count(&self) -> usize {
        self.downtracks.len()
    }

    /// Where the ids go on from, for an SFU that takes over from this one.
    pub(crate) fn ids(&self) -> IdSpace {
        self.ids
    }

    /// Adds `session`'s subscription to `track`, fed by `forwarder`.
    pub(crate) fn subscribe(
        &mut self,
        track: TrackId,
        session: SessionId,
        forwarder: Forwarder,
        hidden: bool,
    ) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        let vp8 = (t.codec_name == Codec::Vp8).then(Vp8Munger::default);
        let key = DownTrackKey(self.downtracks.insert(DownTrack {
            session,
            forwarder,
            out: None,
            counters: Default::default(),
            bitrate: Default::default(),
            resend: Default::default(),
            hidden,
            layer: None,
            target: 0,
            vp8,
        }));
        t.subscribers.push(key);
        self.by_subscriber.insert((session, track), key);
    }

    /// Removes `session`'s subscription to `track`; returns it.
    pub(crate) fn unsubscribe(&mut self, session: SessionId, track: TrackId) -> Option<DownTrack> {
        let key = self.by_subscriber.remove(&(session, track))?;
        if let Some(t) = self.tracks.get_mut(&track) {
            t.subscribers.retain(|&k| k != key);
        }
        self.downtracks.try_remove(key.0)
    }

    /// `session`'s subscription to `track`.
    pub(crate) fn downtrack(&self, session: SessionId, track: TrackId) -> Option<&DownTrack> {
        let key = self.by_subscriber.get(&(session, track))?;
        self.downtracks.get(key.0)
    }

    pub(crate) fn downtrack_mut(
        &mut self,
        session: SessionId,
        track: TrackId,
    ) -> Option<&mut DownTrack> {
        let key = self.by_subscriber.get(&(session, track))?;
        self.downtracks.get_mut(key.0)
    }

    /// Holds back (Last-N) or releases a track's video. Released, each subscriber's stream
    /// carries on from its last packet, from the next keyframe: returns whether one must be
    /// asked for.
    pub(crate) fn set_last_n_held(&mut self, track: TrackId, held: bool) -> bool {
        let Some(t) = self.tracks.get_mut(&track) else {
            return false;
        };
        if t.last_n_held == held {
            return false;
        }
        t.last_n_held = held;
        if held {
            return false;
        }
        for key in &t.subscribers {
            if let Some(dt) = self.downtracks.get_mut(key.0) {
                dt.resume();
            }
        }
        true
    }

    /// Whether `session` shows `track`'s video. Shown again, its stream carries on from its
    /// last packet, from the next keyframe: returns whether one must be asked for.
    pub(crate) fn set_visible(
        &mut self,
        session: SessionId,
        track: TrackId,
        visible: bool,
    ) -> bool {
        let Some(dt) = self.downtrack_mut(session, track) else {
            return false;
        };
        if dt.hidden != visible {
            return false;
        }
        dt.hidden = !visible;
        if visible {
            dt.resume();
        }
        visible
    }

    /// Sets the forwarding flag of these tracks.
    pub(crate) fn set_forwarding(&mut self, tracks: &[TrackId], forwarding: bool) {
        for id in tracks {
            if let Some(t) = self.tracks.get_mut(id) {
                t.forwarding = forwarding;
            }
        }
    }

    /// The counters of these tracks and of these subscriptions, summed.
    pub(crate) fn tally(
        &self,
        published: impl Iterator<Item = TrackId>,
        session: SessionId,
        subscribed: impl Iterator<Item = TrackId>,
    ) -> Tally {
        let mut t = Tally::default();
        for track in published.filter_map(|id| self.tracks.get(&id)) {
            t.add_track(&track.counters);
        }
        for dt in subscribed.filter_map(|id| self.downtrack(session, id)) {
            t.add_downtrack(&dt.counters);
        }
        t
    }

    /// Adds a simulcast layer to `track`, keeping its DownTracks on the layers they had
    /// (their indices move up past the new one). Returns its index.
    pub(crate) fn add_layer(&mut self, track: TrackId, rid: String, ssrc: u32) -> Option<usize> {
        let t = self.tracks.get_mut(&track)?;
        let at = t.add_layer(rid, ssrc)?;
        for key in &t.subscribers {
            if let Some(dt) = self.downtracks.get_mut(key.0) {
                if let Some(l) = dt.layer.as_mut().filter(|l| **l >= at) {
                    *l += 1;
                }
                if dt.target >= at && t.layers.len() > 1 {
                    dt.target += 1;
                }
            }
        }
        Some(at)
    }

    /// The layers (a bit each) of `track` that a subscriber forwards or moves to.
    pub(crate) fn layers_in_use(&self, track: TrackId) -> u32 {
        let Some(t) = self.tracks.get(&track) else {
            return 0;
        };
        t.subscribers
            .iter()
            .filter_map(|k| self.downtracks.get(k.0))
            .fold(0, |bits, dt| {
                bits | (1 << dt.target) | dt.layer.map_or(0, |l| 1 << l)
            })
    }

    /// The layer `session` forwards of `track`, or the one it waits for.
    pub(crate) fn layer_of(&self, session: SessionId, track: TrackId) -> Option<usize> {
        let dt = self.downtrack(session, track)?;
        Some(dt.layer.unwrap_or(dt.target))
    }

    /// Points `session`'s DownTrack of `track` at `layer`. Forwarding moves there on that
    /// layer's next keyframe: returns whether one must be asked for.
    pub(crate) fn set_target(&mut self, session: SessionId, track: TrackId, layer: usize) -> bool {
        let Some(dt) = self.downtrack_mut(session, track) else {
            return false;
        };
        if dt.target == layer {
            return false;
        }
        dt.target = layer;
        dt.forwarder.forget_previous();
        dt.layer.is_some_and(|l| l != layer)
    }

    /// Forwards one packet of `track` to every DownTrack of it, each under its own header.
    /// Returns the layers (a bit each) that a subscriber waits for a keyframe of.
    pub(crate) fn forward(
        &mut self,
        track: TrackId,
        pkt: rtc::rtp::Packet,
        now: Instant,
        egress: &mut impl Egress,
    ) -> u32 {
        let Some(t) = self.tracks.get_mut(&track) else {
            return 0;
        };
        let Some(layer) = t.layer_of(pkt.header.ssrc) else {
            return 0;
        };
        let len = pkt.header.marshal_size() + pkt.payload.len();
        t.record_incoming(layer, pkt.header.sequence_number, len, now);
        let info = PacketInfo::of(&pkt, t.codec_name);
        let vp8 = if t.codec_name == Codec::Vp8 {
            Vp8Numbers::parse(&pkt.payload)
        } else {
            None
        };
        if info.keyframe && t.kind == Kind::Video {
            let l = &mut t.layers[layer];
            l.keyframes.handle_keyframe();
            if t.codec_name == Codec::Vp8
                && let Some(size) = vp8_size(&pkt.payload)
            {
                l.size = Some(size);
            }
        }
        let mut want_keyframe = 0;
        if let Some(reason) = t.held_back() {
            for key in &t.subscribers {
                if let Some(dt) = self.downtracks.get_mut(key.0)
                    && dt.takes_layer(layer)
                {
                    dt.counters.record_drop(reason);
                }
            }
        } else {
            let clock_rate = t.codec.clock_rate;
            let video = t.kind == Kind::Video;
            for key in &t.subscribers {
                let Some(dt) = self.downtracks.get_mut(key.0) else {
                    continue;
                };
                if !dt.takes_layer(layer) {
                    continue;
                }
                if dt.hidden {
                    dt.counters.record_drop(DropReason::NotVisible);
                    continue;
                }
                let Some(out) = dt.out.filter(|_| egress.ready(dt.session)) else {
                    dt.counters.record_drop(DropReason::NotNegotiated);
                    continue;
                };
                let switching = dt.layer.is_some_and(|l| l != layer);
                if switching && video && !info.keyframe {
                    // The layer it moves to starts on a keyframe; until then the current
                    // one flows.
                    want_keyframe |= 1 << layer;
                    continue;
                }
                let marker = pkt.header.marker;
                match forward_to(
                    &mut dt.forwarder,
                    &mut dt.counters,
                    &info,
                    marker,
                    out.payload_type,
                    now,
                ) {
                    Err(reason) => {
                        if reason == DropReason::WaitingForKeyframe {
                            want_keyframe |= 1 << layer;
                        }
                    }
                    Ok(header) => {
                        if switching {
                            dt.counters.layer_switches += 1;
                        }
                        dt.layer = Some(layer);
                        let vp8 = dt
                            .vp8
                            .as_mut()
                            .zip(vp8)
                            .map(|(m, n)| m.handle_packet(info.ssrc, n));
                        let p = OutPacket {
                            header,
                            twcc_ext: out.twcc_ext,
                            clock_rate,
                            payload: &pkt.payload,
                            vp8,
                        };
                        match egress.send(now, dt.session, &p) {
                            Some(sent) => {
                                dt.counters.record_sent(sent);
                                dt.bitrate.record(sent, now);
                            }
                            None => dt.counters.record_drop(DropReason::SendFailed),
                        }
                    }
                }
            }
        }
        if let Some(cache) = &mut t.layers[layer].cache {
            cache.insert(pkt.header.sequence_number, now, CachedPacket::of(pkt));
        }
        want_keyframe
    }

    /// Re-sends to `session` the packets of `track` it NACKed, as numbered in what it got,
    /// from the track's cache; a packet re-sent within the last interval is not sent again.
    pub(crate) fn retransmit(
        &mut self,
        session: SessionId,
        track: TrackId,
        out_seqs: impl Iterator<Item = u16>,
        now: Instant,
        egress: &mut impl Egress,
    ) {
        let Some(&key) = self.by_subscriber.get(&(session, track)) else {
            return;
        };
        let (Some(t), Some(dt)) = (self.tracks.get_mut(&track), self.downtracks.get_mut(key.0))
        else {
            return;
        };
        let Some(out) = dt.out else {
            return;
        };
        for out_seq in out_seqs {
            t.counters.nacks += 1;
            let Some(origin) = dt.forwarder.origin(out_seq) else {
                continue;
            };
            let Some(orig) = t
                .layer_of(origin.ssrc)
                .and_then(|l| t.layers[l].cache.as_ref()?.get(origin.seq, now))
            else {
                continue;
            };
            if orig.ssrc != origin.ssrc || !dt.resend.allow(out_seq, now) {
                continue;
            }
            let p = OutPacket {
                header: OutHeader {
                    ssrc: dt.forwarder.out_ssrc(),
                    seq: out_seq,
                    timestamp: orig.timestamp.wrapping_add(origin.ts_offset),
                    payload_type: out.payload_type,
                    marker: orig.marker,
                },
                twcc_ext: out.twcc_ext,
                clock_rate: t.codec.clock_rate,
                payload: &orig.payload,
                vp8: dt
                    .vp8
                    .as_ref()
                    .zip(Vp8Numbers::parse(&orig.payload))
                    .map(|(m, n)| m.rewrite(n)),
            };
            if egress.send(now, session, &p).is_some() {
                t.counters.retransmits += 1;
            }
        }
    }
}
