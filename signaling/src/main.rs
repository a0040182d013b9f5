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
    let mut args = Args::parse();
    if let Some(signaling::token_cli::Command::Token {
        action: signaling::token_cli::TokenCommand::Create(create),
    }) = args.command.take()
    {
        print!("{}", create.run(std::time::SystemTime::now())?);
        return Ok(());
    }
    let config = Config::load(args)?;
    if config.auth.is_none() {
        tracing::warn!(
            "--auth open: anyone who reaches this server can join any room under any name; use --auth token in production"
        );
    }
    match signaling::limits::raise_open_files() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "raised the open files limit")
        }
        Ok((_, after)) => tracing::info!(limit = after, "open files limit"),
        Err(e) => tracing::warn!("cannot read or raise the open files limit: {e}"),
    }
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
    // Ctrl-C, and SIGTERM, which Docker, Kubernetes and systemd send, both stop gracefully.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let signal = tokio::select! {
        r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT")?,
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(signal, "shutting down");
    server.shutdown().await;
    Ok(())
}
