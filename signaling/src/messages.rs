//! The Socket.IO protocol's payloads, their validation, and the errors acked back.
//! `docs/signaling.md` describes every event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest chat message, in bytes.
pub const MAX_CHAT_BYTES: usize = 4 * 1024;
/// Longest session description, in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Longest ICE candidate line, in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// An error acked to the client: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Stable, machine-readable.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The ack payload: `{error: {code, message}}`.
    pub fn to_ack(&self) -> Value {
        serde_json::json!({ "error": self })
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new("bad-request", message)
    }

    pub(crate) fn not_joined() -> ApiError {
        ApiError::new("not-joined", "join a room first")
    }
}

impl From<sfu::SfuError> for ApiError {
    fn from(e: sfu::SfuError) -> ApiError {
        ApiError::new(e.code(), e.to_string())
    }
}

/// A request payload: parsed from JSON, then checked beyond what its type says.
pub trait Request: for<'de> Deserialize<'de> {
    /// Checks sizes and formats; the default accepts anything that parsed.
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Parses a payload into `T`, or says what is wrong with it. Every payload is one JSON
/// object: serde would also read a struct from an array of its fields in order, which the
/// protocol does not allow.
pub fn parse<T: for<'de> Deserialize<'de>>(data: Value) -> Result<T, ApiError> {
    if !data.is_object() {
        return Err(ApiError::bad_request(
            "malformed payload: a JSON object is required",
        ));
    }
    serde_json::from_value(data)
        .map_err(|e| ApiError::bad_request(format!("malformed payload: {e}")))
}

/// `join {room, name, token?}`.
#[derive(Debug, Deserialize)]
pub struct JoinRequest {
    /// Room name: `[A-Za-z0-9_-]{1,64}`.
    pub room: String,
    /// Display name: 1 to 64 characters. With a token, the token's name is used instead,
    /// and this may be left out.
    #[serde(default)]
    pub name: String,
    /// A join token (`--auth token`).
    #[serde(default)]
    pub token: Option<String>,
}

/// Whether `s` may name a room (or a cluster node): 1 to 64 letters, digits, `-` or `_`,
/// which keeps it safe in URLs, logs and Redis keys.
pub fn valid_room_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The longest join token taken: a few claims signed with RS256 are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

impl Request for JoinRequest {
    /// Checks the room and display names.
    fn validate(&self) -> Result<(), ApiError> {
        if !valid_room_name(&self.room) {
            return Err(ApiError::new(
                "bad-room-name",
                "room names are 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        match &self.token {
            Some(t) if t.len() > MAX_TOKEN_BYTES => Err(ApiError::new(
                "bad-token",
                format!("join tokens are at most {MAX_TOKEN_BYTES} bytes"),
            )),
            Some(_) => Ok(()),
            None => check_name(&self.name),
        }
    }
}

/// Checks a display name: 1 to 64 printable characters once trimmed.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !name.chars().all(printable) {
        return Err(ApiError::new(
            "bad-name",
            "display names are 1 to 64 printable characters",
        ));
    }
    Ok(())
}

/// Whether `c` may appear in a display name: no control character, and no Unicode format
/// character (general category Cf), which is invisible. The bidirectional ones (U+202E and its
/// kin) also reorder the text around them, so that one name could pass for another. The
/// zero-width joiner and non-joiner are kept: scripts such as Persian and emoji sequences
/// need them.
fn printable(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    !c.is_control()
        && (c == '\u{200C}' || c == '\u{200D}' || c.general_category() != GeneralCategory::Format)
}

/// `p2p-signal {to, description | candidate}`.
#[derive(Debug, Deserialize)]
pub struct P2pSignal {
    /// The peer's participant id.
    pub to: String,
    /// An offer or answer (`{type, sdp}`).
    #[serde(default)]
    pub description: Option<Value>,
    /// An ICE candidate (`RTCIceCandidateInit`).
    #[serde(default)]
    pub candidate: Option<Value>,
    /// Sender's ordering (`{link, seq}`), relayed untouched: the server handles events
    /// concurrently, so the receiver restores the order.
    #[serde(default)]
    pub order: Option<Value>,
}

impl P2pSignal {
    /// The size of what is relayed (the description or candidate, as JSON), which must be at
    /// most 64 KiB.
    pub fn size(&self) -> Result<usize, ApiError> {
        let size = self
            .description
            .as_ref()
            .or(self.candidate.as_ref())
            .map_or(0, |v| v.to_string().len());
        if size > MAX_SDP_BYTES {
            return Err(ApiError::new(
                "too-large",
                "the signal is larger than 64 KiB",
            ));
        }
        Ok(size)
    }
}

impl Request for P2pSignal {
    /// One of the two (the size is [`P2pSignal::size`]'s to check).
    fn validate(&self) -> Result<(), ApiError> {
        match (&self.description, &self.candidate) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(ApiError::bad_request(
                "give exactly one of description or candidate",
            )),
        }
    }
}

/// `sfu-offer {sdp}` and `sfu-answer {sdp}`.
#[derive(Debug, Deserialize)]
pub struct SdpMessage {
    /// The session description.
    pub sdp: String,
}

impl Request for SdpMessage {
    /// Not too large.
    fn validate(&self) -> Result<(), ApiError> {
        if self.sdp.len() > MAX_SDP_BYTES {
            return Err(ApiError::new(
                "too-large",
                "session descriptions are at most 64 KiB",
            ));
        }
        Ok(())
    }
}

/// `sfu-candidate {candidate, sdpMid, sdpMLineIndex}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateMessage {
    /// The candidate line; empty for end-of-candidates.
    pub candidate: String,
    /// The media section's mid.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
}

