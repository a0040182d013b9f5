//! Builds the web app with npm when its sources change, into `OUT_DIR/dist`, so that
//! `cargo run` alone does all the set-up. `npm ci` runs only when `node_modules` is missing
//! or older than `package-lock.json`.

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {what} (is Node.js with npm installed?): {e}"));
    assert!(status.success(), "{what} failed with {status}");
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn main() {
    for path in ["web", "build.mjs", "package.json", "package-lock.json"] {
        println!("cargo::rerun-if-changed={path}");
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dist = Path::new(&out).join("dist");
    let stamp = Path::new("node_modules/.package-lock.json");
    if modified(stamp) < modified(Path::new("package-lock.json")) {
        run(
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]),
            "npm ci",
        );
    }
    run(
        Command::new("node")
            .arg("build.mjs")
            .env("CLIENT_DIST", &dist),
        "the web app build (node build.mjs)",
    );
}
