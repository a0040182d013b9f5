//! `sfu-server`: signaling, the web client and the SFU in one process.

use clap::Parser;
use signaling::Server;
use signaling::config::{Args, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rtc=warn,rtc_dtls=warn,rtc_ice=warn".into()),
        )
        .init();
    let config = Config::load(Args::parse())?;
    let config_token = config.admin_token.is_some();
    let server = Server::start(config).await?;
    println!("Open http://{}/ in a browser.", server.http_addr);
    match (server.admin_addr, config_token) {
        (Some(addr), _) => println!("Admin API: http://{addr}/api/rooms (loopback only, no token)"),
        (None, true) => println!(
            "Admin API: http://{}/api/rooms (bearer token)",
            server.http_addr
        ),
        (None, false) => println!("Admin API: not available (see the log)"),
    }
    tokio::signal::ctrl_c().await?;
    tracing::info!("Ctrl-C: shutting down");
    server.shutdown().await;
    Ok(())
}
