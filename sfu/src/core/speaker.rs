//! Who is speaking in a room: a dominant-speaker detector in the manner of Volfin and Cohen
//! ("Dominant speaker identification for multipoint videoconferencing", 2013), fed with the
//! audio level that each publisher stamps on its packets (RFC 6464).
//!
//! Loudness alone picks whoever coughs, laughs or slams a door. The detector instead asks, at
//! three time scales, how likely it is that each member is *speaking*: an immediate one (the
//! last 100 ms), a word (400 ms) and a sentence (2 s). At each scale it scores the member's
//! activity as the log-likelihood ratio of speech (a binomial model of active units) against
//! noise (an exponential one). The floor changes hands only when a challenger beats the
//! current speaker at all three scales, so a short interjection does not take it, and a
//! speaker who pauses between words keeps it.
//!
//! The detector is sans-IO: it is handed each level with the time it arrived, and decides
//! at most once per [`DECISION_INTERVAL`], on the next level that arrives after one is due.
//! A room where nobody sends audio keeps its last speaker, as people expect.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Audio levels come in 20 ms frames (Opus's usual packet time); one frame is one unit of
/// immediate activity.
const FRAME: Duration = Duration::from_millis(20);
/// Frames of history kept per member: the long window.
const HISTORY: usize = 100;
/// Immediate activity runs from 0 to this many steps of [`STEP_DB`] above the noise floor.
const IMMEDIATE_UNITS: u32 = 13;
/// Decibels per unit of immediate activity.
const STEP_DB: f64 = 3.0;
/// A frame with at least this much immediate activity counts as active for the word scale.
const ACTIVE_FRAME: u8 = 5;
/// Frames in a word (the medium window).
const WORD_FRAMES: usize = 20;
/// Words in a sentence (the long window): `WORD_FRAMES * SENTENCE_WORDS == HISTORY`.
const SENTENCE_WORDS: usize = 5;
/// A word with at least this many active frames is an active word.
const ACTIVE_WORD: u32 = 7;
/// Frames averaged for the immediate score.
const IMMEDIATE_FRAMES: usize = 5;
/// How often the floor may change hands, and the ranking be re-read.
pub const DECISION_INTERVAL: Duration = Duration::from_millis(300);
/// By how much (in log-likelihood) a challenger must beat the speaker, per scale.
const MARGIN: [f64; 3] = [1.0, 2.0, 0.5];
/// The noise floor rises by this much per frame while the level stays above it, so that a
/// steady hum stops counting as speech within seconds. Speech dips to the room's noise
/// between words, which brings the floor back down.
const FLOOR_RISE_DB: f64 = 0.2;

/// One time scale's model: `n` units, each active with probability `p` under speech; the
/// count of active units is exponential with rate `lambda` under noise. Each `p` is high
/// enough that more activity always means a higher score (see the test).
struct Scale {
    n: u32,
    p: f64,
    lambda: f64,
}

const IMMEDIATE: Scale = Scale {
    n: IMMEDIATE_UNITS,
    p: 0.9,
    lambda: 0.78,
};
const WORD: Scale = Scale {
    n: WORD_FRAMES as u32,
    p: 0.95,
    lambda: 0.24,
};
const SENTENCE: Scale = Scale {
    n: SENTENCE_WORDS as u32,
    p: 0.8,
    lambda: 0.47,
};
/// A member silent for this long is dropped from the ranking.
const FORGET: Duration = Duration::from_secs(30);

/// The audio level (RFC 6464: 0 to 127, in -dBov) that a packet carries in the header
/// extension `ext`, read in place.
pub fn audio_level(header: &rtc::rtp::header::Header, ext: u8) -> Option<u8> {
    if !header.extension {
        return None;
    }
    let e = header.extensions.iter().find(|e| e.id == ext)?;
    e.payload.first().map(|b| b & 0x7f)
}

/// The room's speakers, most active first; `dominant` has the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speakers<K> {
    /// Who has the floor.
    pub dominant: K,
    /// Everyone heard lately, the dominant speaker first, then by activity.
    pub ranked: Vec<K>,
}

/// One room's detector, keyed by whatever names a member.
pub struct SpeakerDetector<K> {
    members: HashMap<K, Member>,
    dominant: Option<K>,
    ranked: Vec<K>,
    next_decision: Option<Instant>,
    changed: bool,
}

