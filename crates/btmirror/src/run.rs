//! `btmirror run`: the mirroring daemon (the successor of btlaunchmany).
//!
//! The watch directories are the desired state: every `.torrent` in them is seeded (data
//! already there is checked once, then trusted through resume data) or downloaded, from one
//! session with one listen port. inotify events are hints that trigger a debounced rescan; a
//! periodic full rescan covers network file systems and lost events.
//!
//! One task (this module's loop) owns the decisions: it reacts to watcher hints, timers,
//! SIGHUP and the shutdown token. Listing and reading files runs on the blocking pool in a
//! scan task, so the loop keeps answering signals and the systemd watchdog. The registry is
//! shared with the control socket, which builds the status from it on request.
//!
//! Signals: SIGTERM/SIGINT stop every torrent (each announces `stopped`, concurrently, within a
//! deadline), flush resume data and exit 0. SIGHUP re-reads the config (a config that no longer
//! parses is reported and the old one kept), rescans and reopens the log file; under `nohup` a
//! hangup thus turns into a harmless reload.

mod config;
mod reconcile;
mod report;
mod resume;
mod startup;
mod systemd;
mod watch;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use engine::{Session, TorrentState};
use metainfo::InfoHash;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use self::config::Settings;
use self::reconcile::{AddPolicy, Registry, Stop};
use self::watch::{Hint, Watchers};
use crate::cli::RunArgs;
use crate::logging::LogGuard;
use crate::paths::{self, Env};

/// Watcher hints are collected this long before the directories are listed.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// How long all torrents together may take to announce `stopped` at exit.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// How long the final resume save may take at exit.
const FINAL_SAVE_DEADLINE: Duration = Duration::from_millis(2500);
/// How often the `STATUS=` line is refreshed.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);
/// Threads saving resume data in parallel (each save ends in `fsync`s).
const SAVE_THREADS: usize = 8;

/// The log file `run` will use: `--log-file`, else the config file's `log_file` (best effort:
/// a config error is reported later by [`run`]).
pub fn log_file(args: &RunArgs) -> Option<PathBuf> {
    if args.log_file.is_some() {
        return args.log_file.clone();
    }
    let path = config::config_path(args, &Env::from_process())?;
    config::read(Some(&path)).ok()?.log_file
}

/// Runs the daemon until `shutdown` is cancelled (SIGTERM/SIGINT).
pub async fn run(args: RunArgs, shutdown: CancellationToken, log: LogGuard) -> anyhow::Result<()> {
    // Before anything slow, so that an early hangup reloads instead of killing us.
    let hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    match Daemon::start(args, log, hup).await {
        Ok(daemon) => daemon.run(shutdown).await,
        Err(e) => {
            systemd::errno(&e);
            Err(e)
        }
    }
}

