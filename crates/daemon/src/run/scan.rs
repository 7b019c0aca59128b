//! Scans: when the watch directories are listed (the loop's scan state: what is wanted, the
//! debounce of watcher hints, the next retry) and the scan task that lists them, plans, reads
//! what is due and applies it to the registry.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use engine::Session;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info_span, warn};

use super::prepare::{self, PrepareError, Prepared};
use super::reconcile::{AddPolicy, Registry};
use super::stop::StopCtx;
use super::watch::{self, Hint, Listed, Stamp};
use super::{Daemon, lock, spawn};

/// How long reading and preparing one `.torrent` may take before it counts as failed.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(10);
/// Watcher hints are collected this long before the directories are listed.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// What a scan task reports back.
pub struct ScanDone {
    /// When the plan wants the next scan (a file not yet quiet, a retry).
    wake: Option<Instant>,
    /// Watch directories that could not be listed, and why.
    list_errors: Vec<(PathBuf, String)>,
}

/// The loop's view of scanning: one scan at a time, the directories wanted next, the debounce
/// of watcher hints and the earliest wake-up a scan asked for.
#[derive(Debug)]
pub struct ScanState {
    /// A scan task is running.
    scanning: bool,
    /// Directories to list when no scan runs.
    wanted: Option<HashSet<PathBuf>>,
    /// When the hinted directories are due.
    debounce: Option<Instant>,
    /// Directories with hints collected during the debounce.
    dirty: HashSet<PathBuf>,
    /// The earliest wake-up a scan asked for.
    wake: Option<Instant>,
    /// Directories whose last listing failed (warned about once).
    list_errors: HashSet<PathBuf>,
}

/// A time far enough away to stand for "never" in a `select!` branch that is disabled.
fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl ScanState {
    /// The first scan wants every watch directory.
    pub fn new(watch: &[PathBuf]) -> Self {
        Self {
            scanning: false,
            wanted: Some(watch.iter().cloned().collect()),
            debounce: None,
            dirty: HashSet::new(),
            wake: None,
            list_errors: HashSet::new(),
        }
    }

    /// The directories to scan now, when a scan is wanted and none runs (it then runs).
    pub fn start(&mut self) -> Option<Vec<PathBuf>> {
        if self.scanning {
            return None;
        }
        let dirs = self.wanted.take()?;
        self.scanning = true;
        Some(dirs.into_iter().collect())
    }

    /// Wants a scan of every watch directory.
    pub fn want_all(&mut self, watch: &[PathBuf]) {
        self.wanted = Some(watch.iter().cloned().collect());
    }

    /// A watcher hint: a changed directory is scanned after the debounce.
    pub fn on_hint(&mut self, hint: Hint, watch: &[PathBuf]) {
        match hint {
            Hint::Changed(dir) | Hint::Appeared(dir) => {
                self.dirty.insert(dir);
                self.debounce = Some(Instant::now() + DEBOUNCE);
            }
            Hint::RescanAll => self.want_all(watch),
        }
    }

    /// Whether hints wait for their debounce.
    pub fn debouncing(&self) -> bool {
        self.debounce.is_some()
    }

    /// When the debounce ends (far away when none runs).
    pub fn debounce_at(&self) -> Instant {
        self.debounce.unwrap_or_else(far)
    }

    /// The debounce ended: the hinted directories are wanted.
    pub fn debounced(&mut self) {
        self.debounce = None;
        self.wanted
            .get_or_insert_with(HashSet::new)
            .extend(self.dirty.drain());
    }

    /// Whether a wake-up is set and may fire (not while a scan runs).
    pub fn wake_due(&self) -> bool {
        self.wake.is_some() && !self.scanning
    }

    /// When the wake-up is (far away when none is set).
    pub fn wake_at(&self) -> Instant {
        self.wake.unwrap_or_else(far)
    }

    /// The wake-up fired: every directory is wanted.
    pub fn woken(&mut self, watch: &[PathBuf]) {
        self.wake = None;
        self.want_all(watch);
    }

    /// A scan finished: keeps its wake-up and warns once per directory that cannot be listed.
    pub fn finished(&mut self, done: ScanDone) {
        self.scanning = false;
        self.wake = earliest(self.wake, done.wake);
        let failed: HashSet<PathBuf> = done.list_errors.iter().map(|(d, _)| d.clone()).collect();
        for (dir, e) in done.list_errors {
            if !self.list_errors.contains(&dir) {
                warn!(dir = %dir.display(), "cannot list the watch directory, keeping its torrents as they are: {e}");
            }
        }
        self.list_errors = failed;
    }
}

