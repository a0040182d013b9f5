//! Who may call the admin API.

use super::AdminError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::sync::Arc;
use subtle::ConstantTimeEq;
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
        Access::Open => api,
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
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        next.run(req).await
    } else {
        AdminError::Unauthorized("missing or wrong bearer token".into()).into_response()
    }
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
