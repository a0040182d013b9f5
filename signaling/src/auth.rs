//! Join tokens (`--auth token`): the application's backend signs a JWT that says who may
//! join which room, under which name, and with which rights; the server checks it on `join`.
//!
//! HS256 with a shared secret (`--join-secret`), or EdDSA (Ed25519) or RS256 with the
//! backend's public key (`--join-public-key`). Only the one algorithm the key is for is
//! accepted, so neither `alg: none` nor an HMAC signed with the public key (the HS/RS
//! confusion) passes.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone who reaches the server, under any name: for development.
    #[default]
    Open,
    /// Only with a join token signed by the application.
    Token,
}

/// What a published source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The microphone.
    Audio,
    /// The camera.
    Video,
    /// A shared screen.
    Screen,
}

/// What a member may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// The sources it may publish.
    #[serde(default = "every_source")]
    pub publish: Vec<Source>,
    /// Whether it receives the others' media.
    #[serde(default = "yes")]
    pub subscribe: bool,
    /// Whether it may send chat messages.
    #[serde(default = "yes")]
    pub chat: bool,
    /// Whether it may remove members of its room.
    #[serde(default)]
    pub admin: bool,
}

fn every_source() -> Vec<Source> {
    vec![Source::Audio, Source::Video, Source::Screen]
}

fn yes() -> bool {
    true
}

impl Default for Grants {
    /// Everything but `admin`: what every member of an open server may do.
    fn default() -> Grants {
        Grants {
            publish: every_source(),
            subscribe: true,
            chat: true,
            admin: false,
        }
    }
}

impl Grants {
    /// Whether it may publish `source`.
    pub fn may_publish(&self, source: Source) -> bool {
        self.publish.contains(&source)
    }

    /// Whether it may do everything a member of an open room does (then its room may go
    /// peer to peer, where the server cannot hold anyone to less).
    pub fn is_full(&self) -> bool {
        self.subscribe
            && [Source::Audio, Source::Video]
                .iter()
                .all(|s| self.may_publish(*s))
    }
}

/// The claims of a join token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// The room it admits to, or `*` for any.
    pub room: String,
    /// The display name, which the client cannot change.
    pub name: String,
    /// A stable identity: a second join with the same one replaces the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not before, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// What it may do; everything but `admin` when absent.
    #[serde(default)]
    pub grants: Grants,
}

/// Why a join token was refused. The messages never say whether the room exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token, on a server that needs one.
    #[error("this server needs a join token")]
    Required,
    /// Malformed, badly signed, of another algorithm, or missing a claim.
    #[error("the join token is not valid: {0}")]
    Bad(String),
    /// Past its `exp`, or before its `nbf`.
    #[error("the join token has expired or is not valid yet")]
    Expired,
    /// Valid, but not for this room.
    #[error("the join token does not admit to this room")]
    NotAllowed,
}

impl TokenError {
    /// The error code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Required => "auth-required",
            TokenError::Bad(_) => "bad-token",
            TokenError::Expired => "token-expired",
            TokenError::NotAllowed => "not-allowed",
        }
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither an Ed25519 nor an RSA public key in PEM.
    #[error("the join key is neither an Ed25519 nor an RSA key in PEM: {0}")]
    Unreadable(String),
    /// `--auth token` without `--join-secret` or `--join-public-key`.
    #[error("--auth token needs --join-secret or --join-public-key")]
    Missing,
}

/// Clock skew allowed between the backend that signs and this server.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Checks join tokens against one key.
#[derive(Clone)]
pub struct JoinVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JoinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JoinVerifier {
    /// Tokens signed with HS256 and this shared secret.
    pub fn hs256(secret: &[u8]) -> JoinVerifier {
        JoinVerifier::with(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// Tokens signed with the private half of this public key (PEM): EdDSA for Ed25519,
    /// RS256 for RSA.
    pub fn public_key(pem: &[u8]) -> Result<JoinVerifier, KeyError> {
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(JoinVerifier::with(key, Algorithm::EdDSA));
        }
        DecodingKey::from_rsa_pem(pem)
            .map(|key| JoinVerifier::with(key, Algorithm::RS256))
            .map_err(|e| KeyError::Unreadable(e.to_string()))
    }

    fn with(key: DecodingKey, algorithm: Algorithm) -> JoinVerifier {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        JoinVerifier { key, validation }
    }

    /// The token's claims, if it is valid and admits to `room`.
    pub fn verify(&self, token: &str, room: &str) -> Result<JoinClaims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<JoinClaims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => TokenError::Expired,
                _ => TokenError::Bad(e.to_string()),
            },
        )?;
        let claims = data.claims;
        if claims.room != "*" && claims.room != room {
            return Err(TokenError::NotAllowed);
        }
        let name = claims.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(TokenError::Bad(
                "its name must be 1 to 64 characters".into(),
            ));
        }
        Ok(claims)
    }
}

/// Signs join tokens: `sfu-server token create`, and tests.
pub struct JoinSigner {
    key: EncodingKey,
    algorithm: Algorithm,
}

impl JoinSigner {
    /// With a shared secret (HS256).
    pub fn hs256(secret: &[u8]) -> JoinSigner {
        JoinSigner {
            key: EncodingKey::from_secret(secret),
            algorithm: Algorithm::HS256,
        }
    }

    /// With a private key in PEM: EdDSA for Ed25519, RS256 for RSA.
    pub fn private_key(pem: &[u8]) -> Result<JoinSigner, KeyError> {
        if let Ok(key) = EncodingKey::from_ed_pem(pem) {
            return Ok(JoinSigner {
                key,
                algorithm: Algorithm::EdDSA,
            });
        }
        EncodingKey::from_rsa_pem(pem)
            .map(|key| JoinSigner {
                key,
                algorithm: Algorithm::RS256,
            })
            .map_err(|e| KeyError::Unreadable(e.to_string()))
    }

