//! The browser client's assets, built from `web/` by `build.rs` and embedded here, so that
//! one binary serves everything.

/// Embedded assets as `(path, content type, bytes)`.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/dist/index.html")),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/dist/app.js")),
    ),
    (
        "/e2ee-worker.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/dist/e2ee-worker.js")),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/dist/style.css")),
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_app_is_embedded() {
        let html = super::ASSETS
            .iter()
            .find(|a| a.0 == "/index.html")
            .unwrap()
            .2;
        assert!(std::str::from_utf8(html).unwrap().contains("/app.js"));
        let js = super::ASSETS.iter().find(|a| a.0 == "/app.js").unwrap().2;
        assert!(js.len() > 10_000, "the bundle includes socket.io-client");
    }
}