impl Request for CandidateMessage {
    /// Not too large.
    fn validate(&self) -> Result<(), ApiError> {
        if self.candidate.len() > MAX_CANDIDATE_BYTES {
            return Err(ApiError::new("too-large", "candidates are at most 1 KiB"));
        }
        Ok(())
    }
}

/// `chat {text}`.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// 1 byte to 4 KiB.
    pub text: String,
}

impl Request for ChatRequest {
    /// Not empty, not too large.
    fn validate(&self) -> Result<(), ApiError> {
        if self.text.trim().is_empty() {
            return Err(ApiError::bad_request("empty message"));
        }
        if self.text.len() > MAX_CHAT_BYTES {
            return Err(ApiError::new(
                "too-large",
                "chat messages are at most 4 KiB",
            ));
        }
        Ok(())
    }
}

/// `typing {typing}`.
#[derive(Debug, Deserialize)]
pub struct TypingRequest {
    /// Whether the member is typing.
    pub typing: bool,
}

/// `media-state {audio, video}`.
#[derive(Debug, Deserialize)]
pub struct MediaStateRequest {
    /// Whether the microphone is on.
    pub audio: bool,
    /// Whether the camera (or a screen) is being sent.
    pub video: bool,
    /// Whether the video is a shared screen (optional, false if absent): the SFU gives it
    /// the first share of every subscriber's bandwidth.
    #[serde(default)]
    pub screen: bool,
}

/// `remove-member {id}`: a member with the `admin` grant removes another of its room.
#[derive(Debug, Deserialize)]
pub struct RemoveMemberRequest {
    /// The member to remove.
    pub id: String,
}

impl Request for RemoveMemberRequest {}

/// `view {peer, width, height, visible}`: how the sender shows a member's video.
#[derive(Debug, Deserialize)]
pub struct ViewRequest {
    /// The member whose video it is.
    pub peer: String,
    /// The tile's size in device pixels: no larger simulcast layer is sent.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Whether the tile is on screen, in a visible tab.
    pub visible: bool,
}

/// The largest tile side accepted, in device pixels (an 8K screen is 7,680 wide).
pub const MAX_TILE_SIDE: u32 = 16_384;

impl ViewRequest {
    /// The tile's size, within the sides that `validate` accepts.
    pub fn tile(&self) -> (u16, u16) {
        let side = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        (side(self.width), side(self.height))
    }
}

impl Request for ViewRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if self.width > MAX_TILE_SIDE || self.height > MAX_TILE_SIDE {
            return Err(ApiError::bad_request("width and height are at most 16384"));
        }
        Ok(())
    }
}

impl Request for TypingRequest {}
impl Request for MediaStateRequest {}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(room: &str, name: &str) -> Result<(), ApiError> {
        JoinRequest {
            room: room.into(),
            name: name.into(),
            token: None,
        }
        .validate()
    }

    #[test]
    fn room_and_display_names() {
        assert!(join("standup-42_x", "Ada").is_ok());
        assert_eq!(join("", "Ada").unwrap_err().code, "bad-room-name");
        assert_eq!(join("a b", "Ada").unwrap_err().code, "bad-room-name");
        assert_eq!(
            join(&"r".repeat(65), "Ada").unwrap_err().code,
            "bad-room-name"
        );
        assert_eq!(join("r", "").unwrap_err().code, "bad-name");
        assert_eq!(join("r", &"é".repeat(65)).unwrap_err().code, "bad-name");
        assert!(join("r", &"é".repeat(64)).is_ok());
    }

    #[test]
    fn names_that_could_pass_for_others_are_refused() {
        // Right-to-left override, its kin, and invisible format characters.
        for name in [
            "Ada\u{202E}gnp.exe",
            "\u{202D}Bob",
            "Bob\u{2066}x\u{2069}",
            "A\u{200B}da",
            "\u{FEFF}Ada",
            "Ada\u{00AD}",
            "Ada\u{E0041}",
            "Ada\u{200F}",
            "Ada\u{061C}",
        ] {
            assert_eq!(join("r", name).unwrap_err().code, "bad-name", "{name:?}");
        }
        // Scripts and emoji that need joiners, and plain non-Latin names, are fine.
        for name in [
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}",
            "\u{1F468}\u{200D}\u{1F469}",
            "Zoë",
            "\u{5F20}\u{4F1F}",
        ] {
            assert!(join("r", name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn payloads_are_objects() {
        let e = parse::<JoinRequest>(serde_json::json!(["room", "x"])).unwrap_err();
        assert_eq!(e.code, "bad-request");
        assert!(parse::<JoinRequest>(serde_json::json!(null)).is_err());
    }

    #[test]
    fn malformed_payloads_say_so() {
        let e = parse::<JoinRequest>(serde_json::json!({"room": 5})).unwrap_err();
        assert_eq!(e.code, "bad-request");
        assert_eq!(e.to_ack()["error"]["code"], "bad-request");
    }

    #[test]
    fn signal_needs_exactly_one_part() {
        let s: P2pSignal = parse(serde_json::json!({"to": "x"})).unwrap();
        assert!(s.validate().is_err());
        let s: P2pSignal =
            parse(serde_json::json!({"to": "x", "candidate": {"candidate": ""}})).unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.size().unwrap(), r#"{"candidate":""}"#.len());
        let big: P2pSignal = parse(
            serde_json::json!({"to": "x", "description": {"sdp": "x".repeat(MAX_SDP_BYTES)}}),
        )
        .unwrap();
        assert_eq!(big.size().unwrap_err().code, "too-large");
    }
}
