//! `btmirror tracker`: runs the HTTP + UDP tracker of the `tracker` crate in the foreground, with
//! the daemon's conventions: `READY=1` to systemd once bound, SIGTERM/SIGINT for a clean exit 0
//! (state file saved), SIGHUP to rescan the allowed dir.

use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracker_server::{Server, ServerConfig};

use crate::cli::TrackerArgs;
use crate::exit::UsageError;

/// Runs `btmirror tracker` until `shutdown` is cancelled.
pub async fn run(args: TrackerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let cfg = config(args)?;
    // Install the handler before binding so an early SIGHUP cannot kill the process.
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let server = Server::bind(cfg).await.context("starting the tracker")?;
    let addr = server.local_addr();
    tracing::info!("serving http://{addr}/announce and udp://{addr}, statistics on http://{addr}/");

    let reload = server.reload_handle();
    let hup_token = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = hup.recv() => {
                    if got.is_none() {
                        break;
                    }
                    tracing::info!("SIGHUP received, rescanning the allowed dir");
                    reload.reload();
                }
                () = hup_token.cancelled() => break,
            }
        }
    });
    notify(&[sd_notify::NotifyState::Ready]);
    // Joined, not spawned: `STOPPING=1` is sent before the command returns (a spawned task may
    // never run once the runtime is being shut down).
    let stopping = async {
        shutdown.cancelled().await;
        notify(&[sd_notify::NotifyState::Stopping]);
    };
    let (served, ()) = tokio::join!(server.run(shutdown.clone()), stopping);
    served.context("running the tracker")
}

/// The server settings for the command line; a bad `--allowed-dir` is a usage error.
fn config(args: TrackerArgs) -> anyhow::Result<ServerConfig> {
    if let Some(dir) = &args.allowed_dir
        && !dir.is_dir()
    {
        return Err(
            UsageError::new(format!("--allowed-dir {}: not a directory", dir.display())).into(),
        );
    }
    let mut cfg = ServerConfig {
        listen: args.listen,
        allowed_dir: args.allowed_dir,
        state_file: args.state,
        ..ServerConfig::default()
    };
    if let Some(secs) = args.interval {
        cfg.interval = Duration::from_secs(u64::from(secs));
        cfg.min_interval = cfg.min_interval.min(cfg.interval);
    }
    Ok(cfg)
}

/// Tells systemd about a state change; outside systemd this does nothing.
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(allowed: Option<PathBuf>, interval: Option<u32>) -> TrackerArgs {
        TrackerArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_dir: allowed,
            state: Some(PathBuf::from("/tmp/x.json")),
            interval,
        }
    }

    #[test]
    fn config_from_args() {
        let cfg = config(args(None, Some(60))).unwrap();
        assert_eq!(cfg.interval, Duration::from_secs(60));
        assert!(cfg.min_interval <= cfg.interval);
        assert_eq!(cfg.state_file, Some(PathBuf::from("/tmp/x.json")));
        let cfg = config(args(None, None)).unwrap();
        assert_eq!(cfg.interval, ServerConfig::default().interval);
    }

    #[test]
    fn missing_allowed_dir_is_a_usage_error() {
        let err = config(args(Some(PathBuf::from("/nonexistent/btmirror")), None)).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
        assert!(err.to_string().contains("--allowed-dir"), "{err}");
    }
}
