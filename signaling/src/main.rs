//! `sfu-server`: for now it runs the media plane alone; signaling arrives with its own issue.

use sfu::{SfuHandle, SfuOptions};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let bind = std::env::var("SFU_UDP").unwrap_or_else(|_| "127.0.0.1:3478".into());
    let (sfu, mut events) = SfuHandle::start(SfuOptions::new(bind.parse()?))?;
    tracing::info!(udp = %sfu.local_addr(), assets = client::ASSETS.len(), "media plane running; Ctrl-C stops it");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            ev = events.recv() => match ev {
                Some(ev) => tracing::debug!(?ev, "sfu event"),
                None => break,
            },
        }
    }
    sfu.shutdown();
    Ok(())
}
