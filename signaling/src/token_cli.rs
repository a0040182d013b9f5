//! `sfu-server token create`: a join token and a ready join link, for trying `--auth token`
//! and for scripts. Applications sign their own tokens in their backend, with any JWT
//! library, in the same form (`docs/signaling.md`).

use crate::auth::{Grants, JoinClaims, JoinSigner, Source, unix_seconds};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// `sfu-server` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Join tokens.
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenCommand,
    },
}

/// `sfu-server token …`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Prints a join token and a join link.
    Create(TokenCreate),
}

/// A right a token may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grant {
    /// Publish the microphone.
    Audio,
    /// Publish the camera.
    Video,
    /// Share a screen.
    Screen,
    /// Receive the others' media.
    Subscribe,
    /// Send chat messages.
    Chat,
    /// Remove members of the room.
    Admin,
}

/// `sfu-server token create`.
#[derive(Debug, clap::Args)]
pub struct TokenCreate {
    /// The room it admits to (`*` for any).
    #[arg(long)]
    pub room: String,
    /// The display name.
    #[arg(long)]
    pub name: String,
    /// A stable identity (`sub`): a second join with it replaces the first.
    #[arg(long)]
    pub identity: Option<String>,
    /// How long it is valid (`30m`, `1h`, `7d`).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// What it allows.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "audio,video,screen,subscribe,chat"
    )]
    pub grants: Vec<Grant>,
    /// The server's --join-secret (HS256).
    #[arg(long, env = "SFU_JOIN_SECRET")]
    pub secret: Option<String>,
    /// Or a private key (PEM, Ed25519 or RSA) whose public key the server has.
    #[arg(long)]
    pub private_key: Option<PathBuf>,
    /// The server's address, for the join link.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

/// Why no token could be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenCliError {
    /// Neither a secret nor a key.
    #[error("give --secret (or SFU_JOIN_SECRET) or --private-key")]
    NoKey,
    /// The key file could not be read or used.
    #[error("{0}")]
    Key(String),
    /// Signing failed.
    #[error("cannot sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl TokenCreate {
    /// The claims it asks for, valid from `now`.
    pub fn claims(&self, now: SystemTime) -> JoinClaims {
        let has = |g: Grant| self.grants.contains(&g);
        let publish = [
            (Grant::Audio, Source::Audio),
            (Grant::Video, Source::Video),
            (Grant::Screen, Source::Screen),
        ]
        .into_iter()
        .filter(|(g, _)| has(*g))
        .map(|(_, s)| s)
        .collect();
        JoinClaims {
            room: self.room.clone(),
            name: self.name.clone(),
            sub: self.identity.clone(),
            exp: unix_seconds(now + self.ttl),
            nbf: None,
            grants: Grants {
                publish,
                subscribe: has(Grant::Subscribe),
                chat: has(Grant::Chat),
                admin: has(Grant::Admin),
            },
        }
    }

    /// The token and its join link, one per line.
    pub fn run(&self, now: SystemTime) -> Result<String, TokenCliError> {
        let signer = match (&self.secret, &self.private_key) {
            (_, Some(path)) => {
                let pem = std::fs::read(path)
                    .map_err(|e| TokenCliError::Key(format!("{}: {e}", path.display())))?;
                JoinSigner::private_key(&pem).map_err(|e| TokenCliError::Key(e.to_string()))?
            }
            (Some(secret), None) => JoinSigner::hs256(secret.as_bytes()),
            (None, None) => return Err(TokenCliError::NoKey),
        };
        let token = signer.sign(&self.claims(now))?;
        let room = if self.room == "*" { "ROOM" } else { &self.room };
        let base = self.url.trim_end_matches('/');
        Ok(format!("{token}\n{base}/?room={room}&token={token}\n"))
    }
}