impl<K: Copy + Eq + Hash + Ord> Default for SpeakerDetector<K> {
    fn default() -> Self {
        SpeakerDetector {
            members: HashMap::new(),
            dominant: None,
            ranked: Vec::new(),
            next_decision: None,
            changed: false,
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> SpeakerDetector<K> {
    /// A level from `member`'s audio: RFC 6464's 0 to 127, in -dBov (0 is the loudest).
    pub fn handle_level(&mut self, member: K, level: u8, now: Instant) {
        let m = self
            .members
            .entry(member)
            .or_insert_with(|| Member::new(now));
        m.record(level, now);
        let due = *self.next_decision.get_or_insert(now + DECISION_INTERVAL);
        if now >= due {
            self.next_decision = Some(now + DECISION_INTERVAL);
            self.decide(now);
        }
    }

    /// `member` left the room.
    pub fn remove(&mut self, member: K) {
        self.members.remove(&member);
        let before = self.ranked.len();
        self.ranked.retain(|&k| k != member);
        if self.dominant == Some(member) {
            self.dominant = self.ranked.first().copied();
            self.changed = true;
        } else if self.ranked.len() != before {
            self.changed = true;
        }
    }

    /// The speakers, if they changed since the last call: the dominant one, or the ranking.
    pub fn poll_speakers(&mut self) -> Option<Speakers<K>> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        let dominant = self.dominant?;
        Some(Speakers {
            dominant,
            ranked: self.ranked.clone(),
        })
    }

    /// Who has the floor now.
    pub fn dominant(&self) -> Option<K> {
        self.dominant
    }

    fn decide(&mut self, now: Instant) {
        self.members
            .retain(|_, m| now.saturating_duration_since(m.last_heard) < FORGET);
        let mut scored: Vec<(K, Scores)> = self
            .members
            .iter_mut()
            .map(|(&k, m)| (k, m.scores(now)))
            .collect();
        // Ties go to the lower key, so that a decision never depends on the map's order.
        scored.sort_by(|a, b| {
            b.1.rank_key()
                .total_cmp(&a.1.rank_key())
                .then(a.0.cmp(&b.0))
        });

        let current = self
            .dominant
            .and_then(|d| scored.iter().find(|(k, _)| *k == d).map(|(_, s)| *s));
        let dominant = match (self.dominant, current) {
            (Some(d), Some(ds)) => scored
                .iter()
                .filter(|(k, s)| *k != d && s.beats(&ds))
                .max_by(|a, b| {
                    (a.1.word - ds.word)
                        .total_cmp(&(b.1.word - ds.word))
                        .then(b.0.cmp(&a.0))
                })
                .map_or(d, |(k, _)| *k),
            // Nobody has the floor (or its holder left): the most active member who is
            // speaking at all takes it.
            _ => match scored.iter().find(|(_, s)| s.speaking()) {
                Some((k, _)) => *k,
                None => return,
            },
        };
        let mut ranked: Vec<K> = Vec::with_capacity(scored.len());
        ranked.push(dominant);
        ranked.extend(scored.iter().map(|(k, _)| *k).filter(|&k| k != dominant));
        if self.dominant != Some(dominant) || ranked != self.ranked {
            self.changed = true;
        }
        self.dominant = Some(dominant);
        self.ranked = ranked;
    }
}

/// A member's recent activity, one byte of immediate activity per frame.
struct Member {
    frames: [u8; HISTORY],
    /// The frame number (since `epoch`) that `frames[frame % HISTORY]` holds last.
    frame: u64,
    epoch: Instant,
    /// The noise floor, in dB of loudness (127 minus the level).
    floor_db: f64,
    last_heard: Instant,
}

impl Member {
    fn new(now: Instant) -> Member {
        Member {
            frames: [0; HISTORY],
            frame: 0,
            epoch: now,
            floor_db: f64::MAX,
            last_heard: now,
        }
    }

    fn frame_at(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_nanos() / FRAME.as_nanos()) as u64
    }

    /// Moves the window to `now`'s frame, the frames in between silent.
    fn advance(&mut self, now: Instant) {
        let f = self.frame_at(now);
        let gap = f.saturating_sub(self.frame).min(HISTORY as u64);
        for i in 1..=gap {
            self.frames[((self.frame + i) % HISTORY as u64) as usize] = 0;
        }
        self.frame = self.frame.max(f);
    }

    fn record(&mut self, level: u8, now: Instant) {
        self.advance(now);
        self.last_heard = now;
        let loudness = f64::from(127 - level.min(127));
        self.floor_db = if loudness < self.floor_db {
            loudness
        } else {
            self.floor_db + FLOOR_RISE_DB
        };
        let above = (loudness - self.floor_db).max(0.0);
        let units = ((above / STEP_DB) as u32).min(IMMEDIATE_UNITS) as u8;
        let slot = &mut self.frames[(self.frame % HISTORY as u64) as usize];
        // Two packets in one frame (10 ms packet times): the louder counts.
        *slot = (*slot).max(units);
    }

    /// The frames from oldest to newest.
    fn history(&self) -> impl Iterator<Item = u8> + '_ {
        (1..=HISTORY as u64).map(move |i| self.frames[((self.frame + i) % HISTORY as u64) as usize])
    }

