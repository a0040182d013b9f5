//! Ephemeral TURN credentials in the "TURN REST API" form that coturn (`use-auth-secret`)
//! and most TURN servers accept: the username is `expiry:participant`, with the expiry in
//! Unix seconds, and the password is the base64 of the username's HMAC-SHA1 under a secret
//! that the TURN server shares with us. Each join gets its own pair, valid for a while, so
//! that no long-lived TURN password is ever handed to a browser.

use base64::Engine;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A TURN username and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    /// `expiry:participant`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub credential: String,
}

/// The credential for `participant`, valid from `now` for `ttl`.
pub fn mint(secret: &str, participant: &str, now: SystemTime, ttl: Duration) -> TurnCredential {
    let expiry = (now + ttl)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let username = format!("{expiry}:{participant}");
    TurnCredential {
        credential: password(secret, &username),
        username,
    }
}

/// The password of `username` under `secret`.
pub fn password(secret: &str, username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = ring::hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The password of `username` if it is in the REST form and has not expired at `now`
/// (Unix seconds): what a TURN server checks.
pub fn password_if_valid(secret: &str, username: &str, now: u64) -> Option<String> {
    let (expiry, _who) = username.split_once(':')?;
    let expiry: u64 = expiry.parse().ok()?;
    (expiry >= now).then(|| password(secret, username))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_form_coturn_checks() {
        // The expected password comes from Python's hmac and base64 modules.
        let now = UNIX_EPOCH + Duration::from_secs(1_699_996_400);
        let c = mint("s3cret", "alice", now, Duration::from_secs(3600));
        assert_eq!(c.username, "1700000000:alice");
        assert_eq!(c.credential, "TtElzSjT0GdnTQ9xdcRNxx96yQs=");
        // Another secret, another password.
        assert_ne!(mint("other", "alice", now, Duration::from_secs(3600)), c);
        // What the TURN side checks: the form, and the expiry.
        let valid = |user: &str, at: u64| password_if_valid("s3cret", user, at);
        assert_eq!(
            valid(&c.username, 1_699_999_999),
            Some(c.credential.clone())
        );
        assert_eq!(valid(&c.username, 1_700_000_001), None, "expired");
        assert_eq!(valid("alice", 0), None);
        assert_eq!(valid("soon:alice", 0), None);
    }
}
