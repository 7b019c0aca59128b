//! `btmirror get`: one torrent in the foreground (the successor of btdownloadheadless).
//!
//! Downloads into `--dir`, then keeps seeding until SIGINT/SIGTERM; with `--no-seed` it exits 0
//! as soon as the data is complete, verified and synced. On a terminal it shows a live progress
//! bar, otherwise a plain log line every ten seconds.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use engine::{AddOptions, Session, SessionConfig, TorrentState, TorrentStats, Transports};
use metainfo::Metainfo;
use metainfo::magnet::Magnet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::GetArgs;
use crate::exit::UsageError;
use crate::units::{format_bytes, format_duration, format_rate};

/// How long `stop` (announce `stopped`, flush) may take at exit.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// Log line interval when not on a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What `get` was given.
enum Source {
    /// A `.torrent` (file or URL).
    Torrent(Arc<Metainfo>),
    /// A magnet link: the metadata comes from peers.
    Magnet(Magnet),
}

/// Where the metadata fetched for a magnet is kept, so that the same `get` again (or after
/// an interruption) does not fetch it twice: a hidden file in the data directory.
fn saved_metadata_path(dir: &Path, info_hash: &metainfo::InfoHash) -> std::path::PathBuf {
    dir.join(format!(".btmirror-{}.torrent", info_hash.to_hex()))
}

/// The metainfo of a magnet link: from an earlier fetch into `dir`, or from peers (BEP 9).
async fn metadata_for(
    session: &Session,
    magnet: Magnet,
    dir: &Path,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<Metainfo>> {
    let Some(hash) = magnet.swarm_hash() else {
        return Err(UsageError::new("the magnet link has no info-hash").into());
    };
    let saved = saved_metadata_path(dir, &hash);
    if let Ok(bytes) = std::fs::read(&saved)
        && let Ok(meta) = Metainfo::from_bytes(&bytes)
        && meta.swarm_hashes().contains(&hash)
    {
        info!(file = %saved.display(), "metadata from an earlier fetch");
        return Ok(Arc::new(meta));
    }
    let name = magnet.name.clone().unwrap_or_else(|| hash.to_hex());
    info!(torrent = %name, info_hash = %hash, "fetching the metadata from peers");
    let fetch = session
        .fetch_metadata(magnet)
        .context("fetching the metadata")?;
    let mut tick = tokio::time::interval(LOG_INTERVAL);
    tick.tick().await;
    let bytes = loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                fetch.stop();
                bail!("interrupted while fetching the metadata of {name}");
            }
            r = fetch.wait() => break r.context("fetching the metadata")?,
            _ = tick.tick() => {
                let p = fetch.progress();
                info!(peers = p.peers_known, asking = p.peers_active, failed = p.peers_failed,
                    tracker_error = p.tracker_error.as_deref().unwrap_or(""), "still fetching the metadata");
            }
        }
    };
    let meta =
        Metainfo::from_bytes(&bytes).context("the fetched metadata is not a usable torrent")?;
    let tmp = saved.with_extension("torrent.tmp");
    let written = std::fs::write(&tmp, &bytes[..]).and_then(|()| std::fs::rename(&tmp, &saved));
    if let Err(e) = written {
        tracing::warn!(file = %saved.display(), error = %e, "cannot keep the fetched metadata");
    }
    Ok(Arc::new(meta))
}

/// Saves the DHT's good nodes in `dir` (`--state-dir`), if given.
async fn save_dht_nodes(session: &Session, dir: Option<&std::path::Path>) {
    if let Some(dir) = dir {
        daemon::dht_nodes::save_now(session, dir).await;
    }
}

