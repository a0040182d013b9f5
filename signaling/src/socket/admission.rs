//! Who may join, under which name and with which rights: the join token's word with
//! `--auth token`, the client's own on an open server. The rights go with the member, where
//! the handlers that need them look.

use super::endpoint::Endpoint;
use crate::auth::{Grants, Source, TokenError};
use crate::messages::{ApiError, JoinRequest, check_name};
use crate::state::AppState;

/// What a join was admitted with.
pub(crate) struct Admitted {
    pub name: String,
    pub grants: Grants,
    /// The token's identity, if it has one.
    pub sub: Option<String>,
}

/// Checks a join: its token with `--auth token`, else its name.
pub(crate) fn admit(state: &AppState, req: &JoinRequest) -> Result<Admitted, ApiError> {
    let Some(verifier) = &state.config.auth else {
        check_name(&req.name)?;
        return Ok(Admitted {
            name: req.name.trim().to_owned(),
            grants: Grants::default(),
            sub: None,
        });
    };
    let token = req
        .token
        .as_deref()
        .ok_or_else(|| refused(TokenError::Required))?;
    let claims = verifier.verify(token, &req.room).map_err(refused)?;
    check_name(&claims.name)
        .map_err(|e| refused(TokenError::Bad(format!("its name: {}", e.message))))?;
    Ok(Admitted {
        name: claims.name.trim().to_owned(),
        grants: claims.grants,
        sub: claims.sub,
    })
}

fn refused(e: TokenError) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

/// `Ok` if the member's grants allow `action`, else `not-allowed`.
pub(crate) fn require(
    member: &Endpoint,
    allowed: impl Fn(&Grants) -> bool,
    action: &str,
) -> Result<(), ApiError> {
    if allowed(&member.grants()) {
        Ok(())
    } else {
        Err(ApiError::new(
            "not-allowed",
            format!("your join token does not allow {action}"),
        ))
    }
}

/// What the SFU lets the member do.
pub(crate) fn sfu_options(grants: &Grants) -> sfu::JoinOptions {
    sfu::JoinOptions {
        receive: grants.subscribe,
        publish_audio: grants.may_publish(Source::Audio),
        publish_video: grants.may_publish(Source::Video) || grants.may_publish(Source::Screen),
    }
}

/// Makes member `id` the holder of identity `sub`, and returns the member that held it
/// until now, who is to be replaced.
pub(crate) fn claim_identity(state: &AppState, sub: &str, id: &str) -> Option<String> {
    // Nothing panics while holding this lock (plain map updates), so it is never poisoned.
    let mut map = state.identities.lock().expect("identities lock poisoned");
    map.insert(sub.to_owned(), id.to_owned())
        .filter(|old| old != id)
}

/// Gives up identity `sub` if member `id` holds it: its join did not go through.
pub(crate) fn unclaim_identity(state: &AppState, sub: &str, id: &str) {
    // See `claim_identity`.
    let mut map = state.identities.lock().expect("identities lock poisoned");
    if map.get(sub).is_some_and(|holder| holder == id) {
        map.remove(sub);
    }
}

/// Forgets the member's identity, if it still holds it.
pub(crate) fn release_identity(state: &AppState, member: &Endpoint) {
    if let Some(sub) = member.identity() {
        unclaim_identity(state, &sub, &member.id());
    }
}