/// The running daemon.
struct Daemon {
    args: RunArgs,
    config_file: Option<PathBuf>,
    settings: Settings,
    log: LogGuard,
    hup: Signal,
    session: Session,
    registry: Arc<Mutex<Registry>>,
    resume_dir: PathBuf,
    /// Stops the control socket and the metrics server.
    control: CancellationToken,
    control_task: JoinHandle<anyhow::Result<()>>,
    metrics_task: Option<JoinHandle<()>>,
    stop_tasks: TaskTracker,
    stopped_tx: mpsc::UnboundedSender<InfoHash>,
    stopped_rx: mpsc::UnboundedReceiver<InfoHash>,
    /// Held for the daemon's life: one instance per state directory.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// What a scan task reports back.
struct ScanDone {
    wake: Option<Instant>,
    list_errors: Vec<(PathBuf, String)>,
}

fn lock(reg: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    reg.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Daemon {
    async fn start(args: RunArgs, log: LogGuard, hup: Signal) -> anyhow::Result<Self> {
        let env = Env::from_process();
        let config_file = config::config_path(&args, &env);
        let cfg = config::read(config_file.as_deref())?;
        let settings = config::resolve(&args, &cfg, config_file.as_deref(), &env)?;
        startup::create_dir(&settings.state_dir, "state directory")?;
        let resume_dir = settings.state_dir.join(resume::RESUME_DIR);
        startup::create_dir(&resume_dir, "resume directory")?;
        let lock_file = startup::lock_state_dir(&settings.state_dir)?;
        startup::raise_nofile_limit();
        if let Some(d) = &settings.data_dir {
            startup::create_dir(d, "data directory")?;
        }
        for dir in settings.watch.iter().filter(|d| !d.is_dir()) {
            warn!(dir = %dir.display(), "the watch directory does not exist (yet); waiting for it");
        }
        let session = Session::start(settings.session_config(), CancellationToken::new())
            .await
            .context("starting the session")?;
        // Bound now so that a taken address stops the start; served once the socket is up.
        let metrics_listener = match settings.metrics {
            Some(addr) => Some(crate::metrics::bind(addr).await?),
            None => None,
        };
        let registry = Arc::new(Mutex::new(Registry::default()));
        let port = session.listen_addr().port();
        let reg = registry.clone();
        let report: crate::control::ReportFn = Arc::new(move || report::build(&lock(&reg), port));
        let socket = paths::control_socket(&settings.state_dir);
        let control = CancellationToken::new();
        let (c, path, r) = (control.clone(), socket.clone(), report.clone());
        let mut control_task =
            tokio::spawn(async move { crate::control::serve(&path, r, c).await });
        startup::wait_for_socket(&socket, &mut control_task, Duration::from_secs(10))
            .await
            .context("starting the control socket")?;
        let metrics_task = metrics_listener
            .map(|l| tokio::spawn(crate::metrics::serve(l, report, control.clone())));
        info!(
            watch = %settings.watch.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            state_dir = %settings.state_dir.display(),
            port,
            config = %config_file.as_deref().map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
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
            control,
            control_task,
            metrics_task,
            stop_tasks: TaskTracker::new(),
            stopped_tx,
            stopped_rx,
            _lock: lock_file,
        })
    }

    fn policy(&self) -> AddPolicy {
        AddPolicy {
            data_dir: self.settings.data_dir.clone(),
            upload_rate: self.settings.torrent_upload_rate,
            download_rate: self.settings.torrent_download_rate,
            check_concurrency: self.settings.check_concurrency,
        }
    }

    async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (mut watchers, mut hints) = Watchers::new();
        watchers.set_dirs(&self.settings.watch);
        let (scan_tx, mut scan_rx) = mpsc::unbounded_channel::<ScanDone>();
        let (save_tx, mut save_rx) = mpsc::unbounded_channel::<SaveResults>();
        let mut scanning = false;
        let mut scan_wanted: Option<HashSet<PathBuf>> =
            Some(self.settings.watch.iter().cloned().collect());
        let mut debounce: Option<Instant> = None;
        let mut dirty: HashSet<PathBuf> = HashSet::new();
        let mut wake: Option<Instant> = None;
        let mut saving = false;
        let mut list_errors: HashSet<PathBuf> = HashSet::new();
        let mut rescan = new_interval(self.settings.rescan_interval);
        let mut resume_tick = new_interval(self.settings.resume_interval);
        let mut status_tick = new_interval(STATUS_INTERVAL);
        let watchdog = systemd::watchdog_interval();
        let mut watchdog_tick = new_interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let far = || Instant::now() + Duration::from_secs(86_400);
        loop {
            if !scanning && let Some(dirs) = scan_wanted.take() {
                scanning = true;
                let dirs: Vec<PathBuf> = dirs.into_iter().collect();
                self.spawn_scan(dirs, scan_tx.clone());
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = self.hup.recv() => {
                    self.reload(&mut watchers).await;
                    rescan = new_interval(self.settings.rescan_interval);
                    resume_tick = new_interval(self.settings.resume_interval);
                    scan_wanted = Some(self.settings.watch.iter().cloned().collect());
                    systemd::ready(&self.summary());
                }
                Some(hint) = hints.recv() => match hint {
                    Hint::Changed(dir) => {
                        dirty.insert(dir);
                        debounce = Some(Instant::now() + DEBOUNCE);
                    }
                    Hint::RescanAll => {
                        scan_wanted = Some(self.settings.watch.iter().cloned().collect());
                    }
                },
                () = sleep_until(debounce.unwrap_or_else(far)), if debounce.is_some() => {
                    debounce = None;
                    scan_wanted.get_or_insert_with(HashSet::new).extend(dirty.drain());
                }
                () = sleep_until(wake.unwrap_or_else(far)), if wake.is_some() && !scanning => {
                    wake = None;
                    scan_wanted = Some(self.settings.watch.iter().cloned().collect());
                }
                _ = rescan.tick() => {
                    watchers.set_dirs(&self.settings.watch);
                    scan_wanted = Some(self.settings.watch.iter().cloned().collect());
                }
                Some(done) = scan_rx.recv() => {
                    scanning = false;
                    wake = match (wake, done.wake) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let failed: HashSet<PathBuf> = done.list_errors.iter().map(|(d, _)| d.clone()).collect();
                    for (dir, e) in done.list_errors {
                        if !list_errors.contains(&dir) {
                            warn!(dir = %dir.display(), "cannot list the watch directory, keeping its torrents as they are: {e}");
                        }
                    }
                    list_errors = failed;
                }
                Some(hash) = self.stopped_rx.recv() => {
                    lock(&self.registry).stopping.remove(&hash);
                }
                _ = resume_tick.tick(), if !saving => {
                    let jobs = self.save_jobs(false);
                    if !jobs.is_empty() {
                        saving = true;
                        let tx = save_tx.clone();
                        tokio::task::spawn_blocking(move || { let _ = tx.send(save_all(jobs)); });
                    }
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
        self.shutdown().await;
        Ok(())
    }

    /// Lists `dirs`, plans, reads what is due and applies it, on a task of its own.
    fn spawn_scan(&self, dirs: Vec<PathBuf>, done: mpsc::UnboundedSender<ScanDone>) {
        let registry = self.registry.clone();
        let session = self.session.clone();
        let policy = self.policy();
        let resume_dir = self.resume_dir.clone();
        let stops = StopCtx {
            session: self.session.clone(),
            resume_dir: self.resume_dir.clone(),
            stopped: self.stopped_tx.clone(),
            tasks: self.stop_tasks.clone(),
        };
        tokio::spawn(async move {
            let listed = tokio::task::spawn_blocking(move || {
                dirs.into_iter()
                    .map(|d| {
                        let r = watch::list_dir(&d);
                        (d, r)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let mut ok_dirs = Vec::new();
            let mut files = Vec::new();
            let mut list_errors = Vec::new();
            for (dir, r) in listed {
                match r {
                    Ok(l) => {
                        ok_dirs.push(dir);
                        files.extend(l);
                    }
                    Err(e) => list_errors.push((dir, e.to_string())),
                }
            }
            let plan = lock(&registry).plan(&ok_dirs, files, Instant::now(), SystemTime::now());
            for stop in plan.stops {
                stops.spawn(stop);
            }
            if !plan.read.is_empty() {
                let data_root = policy.data_dir.clone();
                let read = plan.read;
                let prepared = tokio::task::spawn_blocking(move || {
                    read.into_iter()
                        .map(|(path, stamp)| {
                            let r = resume::prepare(&path, data_root.as_deref(), &resume_dir);
                            (path, stamp, r)
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
                let mut reg = lock(&registry);
                let now = Instant::now();
                for (path, stamp, r) in prepared {
                    if let Some(stop) = reg.apply(&path, stamp, r, &session, &policy, now) {
                        stops.spawn(stop);
                    }
                }
            }
            let retry = lock(&registry).next_retry();
            let wake = match (plan.wake, retry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let _ = done.send(ScanDone { wake, list_errors });
        });
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
        let restart = self.settings.restart_needed(&new);
        if !restart.is_empty() {
            warn!(
                "changed settings take effect after a restart: {}",
                restart.join(", ")
            );
        }
        self.session
            .set_rate_limits(new.max_upload_rate, new.max_download_rate);
        let torrent_limits = (new.torrent_upload_rate, new.torrent_download_rate);
        if torrent_limits
            != (
                self.settings.torrent_upload_rate,
                self.settings.torrent_download_rate,
            )
        {
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
            reg.retain_dirs(&new.watch)
        };
        let ctx = self.stop_ctx();
        for stop in stops {
            ctx.spawn(stop);
        }
        watchers.set_dirs(&new.watch);
        self.settings.watch = new.watch.clone();
        self.settings = Settings {
            state_dir: self.settings.state_dir.clone(),
            listen: self.settings.listen,
            max_connections: self.settings.max_connections,
            max_peers_per_torrent: self.settings.max_peers_per_torrent,
            upload_slots: self.settings.upload_slots,
            check_concurrency: self.settings.check_concurrency,
            max_open_files: self.settings.max_open_files,
            log_file: self.settings.log_file.clone(),
            metrics: self.settings.metrics,
            ..new
        };
        info!(
            upload = %crate::units::format_rate(self.settings.max_upload_rate),
            download = %crate::units::format_rate(self.settings.max_download_rate),
            "configuration reloaded"
        );
    }

    fn stop_ctx(&self) -> StopCtx {
        StopCtx {
            session: self.session.clone(),
            resume_dir: self.resume_dir.clone(),
            stopped: self.stopped_tx.clone(),
            tasks: self.stop_tasks.clone(),
        }
    }

    fn summary(&self) -> String {
        let port = self.session.listen_addr().port();
        report::summary(&report::build(&lock(&self.registry), port))
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

    /// Resume saves due: checked torrents whose counters changed since their last save (all
    /// checked torrents with `all`).
    fn save_jobs(&self, all: bool) -> Vec<SaveJob> {
        self.refresh_checked();
        let mut reg = lock(&self.registry);
        reg.running()
            .filter(|(_, r)| r.checked)
            .filter(|(_, r)| all || r.saved != Some(resume::current_key(&r.handle, r.lifetime)))
            .map(|(p, r)| SaveJob {
                torrent_file: p.to_path_buf(),
                path: resume::resume_path(&self.resume_dir, &r.handle.info_hash()),
                handle: r.handle.clone(),
                lifetime: r.lifetime,
            })
            .collect()
    }

    fn record_saves(&self, results: SaveResults) {
        let mut failures = 0usize;
        let mut first = None;
        let mut reg = lock(&self.registry);
        for (torrent_file, hash, r) in results {
            match r {
                Ok(key) => {
                    if let Some((_, run)) = reg
                        .running()
                        .find(|(p, run)| *p == torrent_file && run.handle.info_hash() == hash)
                    {
                        run.saved = Some(key);
                    }
                }
                Err(e) => {
                    failures += 1;
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first {
            warn!("saving resume data failed for {failures} torrent(s), e.g. {e}");
        }
    }

    /// SIGTERM/SIGINT: every torrent announces `stopped` (concurrently, within a deadline),
    /// resume data is flushed, the control socket closes.
    async fn shutdown(self) {
        systemd::stopping();
        info!("shutting down: stopping every torrent");
        self.refresh_checked();
        let started = Instant::now();
        self.session.shutdown(STOP_DEADLINE).await;
        self.stop_tasks.close();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.stop_tasks.wait()).await;
        let jobs = self.save_jobs(false);
        let n = jobs.len();
        info!(
            "torrents stopped in {:.1} s, saving resume data of {n}",
            started.elapsed().as_secs_f64()
        );
        let saved = tokio::time::timeout(
            FINAL_SAVE_DEADLINE,
            tokio::task::spawn_blocking(move || save_all(jobs)),
        )
        .await;
        match saved {
            Ok(Ok(results)) => self.record_saves(results),
            Ok(Err(e)) => warn!("saving resume data failed: {e}"),
            Err(_) => {
                warn!("saving resume data of {n} torrents took too long; some saves are lost")
            }
        }
        self.control.cancel();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.control_task).await;
        if let Some(task) = self.metrics_task {
            let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
        }
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

/// What stopping a torrent needs.
struct StopCtx {
    session: Session,
    resume_dir: PathBuf,
    stopped: mpsc::UnboundedSender<InfoHash>,
    tasks: TaskTracker,
}

impl StopCtx {
    /// Stops the torrent (announcing `stopped`), then saves its resume data; the data stays.
    fn spawn(&self, stop: Stop) {
        let Stop { running, why, path } = stop;
        let session = self.session.clone();
        let resume_file = resume::resume_path(&self.resume_dir, &running.handle.info_hash());
        let stopped = self.stopped.clone();
        self.tasks.spawn(async move {
            let h = running.handle;
            info!(torrent = %h.metainfo().info.name, file = %path.display(),
                "{why}: stopping the torrent (its data is kept)");
            session.remove_torrent(h.info_hash()).await;
            if running.checked {
                let handle = h.clone();
                let lifetime = running.lifetime;
                let r = tokio::task::spawn_blocking(move || {
                    resume::save(&handle, lifetime, &resume_file)
                })
                .await;
                if let Ok(Err(e)) = r {
                    warn!(torrent = %h.metainfo().info.name, "saving resume data failed: {}", resume::chain(&e));
                }
            }
            let _ = stopped.send(h.info_hash());
        });
    }
}

/// One resume save to do.
struct SaveJob {
    torrent_file: PathBuf,
    path: PathBuf,
    handle: engine::TorrentHandle,
    lifetime: (u64, u64),
}

/// Per job: its `.torrent`, info-hash, and the saved key or the error.
type SaveResults = Vec<(PathBuf, InfoHash, Result<resume::SaveKey, String>)>;

/// Saves every job on a few threads (blocking).
fn save_all(jobs: Vec<SaveJob>) -> SaveResults {
    let chunk = jobs.len().div_ceil(SAVE_THREADS).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|j| {
                            let r = resume::save(&j.handle, j.lifetime, &j.path)
                                .map_err(|e| resume::chain(&e));
                            (j.torrent_file.clone(), j.handle.info_hash(), r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}