/// Runs `btmirror get`.
pub async fn run(args: GetArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let source = if args
        .torrent
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
    {
        let m = Magnet::parse(&args.torrent)
            .map_err(|e| UsageError::new(format!("{}: {e}", args.torrent)))?;
        Source::Magnet(m)
    } else {
        let bytes = crate::source::read_torrent(&args.torrent).await?;
        let meta = Metainfo::from_bytes(&bytes)
            .with_context(|| format!("{}: not a usable torrent", args.torrent))?;
        Source::Torrent(Arc::new(meta))
    };
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    check_writable(&args.dir)?;

    let mut cfg = SessionConfig {
        listen: SocketAddr::new(args.session.bind(), args.session.get_port()),
        ..SessionConfig::default()
    };
    cfg.max_upload_rate = args.session.max_upload_rate.unwrap_or(0);
    cfg.max_download_rate = args.session.max_download_rate.unwrap_or(0);
    cfg.encryption = args
        .session
        .encryption
        .map(crate::run_cmd::encryption_policy)
        .unwrap_or_default();
    cfg.transports = match (args.utp_only, args.no_utp) {
        (true, _) => Transports::UTP_ONLY,
        (false, true) => Transports::TCP_ONLY,
        (false, false) => Transports::default(),
    };
    cfg.dht = !args.session.no_dht;
    // With `--state-dir`, the DHT's good nodes are kept there across runs (`dht_nodes`, as the
    // daemon keeps them): tried before the bootstrap list, saved at the end. Without it `get`
    // writes nothing beside its data.
    let nodes_dir = args.session.state_dir.clone().filter(|_| cfg.dht);
    if cfg.dht {
        let env = std::env::var_os("BTMIRROR_DHT_BOOTSTRAP");
        cfg.dht_bootstrap =
            daemon::dht_bootstrap(&args.session.dht_bootstrap, env.as_deref(), None)?;
    }
    if let Some(dir) = &nodes_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the state dir {}", dir.display()))?;
        let saved = daemon::dht_nodes::load(dir);
        cfg.dht_nodes = saved.nodes;
        cfg.dht_external_ip = saved.external_ip;
    }
    let session = Session::start(cfg, shutdown.child_token())
        .await
        .context("starting the session")?;
    let (meta, extra_peers) = match source {
        Source::Torrent(meta) => (meta, Vec::new()),
        Source::Magnet(m) => {
            let peers = m.peers.clone();
            match metadata_for(&session, m, &args.dir, &shutdown).await {
                Ok(meta) => (meta, peers),
                Err(e) => {
                    save_dht_nodes(&session, nodes_dir.as_deref()).await;
                    session.shutdown(SHUTDOWN_DEADLINE).await;
                    return Err(e);
                }
            }
        }
    };
    info!(
        torrent = %meta.info.name,
        info_hash = %meta.info_hash,
        size = %format_bytes(meta.info.total_length),
        port = session.listen_addr().port(),
        "starting"
    );
    let handle = session
        .add_torrent(meta.clone(), args.dir.clone(), AddOptions::default())
        .context("adding the torrent")?;
    if !extra_peers.is_empty() {
        handle.add_peers(extra_peers).await;
    }

    // `--tui`: the full-screen readout of `btmirror top`, for this one torrent. Quitting it
    // (q) ends the command like Ctrl-C.
    let tui = (args.tui && std::io::stdout().is_terminal()).then(|| {
        spawn_tui(
            &handle,
            session.listen_addr().port(),
            &args.torrent,
            &shutdown,
        )
    });
    let display = if tui.is_some() {
        Display::quiet()
    } else {
        Display::new(&meta)
    };
    let mut follow = Follow {
        name: &meta.info.name,
        dir: &args.dir,
        no_seed: args.no_seed,
        display,
        ever_connected: false,
        announced_complete: false,
    };
    let outcome = follow.run(handle.subscribe(), &shutdown).await;
    let mut display = follow.display;
    display.clear();
    if let Some(Tui { stop, screen }) = tui {
        stop.cancel();
        if let Ok(Err(e)) = screen.await {
            tracing::warn!("the full-screen display failed: {e:#}");
        }
    }
    handle.stop().await;
    save_dht_nodes(&session, nodes_dir.as_deref()).await;
    session.shutdown(SHUTDOWN_DEADLINE).await;
    let s = handle.stats();
    info!(
        uploaded = %format_bytes(s.uploaded),
        downloaded = %format_bytes(s.downloaded),
        "stopped"
    );
    outcome
}