/// What a scan task needs from the daemon.
struct ScanCtx {
    registry: Arc<Mutex<Registry>>,
    session: Session,
    policy: AddPolicy,
    resume_dir: PathBuf,
    stops: StopCtx,
}

impl Daemon {
    fn policy(&self) -> AddPolicy {
        AddPolicy {
            data_dir: self.settings.data_dir.clone(),
            upload_rate: self.settings.torrent_upload_rate,
            download_rate: self.settings.torrent_download_rate,
            check_concurrency: self.settings.check_concurrency,
            web_seeds_extra: self.settings.web_seeds_extra.clone(),
        }
    }

    /// Lists `dirs`, plans, reads what is due and applies it, on a task of its own.
    pub(super) fn spawn_scan(&self, dirs: Vec<PathBuf>, done: mpsc::UnboundedSender<ScanDone>) {
        let ctx = ScanCtx {
            registry: self.registry.clone(),
            session: self.session.clone(),
            policy: self.policy(),
            resume_dir: self.resume_dir.clone(),
            stops: self.stop_ctx(),
        };
        let cancel = self.cancel.clone();
        spawn(&self.tasks, info_span!("scan"), async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                finished = ctx.scan(dirs) => { let _ = done.send(finished); }
            }
        });
    }
}

/// Why a watch directory cannot be listed, as `status` shows it: `missing` when it does not
/// exist (the daemon waits for it), else the system's reason.
fn describe_list_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "missing".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        _ => e.to_string(),
    }
}

/// Per directory: what it holds, or why it cannot be listed (blocking).
fn list_dirs(dirs: Vec<PathBuf>) -> Vec<(PathBuf, std::io::Result<Vec<Listed>>)> {
    dirs.into_iter()
        .map(|d| {
            let r = watch::list_dir(&d);
            (d, r)
        })
        .collect()
}

impl ScanCtx {
    /// One pass: list, plan, stop what is gone, read what is due, apply.
    async fn scan(self, dirs: Vec<PathBuf>) -> ScanDone {
        let listed = tokio::task::spawn_blocking(move || list_dirs(dirs))
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
                Err(e) => list_errors.push((dir, e)),
            }
        }
        let list_errors: Vec<(PathBuf, String)> = list_errors
            .into_iter()
            .map(|(d, e)| (d, describe_list_error(&e)))
            .collect();
        {
            let mut reg = lock(&self.registry);
            for d in &ok_dirs {
                reg.dir_errors.remove(d);
            }
            for (d, e) in &list_errors {
                reg.dir_errors.insert(d.clone(), e.clone());
            }
        }
        let plan = lock(&self.registry).plan(&ok_dirs, files, Instant::now(), SystemTime::now());
        for stop in plan.stops {
            self.stops.spawn(stop);
        }
        if !plan.read.is_empty() {
            self.read_and_apply(plan.read).await;
        }
        let retry = lock(&self.registry).next_retry();
        ScanDone {
            wake: earliest(plan.wake, retry),
            list_errors,
        }
    }

    /// Prepares one file on the blocking pool, within [`PREPARE_TIMEOUT`]: a read that hangs
    /// (a hung network file system) fails that file, to be retried, and the scan goes on.
    async fn prepare_one(&self, path: PathBuf) -> Result<Prepared, PrepareError> {
        let data_root = self.policy.data_dir.clone();
        let resume_dir = self.resume_dir.clone();
        let job = tokio::task::spawn_blocking(move || {
            prepare::prepare(&path, data_root.as_deref(), &resume_dir)
        });
        match tokio::time::timeout(PREPARE_TIMEOUT, job).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(PrepareError::Read(std::io::Error::other(join))),
            Err(_) => Err(PrepareError::TimedOut),
        }
    }

    /// Reads and prepares the files due (on the blocking pool), then applies the results.
    async fn read_and_apply(&self, read: Vec<(PathBuf, Stamp)>) {
        let mut prepared = Vec::with_capacity(read.len());
        for (path, stamp) in read {
            let r = self.prepare_one(path.clone()).await;
            prepared.push((path, stamp, r));
        }
        let mut reg = lock(&self.registry);
        let now = Instant::now();
        for (path, stamp, r) in prepared {
            if let Some(stop) = reg.apply(&path, stamp, r, &self.session, &self.policy, now) {
                self.stops.spawn(stop);
            }
        }
    }
}
