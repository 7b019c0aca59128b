//! `btmirror run`: the mirroring daemon (the successor of btlaunchmany).
//!
//! The watch directories are the desired state: every `.torrent` in them is seeded (data
//! already there is checked once, then trusted through resume data) or downloaded, from one
//! session with one listen port. inotify events are hints that trigger a debounced rescan; a
//! periodic full rescan covers network file systems and lost events.
//!
//! One task (this module's loop) owns the decisions: it reacts to watcher hints, timers,
//! SIGHUP and the shutdown token. Listing and reading files runs on the blocking pool in a
//! scan task ([`scan`]), so the loop keeps answering signals and the systemd watchdog. The
//! registry is shared with the control socket, which builds the status from it on request.
//!
//! The daemon's own tasks (this loop, the control socket, the metrics server, scans, periodic
//! resume saves) run under one [`TaskTracker`], each in a `tracing` span naming it; shutdown
//! cancels their [`CancellationToken`] and waits for the tracker.
//!
//! Signals: SIGTERM/SIGINT stop every torrent (each announces `stopped`, concurrently, within a
//! deadline), flush resume data and exit 0. SIGHUP re-reads the config (a config that no longer
//! parses is reported and the old one kept), rescans and reopens the log file; under `nohup` a
//! hangup thus turns into a harmless reload.

pub(crate) mod config;
pub mod dht_nodes;
mod feeds;
mod prepare;
mod reconcile;
mod report;
mod resume;
mod save;
mod scan;
mod startup;
mod stop;
mod systemd;
mod totals;
mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use engine::{Session, TorrentState};
use metainfo::InfoHash;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, Span, error, info, info_span, warn};

use self::config::{RunOptions, Settings};
use self::reconcile::Registry;
use self::save::SaveResults;
use self::scan::{ScanDone, ScanState};
use self::stop::StopCtx;
use self::watch::{Hint, Watchers};
use crate::control::{self, ReportFn};
use crate::paths::{self, ConfigSource, Env};

/// How long all torrents together may take to announce `stopped` at exit.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// How long the torrents' stop jobs may still take after the session stopped.
const STOP_JOBS_DEADLINE: Duration = Duration::from_millis(500);
/// How long the daemon's own tasks may take to end once cancelled.
const TASKS_DEADLINE: Duration = Duration::from_secs(1);
/// How often the `STATUS=` line is refreshed.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);
/// How often resume data of torrents long gone is looked for (first an hour after the start,
/// when every watched file has been read).
const RESUME_CLEANUP_INTERVAL: Duration = Duration::from_secs(3600);

/// Where the daemon's logs go, as the binary set it up (the daemon knows no terminal).
pub trait LogOutput: Send + Sync {
    /// Reopens the log file after a rotation (on SIGHUP); a no-op when logging elsewhere.
    fn reopen(&self) -> std::io::Result<()>;
    /// Where logs go, for the start-up line: `journald`, `stderr` or the log file's path.
    fn destination(&self) -> String;
}

/// The log file `run` will use: `--log-file`, else the config file's `log_file` (best effort:
/// a config error is reported later by [`run`]).
pub fn log_file(args: &RunOptions) -> Option<PathBuf> {
    if args.log_file.is_some() {
        return args.log_file.clone();
    }
    let (path, _) = config::config_path(args, &Env::from_process())?;
    config::read(Some(&path)).ok()?.log_file
}

/// Runs the daemon until `shutdown` is cancelled (SIGTERM/SIGINT).
pub async fn run(
    args: RunOptions,
    shutdown: CancellationToken,
    log: Box<dyn LogOutput>,
) -> anyhow::Result<()> {
    // Before anything slow, so that an early hangup reloads instead of killing us.
    let hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let daemon = match Daemon::start(args, log, hup).await {
        Ok(daemon) => daemon,
        Err(e) => {
            systemd::errno(&e);
            return Err(e);
        }
    };
    let tasks = daemon.tasks.clone();
    let main_loop = spawn(&tasks, info_span!("scan_loop"), daemon.run(shutdown));
    let daemon = main_loop.await.context("the daemon's loop failed")?;
    daemon.shutdown().await;
    Ok(())
}

