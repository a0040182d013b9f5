//! The codecs the SFU tells apart, and how it spots a keyframe in each: pure functions of
//! the payload, so that video can wait for a keyframe after a (re)start or a source switch.

/// The codecs the SFU knows by name. Others are forwarded without keyframe gating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video.
    H264,
    /// AV1 video.
    Av1,
    /// Anything else (audio or video) that is passed through untouched.
    Other,
}

impl Codec {
    /// Recognises a codec from its MIME type (`video/VP8`, `audio/opus`, …).
    pub fn from_mime(mime: &str) -> Codec {
        let sub = mime.rsplit('/').next().unwrap_or(mime);
        match sub.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "h264" => Codec::H264,
            "av1" => Codec::Av1,
            _ => Codec::Other,
        }
    }

    /// A short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "vp8",
            Codec::Vp9 => "vp9",
            Codec::H264 => "h264",
            Codec::Av1 => "av1",
            Codec::Other => "other",
        }
    }
}

/// Whether `payload` starts a keyframe. Codecs we cannot inspect answer `true`, so that they
/// are never held back waiting for a keyframe we could not recognise.
pub fn is_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => vp8_keyframe(payload),
        Codec::Vp9 => vp9_keyframe(payload),
        Codec::H264 => h264_keyframe(payload),
        Codec::Av1 => av1_keyframe(payload),
        Codec::Opus | Codec::Other => true,
    }
}

/// RFC 7741: the payload descriptor, then the VP8 frame header whose P bit is 0 on keyframes.
fn vp8_keyframe(p: &[u8]) -> bool {
    vp8_frame_start(p).is_some_and(|i| p.get(i).is_some_and(|h| h & 0x01 == 0))
}

/// Where the VP8 frame header starts in `p`, if `p` starts the first partition of a frame.
fn vp8_frame_start(p: &[u8]) -> Option<usize> {
    let &b0 = p.first()?;
    let start = b0 & 0x10 != 0;
    let pid = b0 & 0x07;
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let &x = p.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let &m = p.get(i)?;
            i += if m & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID/Y/KEYIDX
        }
    }
    (start && pid == 0).then_some(i)
}

/// The width and height a VP8 keyframe's header gives (RFC 6386 §9.1), if `p` starts one:
/// what a simulcast layer shows, without asking the publisher.
pub fn vp8_size(p: &[u8]) -> Option<(u16, u16)> {
    let i = vp8_frame_start(p)?;
    let h = p.get(i..i + 10)?;
    if h[0] & 0x01 != 0 || h[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([h[6], h[7]]) & 0x3fff;
    let height = u16::from_le_bytes([h[8], h[9]]) & 0x3fff;
    (width > 0 && height > 0).then_some((width, height))
}

/// RFC 9628 (draft-ietf-payload-vp9): not inter-predicted (P=0) and the start of a frame (B=1).
fn vp9_keyframe(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0x40 == 0 && b & 0x08 != 0)
}

/// RFC 6184: an IDR slice or an SPS, alone, in a STAP-A, or starting an FU-A.
fn h264_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    match b0 & 0x1f {
        5 | 7 => true,
        24 => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = u16::from_be_bytes([p[i], p[i + 1]]) as usize;
                if matches!(p[i + 2] & 0x1f, 5 | 7) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => p
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && matches!(fu & 0x1f, 5 | 7)),
        _ => false,
    }
}

/// AV1 RTP spec: the N bit of the aggregation header marks a new coded video sequence.
fn av1_keyframe(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0x08 != 0)
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

/// A negotiated codec, as the SFU needs to know it to offer it to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParams {
    /// `audio/opus`, `video/VP8`, …
    pub mime_type: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels (0 for video).
    pub channels: u16,
    /// The `a=fmtp` parameters.
    pub fmtp: String,
}

impl CodecParams {
    /// Which codec this is.
    pub fn codec(&self) -> Codec {
        Codec::from_mime(&self.mime_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vp8_keyframe_gives_its_size() {
        // Extended descriptor with a 15-bit picture id, then a 640x360 keyframe header.
        let key = [
            0x90, 0x80, 0x81, 0x23, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
        ];
        assert_eq!(vp8_size(&key), Some((640, 360)));
        assert!(vp8_keyframe(&key));
        let mut delta = key;
        delta[4] |= 0x01;
        assert_eq!(vp8_size(&delta), None);
        assert_eq!(vp8_size(&key[..10]), None, "truncated");
        let mut bad_code = key;
        bad_code[8] = 0;
        assert_eq!(vp8_size(&bad_code), None);
    }

    #[test]
    fn vp8_keyframe_and_delta() {
        // S=1, PID=0, no extension; frame header P=0.
        assert!(is_keyframe(Codec::Vp8, &[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        // P=1: a delta frame.
        assert!(!is_keyframe(Codec::Vp8, &[0x10, 0x01]));
        // Not the start of a partition.
        assert!(!is_keyframe(Codec::Vp8, &[0x00, 0x00]));
        // X=1, I=1 with a 15-bit picture id, then P=0.
        assert!(is_keyframe(Codec::Vp8, &[0x90, 0x80, 0x81, 0x23, 0x00]));
        assert!(!is_keyframe(Codec::Vp8, &[0x90, 0x80, 0x81]));
        assert!(!is_keyframe(Codec::Vp8, &[]));
    }

    #[test]
    fn h264_keyframes() {
        assert!(is_keyframe(Codec::H264, &[0x65, 0x88]));
        assert!(is_keyframe(Codec::H264, &[0x67, 0x42]));
        assert!(!is_keyframe(Codec::H264, &[0x41, 0x9a]));
        // STAP-A with SPS inside.
        assert!(is_keyframe(Codec::H264, &[0x78, 0x00, 0x02, 0x67, 0x42]));
        // STAP-A with a truncated size field does not read past the end.
        assert!(!is_keyframe(Codec::H264, &[0x78, 0xff, 0xff, 0x41]));
        // FU-A start of an IDR.
        assert!(is_keyframe(Codec::H264, &[0x7c, 0x85, 0x00]));
        assert!(!is_keyframe(Codec::H264, &[0x7c, 0x05, 0x00]));
    }

    #[test]
    fn vp9_av1_and_audio() {
        assert!(is_keyframe(Codec::Vp9, &[0x08]));
        assert!(!is_keyframe(Codec::Vp9, &[0x48]));
        assert!(is_keyframe(Codec::Av1, &[0x08]));
        assert!(!is_keyframe(Codec::Av1, &[0x00]));
        assert!(is_keyframe(Codec::Opus, &[]));
    }

    #[test]
    fn codec_from_mime() {
        assert_eq!(Codec::from_mime("video/VP8"), Codec::Vp8);
        assert_eq!(Codec::from_mime("audio/opus"), Codec::Opus);
        assert_eq!(Codec::from_mime("video/H264"), Codec::H264);
        assert_eq!(Codec::from_mime("video/rtx"), Codec::Other);
    }
}