    /// The signed token.
    pub fn sign(&self, claims: &JoinClaims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.key)
    }
}

/// Seconds since the Unix epoch at `t`.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(room: &str, exp_in: i64) -> JoinClaims {
        let now = unix_seconds(SystemTime::now()) as i64;
        JoinClaims {
            room: room.into(),
            name: "Ada".into(),
            sub: Some("user-1".into()),
            exp: (now + exp_in) as u64,
            nbf: None,
            grants: Grants::default(),
        }
    }

    #[test]
    fn a_valid_token_admits_to_its_room_and_no_other() {
        let signer = JoinSigner::hs256(b"s3cret");
        let verifier = JoinVerifier::hs256(b"s3cret");
        let token = signer.sign(&claims("blue", 3600)).unwrap();
        assert_eq!(verifier.verify(&token, "blue").unwrap().name, "Ada");
        assert_eq!(verifier.verify(&token, "red"), Err(TokenError::NotAllowed));
        let any = signer.sign(&claims("*", 3600)).unwrap();
        assert!(verifier.verify(&any, "red").is_ok());
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let signer = JoinSigner::hs256(b"s3cret");
        let verifier = JoinVerifier::hs256(b"s3cret");
        let old = signer.sign(&claims("blue", -3600)).unwrap();
        assert_eq!(verifier.verify(&old, "blue"), Err(TokenError::Expired));
        let mut early = claims("blue", 7200);
        early.nbf = Some(early.exp - 3600);
        let early = signer.sign(&early).unwrap();
        assert_eq!(verifier.verify(&early, "blue"), Err(TokenError::Expired));
    }

    #[test]
    fn a_wrong_signature_alg_none_and_a_missing_claim_are_bad_tokens() {
        let verifier = JoinVerifier::hs256(b"s3cret");
        let forged = JoinSigner::hs256(b"guess")
            .sign(&claims("blue", 3600))
            .unwrap();
        assert_eq!(
            verifier.verify(&forged, "blue").unwrap_err().code(),
            "bad-token"
        );
        // alg: none, with the claims of a valid token and no signature.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b64.encode(serde_json::to_vec(&claims("blue", 3600)).unwrap());
        let none = format!("{}.{body}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(
            verifier.verify(&none, "blue").unwrap_err().code(),
            "bad-token"
        );
        // Valid but for a missing claim: `room`, or `exp`.
        for claim in ["room", "exp"] {
            let mut v = serde_json::to_value(claims("blue", 3600)).unwrap();
            v.as_object_mut().unwrap().remove(claim);
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &v,
                &EncodingKey::from_secret(b"s3cret"),
            )
            .unwrap();
            let code = verifier.verify(&token, "blue").unwrap_err().code();
            assert_eq!(code, "bad-token", "{claim}");
        }
        assert_eq!(
            verifier.verify("not.a.token", "blue").unwrap_err().code(),
            "bad-token"
        );
        assert_eq!(verifier.verify("", "blue").unwrap_err().code(), "bad-token");
    }

    #[test]
    fn grants_default_to_everything_but_admin() {
        let c: JoinClaims = serde_json::from_str(
            r#"{"room":"r","name":"n","exp":1,"grants":{"publish":["audio"]}}"#,
        )
        .unwrap();
        assert!(c.grants.may_publish(Source::Audio));
        assert!(!c.grants.may_publish(Source::Video));
        assert!(c.grants.subscribe && c.grants.chat && !c.grants.admin);
        assert!(!c.grants.is_full());
        let c: JoinClaims = serde_json::from_str(r#"{"room":"r","name":"n","exp":1}"#).unwrap();
        assert_eq!(c.grants, Grants::default());
        assert!(c.grants.is_full());
    }

    const RSA_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/join_rsa_private.pem");
    const RSA_PUBLIC: &[u8] = include_bytes!("../tests/fixtures/join_rsa_public.pem");
    const ED_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/join_ed25519_private.pem");
    const ED_PUBLIC: &[u8] = include_bytes!("../tests/fixtures/join_ed25519_public.pem");

    #[test]
    fn public_keys_verify_their_own_algorithm_only() {
        for (private, public) in [(RSA_PRIVATE, RSA_PUBLIC), (ED_PRIVATE, ED_PUBLIC)] {
            let verifier = JoinVerifier::public_key(public).unwrap();
            let token = JoinSigner::private_key(private)
                .unwrap()
                .sign(&claims("blue", 3600))
                .unwrap();
            assert_eq!(verifier.verify(&token, "blue").unwrap().name, "Ada");
            // The HS/RS confusion: an HMAC keyed with the public key's own PEM bytes.
            let confused = JoinSigner::hs256(public)
                .sign(&claims("blue", 3600))
                .unwrap();
            assert_eq!(
                verifier.verify(&confused, "blue").unwrap_err().code(),
                "bad-token"
            );
        }
        // The other key's tokens fail.
        let rsa = JoinVerifier::public_key(RSA_PUBLIC).unwrap();
        let ed_token = JoinSigner::private_key(ED_PRIVATE)
            .unwrap()
            .sign(&claims("blue", 3600))
            .unwrap();
        assert_eq!(
            rsa.verify(&ed_token, "blue").unwrap_err().code(),
            "bad-token"
        );
        assert!(JoinVerifier::public_key(b"not a key").is_err());
    }
}
