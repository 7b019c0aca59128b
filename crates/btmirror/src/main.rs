//! `btmirror`: keeps a directory of `.torrent` files mirrored (design.md). This file builds the
//! runtime, parses the command line, dispatches, and turns errors into exit codes
//! (0 done, 1 runtime failure, 2 bad usage or configuration).
//!
//! This crate is only the command line: argument parsing, the one-shot and interactive
//! commands (`get`, `make`, `check`, `top`, `status`, `tracker`), logging to the terminal,
//! journald or a file, signals, and exit codes. `btmirror run` is the `daemon` crate's; the
//! library crates return errors that end here as one `btmirror: error: ...` line.
//!
//! Dependencies: every library crate of the workspace may be used here (`daemon` for `run`,
//! `status` and `top`; `engine`, `metainfo`, `storage` and `tracker` for the one-shot
//! commands); nothing depends on this crate.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tokio_util::sync::CancellationToken;
use tracing::level_filters::LevelFilter;

/// `writeln!` to stdout that ignores a closed pipe (`btmirror status | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `writeln!` to stderr that ignores a closed stream.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod check;
mod cli;
mod exit;
mod feed_cmd;
mod get;
mod logging;
mod make;
mod run_cmd;
mod show;
mod source;
mod status;
mod top;
mod tracker_cmd;

// `cli.rs` is also compiled on its own by packaging/gen-docs, so it names `crate::units`.
use daemon::units;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Another provider already installed is fine: we only need one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("btmirror")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return exit::report(&anyhow::Error::new(e).context("starting the runtime")),
    };
    let result = runtime.block_on(dispatch(cli));
    // Blocking hashing threads may still be running after a cancelled command; don't wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}

/// Runs one command to completion under a shutdown token cancelled by SIGINT/SIGTERM.
async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let log_file = match &cli.cmd {
        Command::Run(a) => daemon::log_file(&run_cmd::options(a)),
        _ => None,
    };
    // Full-screen commands would have log lines drawn over them: only warnings and errors.
    let level = match &cli.cmd {
        Command::Top(_) => LevelFilter::WARN,
        Command::Get(a) if a.tui && std::io::stdout().is_terminal() => LevelFilter::WARN,
        _ => LevelFilter::INFO,
    };
    let log = logging::init(level, log_file.as_deref())?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone())?;
    match cli.cmd {
        Command::Run(args) => run_cmd::run(args, shutdown, log).await,
        Command::Top(args) => top::run(args, shutdown).await,
        Command::Status(args) => status::run(args).await,
        Command::Get(args) => get::run(args, shutdown).await,
        Command::Tracker(args) => tracker_cmd::run(args, shutdown).await,
        Command::Make(args) => make::run(args, shutdown).await,
        Command::Check(args) => check::run(args, shutdown).await,
        Command::Show(args) => show::run(args).await,
        Command::Feed(cli::FeedCommand::Check(args)) => feed_cmd::check(args).await,
    }
}

/// First SIGINT/SIGTERM cancels `shutdown` (commands wind down cleanly); a second one exits 1 at once.
fn spawn_signal_handler(shutdown: CancellationToken) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            if first {
                tracing::info!("{name} received, shutting down (again to exit at once)");
                shutdown.cancel();
                first = false;
            } else {
                errln!("btmirror: error: second {name}, exiting without cleaning up");
                std::process::exit(i32::from(exit::RUNTIME_FAILURE));
            }
        }
    });
    Ok(())
}

/// A progress bar on stderr when it is a terminal, else `None` (plain output only).
/// With `bytes` the bar counts bytes, otherwise pieces.
fn progress_bar(len: u64, bytes: bool) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let template = if bytes {
        "{wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{wide_bar} {pos}/{len} pieces {per_sec} eta {eta}"
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(style);
    Some(bar)
}
