//! Runs the tracker server from the command line until SIGINT/SIGTERM (SIGHUP rescans the
//! allowed dir). A stand-in for `btmirror tracker` used by `bench/tracker/run.sh`.
//!
//! ```text
//! cargo run --release -p btmirror-tracker-server --example tracker_server -- \
//!     [--listen 127.0.0.1:6969] [--allowed-dir DIR] [--state FILE] [--interval SECS] \
//!     [--max-connections N] [--log error|warn|info|debug|trace]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracker_server::{Server, ServerConfig};

fn parse_args() -> Result<(ServerConfig, tracing::Level), String> {
    let mut cfg = ServerConfig::default();
    let mut level = tracing::Level::INFO;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => cfg.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--allowed-dir" => cfg.allowed_dir = Some(value()?.into()),
            "--state" => cfg.state_file = Some(value()?.into()),
            "--interval" => {
                let secs: u64 = value()?.parse().map_err(|e| format!("--interval: {e}"))?;
                cfg.interval = Duration::from_secs(secs);
            }
            "--max-connections" => {
                cfg.max_connections = value()?
                    .parse()
                    .map_err(|e| format!("--max-connections: {e}"))?;
            }
            "--log" => level = value()?.parse().map_err(|e| format!("--log: {e}"))?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((cfg, level))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (cfg, level) = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tracker_server: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let server = match Server::bind(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tracker_server: {}", chain(&e));
            return ExitCode::from(1);
        }
    };
    println!("listening on {}", server.local_addr());
    let token = CancellationToken::new();
    let reload = server.reload_handle();
    let t = token.clone();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => reload.reload(),
            }
        }
        t.cancel();
    });
    match server.run(token).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracker_server: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
