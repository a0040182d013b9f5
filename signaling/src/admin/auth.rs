//! Who may call the admin API.

use super::AdminError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::sync::Arc;
use subtle::{Choice, ConstantTimeEq};
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// How a listener guards the admin API.
#[derive(Debug, Clone)]
pub enum Access {
    /// Callers must present this bearer token.
    Token(String),
    /// Anyone who reaches the listener may call it: only for a loopback listener.
    Open,
    /// The API is not served here; callers are told where it is.
    Refused,
}

/// `api` behind the guard `access` describes.
pub(super) fn guard(api: Router, access: Access) -> Router {
    match access {
        Access::Open => api.layer(middleware::from_fn(loopback_host)),
        Access::Token(token) => api.layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            require_token,
        )),
        Access::Refused => Router::new()
            .route("/api", any(refused))
            .route("/api/{*rest}", any(refused)),
    }
}

async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .unwrap_or("");
    if token_matches(presented.as_bytes(), token.as_bytes()) {
        next.run(req).await
    } else {
        AdminError::Unauthorized("missing or wrong bearer token".into()).into_response()
    }
}

/// Compares in time that depends on neither the presented token's content nor its length:
/// a token of the wrong length is replaced by the real one, compared, and refused.
fn token_matches(presented: &[u8], token: &[u8]) -> bool {
    let same_len = presented.len() == token.len();
    let candidate = if same_len { presented } else { token };
    bool::from(candidate.ct_eq(token) & Choice::from(u8::from(same_len)))
}

/// Refuses requests whose `Host` is not a loopback name, so that a web page cannot reach
/// the open loopback listener through DNS rebinding. A request without `Host` cannot come
/// from a browser.
async fn loopback_host(req: Request, next: Next) -> Response {
    let host = req.headers().get(HOST).and_then(|v| v.to_str().ok());
    if host.is_none_or(is_loopback_host) {
        next.run(req).await
    } else {
        AdminError::Unauthorized("the open admin listener answers only to a loopback Host".into())
            .into_response()
    }
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn refused() -> AdminError {
    AdminError::Unauthorized(
        "the admin API needs --admin-token on this listener; without a token it answers only \
         on the loopback admin listener (--admin-http)"
            .into(),
    )
}

/// Declares the bearer scheme the paths name.
pub(super) struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches(b"s3cret", b"s3cret"));
        assert!(!token_matches(b"s3cre", b"s3cret"));
        assert!(!token_matches(b"s3cret!", b"s3cret"));
        assert!(!token_matches(b"", b"s3cret"));
        assert!(!token_matches(b"S3cret", b"s3cret"));
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:8081",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8081",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example:8081", "10.0.0.1", "[2001:db8::1]:80", ""] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