/// The running daemon.
struct Daemon {
    args: RunOptions,
    config_file: Option<PathBuf>,
    settings: Settings,
    log: Box<dyn LogOutput>,
    hup: Signal,
    session: Session,
    registry: Arc<Mutex<Registry>>,
    resume_dir: PathBuf,
    /// Cancels the daemon's own tasks at the end of shutdown.
    cancel: CancellationToken,
    /// The daemon's own tasks: control socket, metrics server, scans, resume saves.
    tasks: TaskTracker,
    /// Torrents being stopped (announce `stopped`, save resume data); waited for before the
    /// final save.
    stop_tasks: TaskTracker,
    stopped_tx: mpsc::UnboundedSender<InfoHash>,
    stopped_rx: mpsc::UnboundedReceiver<InfoHash>,
    /// Watch directories of `.magnet` files whose metadata was just saved: scanned again.
    fetched_rx: mpsc::UnboundedReceiver<PathBuf>,
    /// The `[[feed]]` tables the feed task runs; a reload sends the new ones.
    feed_configs: tokio::sync::watch::Sender<Vec<feed::FeedConfig>>,
    /// Held for the daemon's life: one instance per state directory.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

fn lock(reg: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    reg.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spawns one of the daemon's own tasks on `tasks`, inside `span` (which names it).
fn spawn<F>(tasks: &TaskTracker, span: Span, task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tasks.spawn(task.instrument(span))
}

/// `/etc/btmirror/btmirror.toml (system default)`, or `none`.
fn describe_config(found: Option<&(PathBuf, ConfigSource)>) -> String {
    found.map_or_else(
        || "none".to_owned(),
        |(path, source)| format!("{} ({source})", path.display()),
    )
}

/// Creates the state, resume and data directories, locks the state directory and raises the
/// open-files limit. Returns the resume directory and the lock.
fn open_state(settings: &Settings) -> anyhow::Result<(PathBuf, nix::fcntl::Flock<std::fs::File>)> {
    startup::create_dir(&settings.state_dir, "state directory")?;
    let resume_dir = settings.state_dir.join(resume::RESUME_DIR);
    startup::create_dir(&resume_dir, "resume directory")?;
    let lock_file = startup::lock_state_dir(&settings.state_dir)?;
    startup::raise_nofile_limit();
    if let Some(d) = &settings.data_dir {
        startup::create_dir(d, "data directory")?;
    }
    if let Some(file) = settings.watch.iter().find(|d| d.exists() && !d.is_dir()) {
        return Err(crate::UsageError::new(format!(
            "watch directory {}: not a directory (give the directory that holds the .torrent files)",
            file.display()
        ))
        .into());
    }
    for dir in settings.watch.iter().filter(|d| !d.exists()) {
        warn!(dir = %dir.display(), "the watch directory does not exist (yet); picked up as soon as it is created");
    }
    Ok((resume_dir, lock_file))
}

impl Daemon {
    async fn start(args: RunOptions, log: Box<dyn LogOutput>, hup: Signal) -> anyhow::Result<Self> {
        let env = Env::from_process();
        let found = config::config_path(&args, &env);
        let config_file = found.as_ref().map(|(p, _)| p.clone());
        let cfg = config::read(config_file.as_deref())?;
        let settings = config::resolve(&args, &cfg, config_file.as_deref(), &env)?;
        let (resume_dir, lock_file) = open_state(&settings)?;
        let mut session_cfg = settings.session_config();
        if settings.dht {
            let saved = dht_nodes::load(&settings.state_dir);
            session_cfg.dht_nodes = saved.nodes;
            session_cfg.dht_external_ip = saved.external_ip;
        }
        let session = Session::start(session_cfg, CancellationToken::new())
            .await
            .map_err(startup::session_error)?;
        // Bound now so that a taken address stops the start; served once the socket is up.
        let metrics_listener = match settings.metrics {
            Some(addr) => Some(crate::metrics::bind(addr).await?),
            None => None,
        };
        let registry = Arc::new(Mutex::new(Registry::default()));
        let lifetime = totals::load(&settings.state_dir);
        lock(&registry).lifetime_before = lifetime;
        lock(&registry).lifetime_saved = lifetime;
        let (fetched_tx, fetched_rx) = mpsc::unbounded_channel();
        lock(&registry).magnets = Some(reconcile::MagnetSink {
            resume_dir: resume_dir.clone(),
            fetched: fetched_tx,
        });
        let (reg, s) = (registry.clone(), session.clone());
        let feed_statuses = feeds::Statuses::default();
        let statuses = feed_statuses.clone();
        let report: ReportFn = Arc::new(move || {
            let mut r = report::build(&lock(&reg), &s);
            r.feeds = feeds::reports(&statuses);
            r
        });
        let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
        let (feed_configs, feed_rx) = tokio::sync::watch::channel(settings.feeds.clone());
        let run_feeds = feeds::run(
            settings.state_dir.clone(),
            feed_rx,
            feed_statuses,
            cancel.clone(),
        );
        spawn(&tasks, info_span!("feeds"), run_feeds);
        if settings.dht {
            let save = dht_nodes::run(session.clone(), settings.state_dir.clone(), cancel.clone());
            spawn(&tasks, info_span!("dht_nodes"), save);
        }
        let socket = paths::control_socket(&settings.state_dir);
        let (c, path, r) = (cancel.clone(), socket.clone(), report.clone());
        let serve = async move { control::serve(&path, r, c).await };
        let mut control_task = spawn(&tasks, info_span!("control"), serve);
        startup::wait_for_socket(&socket, &mut control_task, Duration::from_secs(10))
            .await
            .context("starting the control socket")?;
        if let Some(l) = metrics_listener {
            let serve = crate::metrics::serve(l, report, cancel.clone());
            spawn(&tasks, info_span!("metrics"), serve);
        }
        info!(
            watch = %settings.watch.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            state_dir = %settings.state_dir.display(),
            port = session.listen_addr().port(),
            encryption = %settings.encryption,
            config = %describe_config(found.as_ref()),
            log = %log.destination(),
            "btmirror {} running", env!("CARGO_PKG_VERSION")
        );
        systemd::ready("starting: reading the watch directories");
        let (stopped_tx, stopped_rx) = mpsc::unbounded_channel();
        Ok(Self {
            args,
            config_file,
            settings,
            log,
            hup,
            session,
            registry,
            resume_dir,
            cancel,
            tasks,
            stop_tasks: TaskTracker::new(),
            stopped_tx,
            stopped_rx,
            fetched_rx,
            feed_configs,
            _lock: lock_file,
        })
    }

    /// The loop: runs until `shutdown` is cancelled, then hands the daemon back for
    /// [`Daemon::shutdown`].
    async fn run(mut self, shutdown: CancellationToken) -> Self {
        let (mut watchers, mut hints) = Watchers::new();
        watchers.set_dirs(&self.settings.watch);
        let (scan_tx, mut scan_rx) = mpsc::unbounded_channel::<ScanDone>();
        let (save_tx, mut save_rx) = mpsc::unbounded_channel::<SaveResults>();
        let mut scan = ScanState::new(&self.settings.watch);
        let mut saving = false;
        let mut rescan = new_interval(self.settings.rescan_interval);
        let mut resume_tick = new_interval(self.settings.resume_interval);
        let mut status_tick = new_interval(STATUS_INTERVAL);
        let mut cleanup_tick = new_interval(RESUME_CLEANUP_INTERVAL);
        let watchdog = systemd::watchdog_interval();
        let mut watchdog_tick = new_interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        loop {
            if let Some(dirs) = scan.start() {
                self.spawn_scan(dirs, scan_tx.clone());
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = self.hup.recv() => {
                    self.reload(&mut watchers).await;
                    rescan = new_interval(self.settings.rescan_interval);
                    resume_tick = new_interval(self.settings.resume_interval);
                    scan.want_all(&self.settings.watch);
                    systemd::ready(&self.summary());
                }
                Some(hint) = hints.recv() => match hint {
                    Hint::Appeared(dir) => {
                        watchers.set_dirs(&self.settings.watch);
                        scan.on_hint(Hint::Changed(dir), &self.settings.watch);
                    }
                    hint => scan.on_hint(hint, &self.settings.watch),
                },
                Some(dir) = self.fetched_rx.recv() => {
                    scan.on_hint(Hint::Changed(dir), &self.settings.watch);
                }
                () = sleep_until(scan.debounce_at()), if scan.debouncing() => scan.debounced(),
                () = sleep_until(scan.wake_at()), if scan.wake_due() => {
                    scan.woken(&self.settings.watch);
                }
                _ = rescan.tick() => {
                    watchers.set_dirs(&self.settings.watch);
                    scan.want_all(&self.settings.watch);
                }
                Some(done) = scan_rx.recv() => scan.finished(done),
                Some(hash) = self.stopped_rx.recv() => {
                    lock(&self.registry).stopping.remove(&hash);
                }
                _ = cleanup_tick.tick() => self.spawn_resume_cleanup(),
                _ = resume_tick.tick(), if !saving => {
                    self.spawn_totals_save();
                    saving = self.spawn_saves(&save_tx);
                }
                Some(results) = save_rx.recv() => {
                    saving = false;
                    self.record_saves(results);
                }
                _ = status_tick.tick() => {
                    self.refresh_checked();
                    if systemd::enabled() {
                        systemd::status(&self.summary());
                    }
                }
                _ = watchdog_tick.tick(), if watchdog.is_some() => systemd::watchdog(),
            }
        }
        drop(watchers);
        self
    }

    /// SIGHUP: reopen the log, re-read the config, apply what can change at run time.
    async fn reload(&mut self, watchers: &mut Watchers) {
        systemd::reloading();
        info!("SIGHUP received: reloading the configuration and rescanning");
        if let Err(e) = self.log.reopen() {
            warn!("cannot reopen the log file: {e}");
        }
        let env = Env::from_process();
        let new = config::read(self.config_file.as_deref())
            .and_then(|cfg| config::resolve(&self.args, &cfg, self.config_file.as_deref(), &env));
        let new = match new {
            Ok(s) => s,
            Err(e) => {
                error!("the configuration no longer parses, keeping the old one: {e}");
                return;
            }
        };
        let (next, restart) = self.settings.reloaded(new);
        if !restart.is_empty() {
            warn!(
                "changed settings take effect after a restart: {}",
                restart.join(", ")
            );
        }
        self.session
            .set_rate_limits(next.max_upload_rate, next.max_download_rate);
        let torrent_limits = (next.torrent_upload_rate, next.torrent_download_rate);
        let old_limits = (
            self.settings.torrent_upload_rate,
            self.settings.torrent_download_rate,
        );
        if torrent_limits != old_limits {
            let handles: Vec<_> = lock(&self.registry)
                .running()
                .map(|(_, r)| r.handle.clone())
                .collect();
            for h in handles {
                h.set_rate_limits(torrent_limits.0, torrent_limits.1).await;
            }
        }
        let stops = {
            let mut reg = lock(&self.registry);
            reg.retry_failed_now(Instant::now());
            reg.retain_dirs(&next.watch)
        };
        let ctx = self.stop_ctx();
        for stop in stops {
            ctx.spawn(stop);
        }
        watchers.set_dirs(&next.watch);
        let feeds = next.feeds.clone();
        self.feed_configs.send_if_modified(|old| {
            let changed = *old != feeds;
            *old = feeds;
            changed
        });
        self.settings = next;
        info!(
            upload = %crate::units::format_rate(self.settings.max_upload_rate),
            download = %crate::units::format_rate(self.settings.max_download_rate),
            "configuration reloaded"
        );
    }

    /// What stopping a torrent needs (used by scans, reloads).
    fn stop_ctx(&self) -> StopCtx {
        StopCtx {
            session: self.session.clone(),
            resume_dir: self.resume_dir.clone(),
            stopped: self.stopped_tx.clone(),
            tasks: self.stop_tasks.clone(),
        }
    }

    fn summary(&self) -> String {
        report::summary(&report::build(&lock(&self.registry), &self.session))
    }

    /// Marks torrents whose initial check finished (their bitfield may now be saved).
    fn refresh_checked(&self) {
        for (_, r) in lock(&self.registry).running() {
            if !r.checked {
                let state = r.handle.stats().state;
                r.checked = matches!(state, TorrentState::Downloading | TorrentState::Seeding);
            }
        }
    }

    /// SIGTERM/SIGINT: every torrent announces `stopped` (concurrently, within a deadline),
    /// resume data is flushed, then the daemon's own tasks (control socket, metrics) end.
    async fn shutdown(self) {
        systemd::stopping();
        info!("shutting down: stopping every torrent");
        self.refresh_checked();
        let started = Instant::now();
        // the DHT stops with the session: its table first
        if self.settings.dht {
            dht_nodes::save_now(&self.session, &self.settings.state_dir).await;
        }
        self.session.shutdown(STOP_DEADLINE).await;
        self.stop_tasks.close();
        let _ = tokio::time::timeout(STOP_JOBS_DEADLINE, self.stop_tasks.wait()).await;
        self.final_save(started).await;
        self.cancel.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(TASKS_DEADLINE, self.tasks.wait()).await;
        info!("stopped");
    }
}

/// An interval whose first tick is one period from now and which skips missed ticks.
fn new_interval(period: Duration) -> tokio::time::Interval {
    let period = period.max(Duration::from_millis(100));
    let mut i = tokio::time::interval_at(Instant::now() + period, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}
