//! The browser client's assets. The real app arrives with its own issue; until then the
//! server embeds a placeholder page so that the binary and its layout are in place.

/// Embedded assets as `(path, content type, bytes)`.
pub const ASSETS: &[(&str, &str, &[u8])] = &[(
    "/index.html",
    "text/html; charset=utf-8",
    b"<!doctype html><title>sfu</title><p>The web client is not built yet.</p>",
)];
