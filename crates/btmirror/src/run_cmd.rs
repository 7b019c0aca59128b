//! `btmirror run`: hands the command line to the daemon crate (which knows no command line).

use daemon::RunOptions;
use tokio_util::sync::CancellationToken;

use crate::cli::{Encryption, RunArgs};
use crate::logging::LogGuard;

/// The daemon's options from `btmirror run`'s arguments.
pub fn options(args: &RunArgs) -> RunOptions {
    RunOptions {
        dirs: args.dirs.clone(),
        config: args.config.clone(),
        log_file: args.log_file.clone(),
        metrics: args.metrics,
        state_dir: args.session.state_dir.clone(),
        port: args.session.port,
        bind: args.session.bind,
        max_upload_rate: args.session.max_upload_rate,
        max_download_rate: args.session.max_download_rate,
        encryption: args.session.encryption.map(encryption_policy),
        dht: args.session.no_dht.then_some(false),
        dht_bootstrap: args.session.dht_bootstrap.clone(),
    }
}

/// The engine's policy for `--encryption`.
pub fn encryption_policy(e: Encryption) -> engine::EncryptionPolicy {
    match e {
        Encryption::Prefer => engine::EncryptionPolicy::Prefer,
        Encryption::Allow => engine::EncryptionPolicy::Allow,
        Encryption::Require => engine::EncryptionPolicy::Require,
        Encryption::Disable => engine::EncryptionPolicy::Disable,
    }
}

impl daemon::LogOutput for LogGuard {
    fn reopen(&self) -> std::io::Result<()> {
        LogGuard::reopen(self)
    }

    fn destination(&self) -> String {
        LogGuard::destination(self)
    }
}

/// Runs the daemon until `shutdown` is cancelled.
pub async fn run(args: RunArgs, shutdown: CancellationToken, log: LogGuard) -> anyhow::Result<()> {
    daemon::run(options(&args), shutdown, Box::new(log)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, DEFAULT_BIND, DEFAULT_PORT};
    use clap::Parser as _;

    #[test]
    fn every_run_option_reaches_the_daemon() {
        let cli = Cli::try_parse_from([
            "btmirror",
            "run",
            "/a",
            "/b",
            "--config",
            "/c.toml",
            "--log-file",
            "/l.log",
            "--metrics",
            "[::1]:9200",
            "--state-dir",
            "/s",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--max-upload-rate",
            "1KiB",
            "--max-download-rate",
            "0",
            "--encryption",
            "require",
        ])
        .unwrap();
        let Command::Run(r) = cli.cmd else {
            panic!("not run")
        };
        let o = options(&r);
        assert_eq!(o.dirs, ["/a", "/b"].map(std::path::PathBuf::from));
        assert_eq!(o.config.as_deref(), Some(std::path::Path::new("/c.toml")));
        assert_eq!(o.log_file.as_deref(), Some(std::path::Path::new("/l.log")));
        assert_eq!(o.metrics, Some("[::1]:9200".parse().unwrap()));
        assert_eq!(o.state_dir.as_deref(), Some(std::path::Path::new("/s")));
        assert_eq!(o.port, Some(0));
        assert_eq!(o.bind, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(o.max_upload_rate, Some(1024));
        assert_eq!(o.max_download_rate, Some(0));
        assert_eq!(o.encryption, Some(engine::EncryptionPolicy::Require));
        assert!(Cli::try_parse_from(["btmirror", "get", "x", "--encryption", "always"]).is_err());
        let cli = Cli::try_parse_from(["btmirror", "run"]).unwrap();
        let Command::Run(r) = cli.cmd else {
            panic!("not run")
        };
        assert_eq!(options(&r), RunOptions::default());
    }

    #[test]
    fn the_command_line_documents_the_daemon_defaults() {
        assert_eq!(DEFAULT_PORT, daemon::DEFAULT_PORT);
        assert_eq!(DEFAULT_BIND, daemon::DEFAULT_BIND);
    }
}