    fn scores(&mut self, now: Instant) -> Scores {
        self.advance(now);
        let mut frames = [0u8; HISTORY];
        for (slot, a) in frames.iter_mut().zip(self.history()) {
            *slot = a;
        }
        let recent = &frames[HISTORY - IMMEDIATE_FRAMES..];
        let immediate = recent
            .iter()
            .map(|&a| IMMEDIATE.score(u32::from(a)))
            .sum::<f64>()
            / IMMEDIATE_FRAMES as f64;
        let active_in = |w: &[u8]| w.iter().filter(|&&a| a >= ACTIVE_FRAME).count() as u32;
        let word = WORD.score(active_in(&frames[HISTORY - WORD_FRAMES..]));
        let active_words = frames
            .chunks(WORD_FRAMES)
            .filter(|w| active_in(w) >= ACTIVE_WORD)
            .count() as u32;
        let sentence = SENTENCE.score(active_words);
        Scores {
            immediate,
            word,
            sentence,
            active_words,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Scores {
    immediate: f64,
    word: f64,
    sentence: f64,
    active_words: u32,
}

impl Scores {
    /// Whether `self` takes the floor from `holder`: better at every time scale.
    fn beats(&self, holder: &Scores) -> bool {
        self.immediate - holder.immediate > MARGIN[0]
            && self.word - holder.word > MARGIN[1]
            && self.sentence - holder.sentence > MARGIN[2]
    }

    /// Speaking at all: at least one active word in the sentence window.
    fn speaking(&self) -> bool {
        self.active_words > 0
    }

    fn rank_key(&self) -> f64 {
        self.sentence * 100.0 + self.word
    }
}

impl Scale {
    /// The log-likelihood ratio of `k` active units under speech against noise.
    fn score(&self, k: u32) -> f64 {
        let (n, p, lambda) = (self.n, self.p, self.lambda);
        let k = k.min(n);
        let binomial = ln_choose(n, k) + f64::from(k) * p.ln() + f64::from(n - k) * (1.0 - p).ln();
        let exponential = lambda.ln() - lambda * f64::from(k);
        binomial - exponential
    }
}

fn ln_choose(n: u32, k: u32) -> f64 {
    (0..k)
        .map(|i| f64::from(n - i).ln() - f64::from(i + 1).ln())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted room: who makes which sound when. Each member sends a level every 20 ms.
    struct Script {
        detector: SpeakerDetector<u32>,
        t0: Instant,
        /// (time, dominant) at every change.
        changes: Vec<(Duration, u32)>,
    }

    const QUIET: u8 = 95; // room noise
    const SPEECH: u8 = 40;
    const SYLLABLE_GAP: u8 = 75;

    impl Script {
        fn new() -> Script {
            Script {
                detector: SpeakerDetector::default(),
                t0: Instant::now(),
                changes: Vec::new(),
            }
        }

        /// Runs from `from` to `to` (ms), asking `sound(member, ms)` for each level.
        fn run(&mut self, from: u64, to: u64, members: &[u32], sound: impl Fn(u32, u64) -> u8) {
            for ms in (from..to).step_by(20) {
                let now = self.t0 + Duration::from_millis(ms);
                for &m in members {
                    self.detector.handle_level(m, sound(m, ms), now);
                }
                if let Some(s) = self.detector.poll_speakers()
                    && self.changes.last().map(|c| c.1) != Some(s.dominant)
                {
                    self.changes.push((Duration::from_millis(ms), s.dominant));
                }
            }
        }
    }

    /// Speech: syllables of 160 ms with short dips between them, and a 200 ms pause to the
    /// room's noise between words.
    fn talk(ms: u64) -> u8 {
        match (ms % 1_100, ms % 220) {
            (900.., _) => QUIET,
            (_, 160..) => SYLLABLE_GAP,
            _ => SPEECH,
        }
    }

    #[test]
    fn the_floor_follows_a_conversation_and_not_its_interruptions() {
        let mut s = Script::new();
        // A talks for 3 s; B for 4 s, during which A coughs (150 ms) at 5 s; then C talks
        // for 3 s, while B says "mm" (300 ms) at 8 s.
        s.run(0, 10_000, &[1, 2, 3], |m, ms| match (m, ms) {
            (1, 0..3_000) => talk(ms),
            (1, 5_000..5_150) => 30,
            (2, 3_000..7_000) => talk(ms),
            (2, 8_000..8_300) => SPEECH,
            (3, 7_000..10_000) => talk(ms),
            _ => QUIET,
        });
        let who: Vec<u32> = s.changes.iter().map(|c| c.1).collect();
        assert_eq!(who, vec![1, 2, 3], "changes: {:?}", s.changes);
        let at = |i: usize| s.changes[i].0;
        assert!(at(0) <= Duration::from_millis(1_000), "{:?}", s.changes);
        assert!(
            at(1) > Duration::from_millis(3_000) && at(1) <= Duration::from_millis(4_500),
            "{:?}",
            s.changes
        );
        assert!(
            at(2) > Duration::from_millis(7_000) && at(2) <= Duration::from_millis(8_500),
            "{:?}",
            s.changes
        );
    }

    #[test]
    fn a_pause_between_sentences_keeps_the_floor() {
        let mut s = Script::new();
        // A talks, pauses 1.5 s, and goes on; B is quiet but for room noise throughout.
        s.run(0, 6_000, &[1, 2], |m, ms| match (m, ms) {
            (1, 0..2_000) | (1, 3_500..6_000) => talk(ms),
            _ => QUIET,
        });
        assert_eq!(s.changes.iter().map(|c| c.1).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_steady_hum_does_not_hold_the_floor() {
        let mut s = Script::new();
        // Member 2's microphone sits next to a fan, switched on at 1 s: a constant loud level.
        // Member 1 talks from 2 s.
        s.run(0, 8_000, &[1, 2], |m, ms| match (m, ms) {
            (2, 1_000..) => 45,
            (1, 2_000..8_000) => talk(ms),
            _ => QUIET,
        });
        assert_eq!(s.detector.dominant(), Some(1), "{:?}", s.changes);
    }

    #[test]
    fn silence_elects_nobody_and_a_leaver_hands_the_floor_on() {
        let mut s = Script::new();
        s.run(0, 2_000, &[1, 2], |_, _| QUIET);
        assert_eq!(s.detector.dominant(), None);
        s.run(2_000, 5_000, &[1, 2], |m, ms| match m {
            1 => talk(ms),
            _ if ms >= 3_500 => talk(ms),
            _ => QUIET,
        });
        assert_eq!(s.detector.dominant(), Some(1));
        s.detector.remove(1);
        let now = s.detector.poll_speakers().expect("the ranking changed");
        assert_eq!(now.dominant, 2);
        assert_eq!(now.ranked, vec![2]);
    }

    #[test]
    fn the_ranking_is_announced_at_most_every_decision_interval() {
        let mut d = SpeakerDetector::default();
        let t0 = Instant::now();
        let mut announced = 0;
        for ms in (0..10_000u64).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            // Three members who take turns every 50 ms: a ranking that would change often.
            let m = (ms / 50 % 3) as u32;
            d.handle_level(m, if ms % 100 < 60 { 20 } else { 90 }, now);
            if d.poll_speakers().is_some() {
                announced += 1;
            }
        }
        // 10 s at one decision per 300 ms: at most 34 announcements (4 a second would be 40).
        assert!(announced <= 34, "{announced}");
    }

    #[test]
    fn more_activity_always_scores_higher() {
        for scale in [IMMEDIATE, WORD, SENTENCE] {
            let scores: Vec<f64> = (0..=scale.n).map(|k| scale.score(k)).collect();
            assert!(
                scores.windows(2).all(|w| w[1] > w[0]),
                "n = {}: {scores:?}",
                scale.n
            );
        }
        assert!((ln_choose(5, 2) - 10f64.ln()).abs() < 1e-9);
    }
}