/// The full-screen display of `--tui` and what stops it.
struct Tui {
    /// Stops the display and its feeder.
    stop: CancellationToken,
    /// The display; cancels the command's `shutdown` when the user quits it.
    screen: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the full-screen display of `btmirror top` for the one torrent of `handle`, fed a
/// report every second; quitting it cancels `shutdown`.
fn spawn_tui(
    handle: &engine::TorrentHandle,
    port: u16,
    file: &str,
    shutdown: &CancellationToken,
) -> Tui {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let stop = shutdown.child_token();
    let h = handle.clone();
    let file = file.to_owned();
    let feeder = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = feeder.cancelled() => return,
                _ = tick.tick() => {}
            }
            if tx
                .send(Ok(one_torrent_report(&h, &file, port)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let quit = shutdown.clone();
    let screen_stop = stop.clone();
    let screen = tokio::spawn(async move {
        let r = crate::top::show("btmirror get", rx, &screen_stop).await;
        quit.cancel();
        r
    });
    Tui { stop, screen }
}

/// Follows the torrent's stats until it is done (`--no-seed`), fails, or `shutdown`.
struct Follow<'a> {
    /// The torrent's name, for the log.
    name: &'a str,
    /// Where the data goes, for the log.
    dir: &'a Path,
    /// `--no-seed`: done once complete.
    no_seed: bool,
    /// The progress display.
    display: Display,
    /// A peer was connected at some point.
    ever_connected: bool,
    /// "complete and verified" was said.
    announced_complete: bool,
}

impl Follow<'_> {
    /// The follow loop: the command's outcome.
    async fn run(
        &mut self,
        mut stats: tokio::sync::watch::Receiver<TorrentStats>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let s = stats.borrow().clone();
                    return self.interrupted(&s);
                }
                changed = stats.changed() => {
                    if changed.is_err() {
                        // The session is a child of `shutdown`: a stop can end the torrent
                        // before this loop sees the cancellation itself.
                        if shutdown.is_cancelled() {
                            let s = stats.borrow().clone();
                            return self.interrupted(&s);
                        }
                        bail!("the torrent stopped unexpectedly");
                    }
                    let s = stats.borrow_and_update().clone();
                    if let Some(outcome) = self.on_stats(&s) {
                        return outcome;
                    }
                }
            }
        }
    }

    /// Interrupted: fine once the data is complete (seeding), else an error saying how far it got.
    fn interrupted(&self, s: &TorrentStats) -> anyhow::Result<()> {
        // (The last stats may already say `paused`: the session stops with the command.)
        if !self.announced_complete && s.state != TorrentState::Seeding {
            bail!(
                "interrupted at {:.1}% ({} of {})",
                s.progress * 100.0,
                format_bytes(s.have_bytes),
                format_bytes(s.size)
            );
        }
        Ok(())
    }

    /// New stats: shows them; `Some` ends the command with that outcome.
    fn on_stats(&mut self, s: &TorrentStats) -> Option<anyhow::Result<()>> {
        self.display.update(s);
        self.ever_connected |= s.peers > 0;
        match s.state {
            TorrentState::Error => {
                let why = s.error.clone().unwrap_or_else(|| "unknown error".into());
                return Some(Err(anyhow::anyhow!("{why}")));
            }
            TorrentState::Seeding if !self.announced_complete => {
                self.announced_complete = true;
                self.display.finish(s);
                info!(torrent = %self.name, dir = %self.dir.display(), "complete and verified");
                if self.no_seed {
                    return Some(Ok(()));
                }
                info!("seeding until interrupted (SIGINT/SIGTERM)");
            }
            TorrentState::Downloading => {
                // Web seeds that may still answer (not dropped or banned) are a source too.
                let web_seed_left = s
                    .web_seeds
                    .iter()
                    .any(|w| !matches!(w.state, "dropped" | "banned"));
                if let (Some(e), false, 0, false) = (
                    &s.tracker_error,
                    self.ever_connected,
                    s.downloaded,
                    web_seed_left,
                ) {
                    return Some(Err(anyhow::anyhow!(
                        "tracker unreachable and no peers: {e}"
                    )));
                }
            }
            TorrentState::Seeding | TorrentState::Checking | TorrentState::Paused => {}
        }
        None
    }
}

