//! One JSON request to Janus's HTTP API and its answer, with Janus's and the VideoRoom
//! plugin's errors turned into [`JanusError`].

use bytes::Bytes;
use serde_json::Value;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Why a Janus request failed.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    /// No HTTP answer, or an HTTP error status.
    #[error("Janus HTTP: {0}")]
    Http(String),
    /// An answer that lacks what the API promises (an id, an SDP) or is not JSON.
    #[error("Janus's answer to {what} is malformed: {detail}")]
    Malformed {
        /// The request.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// Janus, or its VideoRoom plugin, refused the request.
    #[error("Janus refused {what}: {message}")]
    Refused {
        /// The request.
        what: String,
        /// Janus's reason, with its error code.
        message: String,
    },
    /// The awaited event did not come in time.
    #[error("Janus did not send {0} within 15 s")]
    Timeout(String),
    /// The session's event stream ended while waiting.
    #[error("Janus's session ended before {0}")]
    Closed(String),
}

/// A `--janus-url` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("Janus URL {url}: {why}")]
pub struct BadUrl {
    url: String,
    why: String,
}

/// Where Janus's API is: `http://HOST:PORT/PATH`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The HTTP server.
    pub addr: SocketAddr,
    /// The API's base path, `/janus` by default.
    pub path: String,
}

impl std::str::FromStr for Endpoint {
    type Err = BadUrl;

    fn from_str(url: &str) -> Result<Endpoint, BadUrl> {
        let bad = |why: String| BadUrl {
            url: url.to_owned(),
            why,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported".into()))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, "janus"));
        let addr = host
            .to_socket_addrs()
            .map_err(|e| bad(e.to_string()))?
            .next()
            .ok_or_else(|| bad(format!("{host} has no address")))?;
        let path = format!("/{}", path.trim_end_matches('/'));
        Ok(Endpoint {
            addr,
            path: if path == "/" { "/janus".into() } else { path },
        })
    }
}

/// How long a request may take; a long poll answers within 30 s even when idle.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_TIMEOUT: Duration = Duration::from_secs(45);

/// One HTTP/1.1 exchange on a connection of its own; the body is JSON both ways. `GET` is
/// the long poll, and may take longer than other requests.
pub async fn exchange(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, JanusError> {
    let limit = if method == "GET" {
        POLL_TIMEOUT
    } else {
        REQUEST_TIMEOUT
    };
    tokio::time::timeout(limit, exchange_unbounded(ep, method, path, body))
        .await
        .map_err(|_| JanusError::Http(format!("{method} {path}: no answer within {limit:?}")))?
}

async fn exchange_unbounded(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, JanusError> {
    let http = |e: &dyn std::fmt::Display| JanusError::Http(format!("{method} {path}: {e}"));
    let payload = body.map(|b| Bytes::from(b.to_string()));
    let (status, bytes) = crate::http::request(ep.addr, method, path, payload)
        .await
        .map_err(|e| http(&e))?;
    if !status.is_success() {
        return Err(http(&format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| JanusError::Malformed {
        what: format!("{method} {path}"),
        detail: e.to_string(),
    })
}

/// Fails on a Janus-level error (`"janus": "error"`) or a plugin-level one (`error_code`).
pub fn check(what: &str, v: Value) -> Result<Value, JanusError> {
    let refused = |message: String| JanusError::Refused {
        what: what.to_owned(),
        message,
    };
    if v["janus"] == "error" {
        return Err(refused(format!(
            "{} ({})",
            v["error"]["reason"], v["error"]["code"]
        )));
    }
    let data = &v["plugindata"]["data"];
    if let Some(code) = data.get("error_code") {
        return Err(refused(format!("{} ({code})", data["error"])));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_defaults_to_the_janus_path() {
        let ep: Endpoint = "http://127.0.0.1:8088".parse().unwrap();
        assert_eq!(ep.path, "/janus");
        let ep: Endpoint = "http://127.0.0.1:8088/api/".parse().unwrap();
        assert_eq!((ep.addr.port(), ep.path.as_str()), (8088, "/api"));
        let ep: Endpoint = "http://localhost:8088/janus".parse().unwrap();
        assert!(ep.addr.ip().is_loopback());
        assert!("https://x:1/janus".parse::<Endpoint>().is_err());
        assert!("http://127.0.0.1/janus".parse::<Endpoint>().is_err());
    }

    #[test]
    fn plugin_errors_are_refusals() {
        let v = json!({"janus": "success", "plugindata": {"data": {
            "videoroom": "event", "error_code": 428, "error": "No such feed"}}});
        let e = check("join", v).unwrap_err().to_string();
        assert!(e.contains("No such feed") && e.contains("428"), "{e}");
        assert!(check("x", json!({"janus": "error", "error": {"code": 458}})).is_err());
        assert!(check("x", json!({"janus": "ack"})).is_ok());
    }
}