/// Fails early, with a clear message, when the data directory cannot be written.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".btmirror-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("{} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Progress output: a bar on a terminal, a log line every [`LOG_INTERVAL`] otherwise.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    /// When the last log line went out; `None` when no log lines are wanted at all.
    last_log: Option<tokio::time::Instant>,
}

impl Display {
    /// No output at all (the full-screen display shows the progress).
    fn quiet() -> Self {
        Self {
            bar: None,
            last_log: None,
        }
    }

    fn new(meta: &Metainfo) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(meta.info.total_length),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style =
                indicatif::ProgressStyle::with_template("{prefix} {wide_bar} {percent:>3}% {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(meta.info.name.clone());
            crate::logging::set_progress_bar(Some(bar.clone()));
            bar
        });
        Self {
            bar,
            last_log: Some(tokio::time::Instant::now()),
        }
    }

    fn update(&mut self, s: &TorrentStats) {
        let line = summary(s);
        if let Some(bar) = &self.bar {
            bar.set_position((s.progress * s.size as f64) as u64);
            bar.set_message(line);
        } else if let Some(last) = self.last_log.as_mut()
            && last.elapsed() >= LOG_INTERVAL
        {
            *last = tokio::time::Instant::now();
            info!("{line}");
        }
    }

    fn finish(&mut self, s: &TorrentStats) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.size);
            bar.set_message(summary(s));
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            crate::logging::set_progress_bar(None);
            bar.finish_and_clear();
        }
    }
}

/// A status report holding just this torrent, for the full-screen display.
fn one_torrent_report(
    h: &engine::TorrentHandle,
    file: &str,
    port: u16,
) -> daemon::control::protocol::StatusReport {
    let t = daemon::control::protocol::TorrentStatus::from_handle(h, file.to_owned(), (0, 0));
    daemon::control::protocol::StatusReport {
        totals: daemon::control::protocol::Totals::sum(std::slice::from_ref(&t)),
        torrents: vec![t],
        listen_port: port,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        // The full-screen view shows the per-torrent counts only.
        encryption: Default::default(),
        feeds: Vec::new(),
        watch_errors: Vec::new(),
        dht: None,
    }
}

/// One line: state, progress, rates, peers, ETA.
fn summary(s: &TorrentStats) -> String {
    let eta = if s.state == TorrentState::Downloading && s.download_rate > 0 {
        let left = s.size - s.have_bytes;
        format!(
            ", eta {}",
            format_duration(Duration::from_secs(left / s.download_rate))
        )
    } else {
        String::new()
    };
    let tracker = s
        .tracker_error
        .as_ref()
        .map(|e| format!(", tracker: {e}"))
        .unwrap_or_default();
    format!(
        "{} {:.1}% of {}, down {} up {}, {} ({}), uploaded {}{eta}{tracker}",
        s.state.as_str(),
        s.progress * 100.0,
        format_bytes(s.size),
        format_rate(s.download_rate),
        format_rate(s.upload_rate),
        crate::units::count(s.peers, "peer"),
        crate::units::count(s.seeds, "seed"),
        format_bytes(s.uploaded),
    )
}
