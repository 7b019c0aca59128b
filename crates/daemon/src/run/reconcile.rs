//! The reconciler: the watch directories are the desired state, the session's torrents the
//! running state, and [`Registry`] turns the difference into actions.
//!
//! A pass is [`Registry::plan`] (pure: which files to stop, which to read) followed by
//! [`Registry::apply`] (start, replace or mark as failed with the prepared results). A file is
//! only read once its size and mtime have been quiet for [`QUIET`]; a file that is not a usable
//! torrent is retried with back-off for as long as it stays, its reason is shown in the status
//! and logged once per reason and version of the file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use engine::{AddError, AddOptions, Session, TorrentHandle};
use metainfo::InfoHash;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{info, warn};

use super::prepare::{PrepareError, Prepared, ResumeNote};
use super::resume::{self, SaveKey};
use super::totals::Transferred;
use super::watch::{Listed, Stamp};

mod fetch;
pub(crate) use fetch::MagnetSink;

/// A file's size and mtime must stay unchanged this long before it is read.
pub const QUIET: Duration = Duration::from_secs(1);
/// First retry delay of an unusable file; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A torrent the engine stopped with an error (a full disk, a vanished file) is restarted after
/// this long, so the mirror heals by itself once the operator fixed the cause; SIGHUP restarts
/// it at once.
pub const ERROR_RESTART: Duration = Duration::from_secs(5 * 60);

/// Retry delay while the same torrent is still stopping (a quick replace A → B → A).
const BUSY_RETRY: Duration = Duration::from_millis(500);

/// Per-torrent settings the reconciler applies when adding.
#[derive(Clone, Debug, Default)]
pub struct AddPolicy {
    /// Data root instead of the `.torrent`'s directory.
    pub data_dir: Option<PathBuf>,
    /// Per-torrent rate limits (bytes/s, 0 = unlimited).
    pub upload_rate: u64,
    /// See `upload_rate`.
    pub download_rate: u64,
    /// Data checks at once per file system.
    pub check_concurrency: usize,
    /// The operator's own web seeds, for every torrent.
    pub web_seeds_extra: Vec<String>,
}

/// A running torrent and what the daemon keeps about it.
#[derive(Debug)]
pub struct Running {
    /// The engine's handle.
    pub handle: TorrentHandle,
    /// Lifetime (uploaded, downloaded) before this run.
    pub lifetime: (u64, u64),
    /// The key of the resume data on disk, if it is current.
    pub saved: Option<SaveKey>,
    /// The initial check finished (so the bitfield may be saved).
    pub checked: bool,
    /// When the engine was first seen to have stopped it with an error.
    pub error_seen: Option<Instant>,
    /// Restart it at the next pass if it is in the error state (set by SIGHUP).
    pub restart_on_error: bool,
}

/// What the daemon knows about one `.torrent` file.
#[derive(Debug)]
pub enum Slot {
    /// Not read yet (waiting for the file to be quiet).
    Pending,
    /// Not a usable torrent (or a duplicate); retried later.
    Failed(String),
    /// Running in the session.
    Running(Running),
    /// A `.magnet` whose metadata is being fetched (status `metadata`).
    Fetching(engine::MetadataFetch),
}

/// One `.torrent` file in a watch directory.
#[derive(Debug)]
pub struct Entry {
    /// The watch directory it is in.
    pub dir: PathBuf,
    /// Its size and mtime as last listed.
    pub stamp: Stamp,
    /// When `stamp` was first seen.
    pub since: Instant,
    /// The stamp the slot was last derived from (`None` before the first read).
    pub read_stamp: Option<Stamp>,
    /// Failed reads in a row and when to try again.
    pub retry: Option<(u32, Instant)>,
    /// Its state.
    pub slot: Slot,
}

/// Everything the reconciler tracks, shared with the status report.
#[derive(Debug, Default)]
pub struct Registry {
    /// Entries by `.torrent` path.
    pub entries: BTreeMap<PathBuf, Entry>,
    /// Torrents being stopped (their handles are gone from `entries`).
    pub stopping: HashSet<InfoHash>,
    /// Check limits per file system.
    check_limits: HashMap<u64, Arc<Semaphore>>,
    /// Where fetched metadata goes and whom to tell (`None`: magnets are not fetched).
    pub magnets: Option<fetch::MagnetSink>,
    /// This run's bytes of the torrents stopped since it started (totals never go down).
    pub retired: Transferred,
    /// The daemon's lifetime bytes before this run (from the state directory).
    pub lifetime_before: Transferred,
    /// The lifetime bytes last saved to the state directory.
    pub lifetime_saved: Transferred,
    /// Watch directories the last pass could not list, with why (`missing` when absent).
    pub dir_errors: BTreeMap<PathBuf, String>,
}

/// A torrent to stop (announce `stopped`, save its resume data) because its file went away or
/// was replaced.
#[derive(Debug)]
pub struct Stop {
    /// The torrent.
    pub running: Running,
    /// Why, for the log.
    pub why: &'static str,
    /// Its `.torrent` path.
    pub path: PathBuf,
}

/// The result of planning one listing.
#[derive(Debug, Default)]
pub struct Plan {
    /// Torrents to stop.
    pub stops: Vec<Stop>,
    /// Files to read now, with the stamp they were listed with.
    pub read: Vec<(PathBuf, Stamp)>,
    /// When a file will be due (quiet, or its retry time).
    pub wake: Option<Instant>,
}

impl Plan {
    fn wake_at(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }
}

/// When a stamp first seen at `since` counts as quiet: its mtime is at least [`QUIET`] in
/// the past, or (clock skew) it has been seen unchanged for that long.
fn quiet_at(stamp: &Stamp, since: Instant, now: Instant, wall: SystemTime) -> Instant {
    let by_watch = since + QUIET;
    match wall.duration_since(stamp.mtime) {
        Ok(age) => by_watch.min(now + QUIET.saturating_sub(age)),
        Err(_) => by_watch,
    }
}

/// A running torrent to stop: marked as stopping, and its bytes of this run kept in `retired`
/// (so that the daemon's totals do not go down when it leaves the registry).
fn retire(
    stopping: &mut HashSet<InfoHash>,
    retired: &mut Transferred,
    running: Running,
    path: &Path,
    why: &'static str,
) -> Stop {
    stopping.insert(running.handle.info_hash());
    *retired = retired.plus(Transferred::from(&running.handle.stats()));
    Stop {
        running,
        why,
        path: path.to_path_buf(),
    }
}

impl Registry {
    /// Plans the pass for `dirs` (which were listed; `listed` holds every candidate file in
    /// them). Entries in those directories that are no longer listed are removed.
    pub fn plan(
        &mut self,
        dirs: &[PathBuf],
        listed: Vec<Listed>,
        now: Instant,
        wall: SystemTime,
    ) -> Plan {
        let mut plan = Plan::default();
        let present: HashSet<&Path> = listed.iter().map(|l| l.path.as_path()).collect();
        let gone: Vec<PathBuf> = self
            .entries
            .iter()
            .filter(|(p, e)| dirs.contains(&e.dir) && !present.contains(p.as_path()))
            .map(|(p, _)| p.clone())
            .collect();
        self.restart_errored(&mut plan, now);
        let any_gone = self.remove_gone(gone, &mut plan);
        self.plan_listed(listed, any_gone, &mut plan, now, wall);
        plan
    }

    /// Torrents in the engine's error state for long enough (or after a reload) are stopped
    /// here and started again by `plan_listed`, as if their file had just appeared.
    fn restart_errored(&mut self, plan: &mut Plan, now: Instant) {
        for (path, e) in self.entries.iter_mut() {
            let Slot::Running(r) = &mut e.slot else {
                continue;
            };
            if r.handle.stats().state != engine::TorrentState::Error {
                r.error_seen = None;
                r.restart_on_error = false;
                continue;
            }
            let since = *r.error_seen.get_or_insert(now);
            let due = since + ERROR_RESTART;
            if due > now && !r.restart_on_error {
                plan.wake_at(due);
                continue;
            }
            if let Some(running) = take_running(&mut e.slot) {
                plan.stops.push(retire(
                    &mut self.stopping,
                    &mut self.retired,
                    running,
                    path,
                    "restarting after an error",
                ));
                e.read_stamp = None;
                e.since = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
            }
        }
    }

    /// Removes the entries of files no longer listed; their torrents go to `plan.stops`.
    /// Returns whether a running torrent went away.
    fn remove_gone(&mut self, gone: Vec<PathBuf>, plan: &mut Plan) -> bool {
        let mut any_gone = false;
        for path in gone {
            if let Some(e) = self.entries.remove(&path)
                && let Some(running) = fetch::running_or_stop_fetch(e.slot)
            {
                plan.stops
                    .push(self.stopping_now(running, &path, "removed"));
                any_gone = true;
            }
        }
        any_gone
    }

    /// Records the listed files and plans which to read now and when the others are due.
    fn plan_listed(
        &mut self,
        listed: Vec<Listed>,
        any_gone: bool,
        plan: &mut Plan,
        now: Instant,
        wall: SystemTime,
    ) {
        for l in listed {
            let dir = l.path.parent().map(Path::to_path_buf).unwrap_or_default();
            let e = self.entries.entry(l.path.clone()).or_insert_with(|| Entry {
                dir,
                stamp: l.stamp,
                since: now,
                read_stamp: None,
                retry: None,
                slot: Slot::Pending,
            });
            if e.stamp != l.stamp {
                e.stamp = l.stamp;
                e.since = now;
                e.retry = None;
            }
            // A duplicate may run now that another file went away.
            if any_gone && matches!(e.slot, Slot::Failed(_)) {
                e.retry = Some((e.retry.map_or(0, |r| r.0), now));
            }
            let due = if e.read_stamp != Some(e.stamp) {
                // New or changed: read once quiet.
                let quiet = quiet_at(&e.stamp, e.since, now, wall);
                e.retry.map_or(quiet, |(_, at)| at.max(quiet))
            } else if matches!(&e.slot, Slot::Fetching(f) if f.is_finished()) {
                now // its metadata is in: read the `.magnet` again
            } else {
                match e.retry {
                    Some((_, at)) => at,
                    None => continue,
                }
            };
            if due <= now {
                plan.read.push((l.path, e.stamp));
            } else {
                plan.wake_at(due);
            }
        }
    }

    /// Applies the result of reading `path` (listed with `stamp`): starts, replaces or marks
    /// the torrent as failed. Returns a torrent to stop when it was replaced.
    pub fn apply(
        &mut self,
        path: &Path,
        stamp: Stamp,
        result: Result<Prepared, PrepareError>,
        session: &Session,
        policy: &AddPolicy,
        now: Instant,
    ) -> Option<Stop> {
        let duplicate_of = match &result {
            Ok(p) => self.duplicate_of(path, &p.meta.info_hash),
            Err(_) => None,
        };
        let check_limit = result.as_ref().ok().map(|p| {
            self.check_limits
                .entry(p.device)
                .or_insert_with(|| Arc::new(Semaphore::new(policy.check_concurrency.max(1))))
                .clone()
        });
        let busy = result
            .as_ref()
            .is_ok_and(|p| self.stopping.contains(&p.meta.info_hash));
        let e = self.entries.get_mut(path)?;
        if e.stamp != stamp {
            return None; // changed again meanwhile: the next pass reads it
        }
        let mut prepared = match result {
            Err(PrepareError::NeedsMetadata(magnet)) => {
                let stop = take_running(&mut e.slot);
                fetch::start_fetch(e, path, stamp, *magnet, session, self.magnets.as_ref(), now);
                return stop.map(|running| self.stopping_now(running, path, "replaced"));
            }
            Err(err) => {
                fetch::stop_fetch(&mut e.slot);
                // Rewritten into something unusable: the old torrent is no longer wanted.
                let stop = take_running(&mut e.slot);
                fail(e, path, resume::chain(&err), now);
                return stop.map(|running| self.stopping_now(running, path, "replaced"));
            }
            Ok(p) => p,
        };
        if let Slot::Running(r) = &e.slot
            && r.handle.info_hash() == prepared.meta.info_hash
        {
            e.read_stamp = Some(stamp); // touched or rewritten with the same torrent
            e.retry = None;
            return None;
        }
        if let Some(other) = duplicate_of {
            fail(
                e,
                path,
                format!(
                    "the same torrent as {} (not started twice)",
                    other.display()
                ),
                now,
            );
            return None;
        }
        if busy {
            e.retry = Some((e.retry.map_or(0, |r| r.0), now + BUSY_RETRY));
            return None;
        }
        fetch::stop_fetch(&mut e.slot);
        let stop = take_running(&mut e.slot);
        let opts = AddOptions {
            have: prepared.have.take(),
            max_upload_rate: policy.upload_rate,
            max_download_rate: policy.download_rate,
            check_limit,
            extra_web_seeds: policy.web_seeds_extra.clone(),
        };
        start(e, path, stamp, prepared, opts, session, now);
        stop.map(|running| self.stopping_now(running, path, "replaced"))
    }

    /// Another `.torrent` file already running the torrent `hash`.
    fn duplicate_of(&self, path: &Path, hash: &InfoHash) -> Option<PathBuf> {
        self.entries
            .iter()
            .find(|(other, e)| {
                other.as_path() != path
                    && matches!(&e.slot, Slot::Running(r) if r.handle.info_hash() == *hash)
            })
            .map(|(other, _)| other.clone())
    }

    /// The info-hashes whose resume data must stay: every torrent running, fetching or
    /// stopping. `None` while some file is not read yet (its torrent is not known).
    pub fn resume_keep(&self) -> Option<HashSet<InfoHash>> {
        let mut keep = self.stopping.clone();
        for e in self.entries.values() {
            match &e.slot {
                Slot::Pending => return None,
                Slot::Failed(_) => {}
                Slot::Running(r) => {
                    keep.insert(r.handle.info_hash());
                }
                Slot::Fetching(f) => {
                    keep.insert(f.info_hash());
                }
            }
        }
        Some(keep)
    }

    fn stopping_now(&mut self, running: Running, path: &Path, why: &'static str) -> Stop {
        retire(&mut self.stopping, &mut self.retired, running, path, why)
    }

    /// Running torrents in watch directories that are no longer watched, removed from the
    /// registry (the caller stops them).
    pub fn retain_dirs(&mut self, dirs: &[PathBuf]) -> Vec<Stop> {
        let gone: Vec<PathBuf> = self
            .entries
            .iter()
            .filter(|(_, e)| !dirs.contains(&e.dir))
            .map(|(p, _)| p.clone())
            .collect();
        let mut stops = Vec::new();
        for path in gone {
            if let Some(e) = self.entries.remove(&path)
                && let Some(running) = fetch::running_or_stop_fetch(e.slot)
            {
                stops.push(self.stopping_now(running, &path, "no longer watched"));
            }
        }
        stops
    }

    /// Makes every failed file due for a retry now, and every torrent the engine stopped with
    /// an error due for a restart (after a reload).
    pub fn retry_failed_now(&mut self, now: Instant) {
        for e in self.entries.values_mut() {
            match &mut e.slot {
                Slot::Failed(_) => e.retry = Some((0, now)),
                Slot::Running(r) => r.restart_on_error = true,
                _ => {}
            }
        }
    }

    /// The earliest retry any entry waits for (set while applying, e.g. a torrent that was
    /// still stopping), so the next scan is not left to the periodic rescan.
    pub fn next_retry(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| e.retry.map(|(_, at)| at))
            .min()
    }

    /// The running torrents.
    pub fn running(&mut self) -> impl Iterator<Item = (&Path, &mut Running)> {
        self.entries
            .iter_mut()
            .filter_map(|(p, e)| match &mut e.slot {
                Slot::Running(r) => Some((p.as_path(), r)),
                _ => None,
            })
    }
}

/// Adds the torrent of `prepared` (read from `path` listed with `stamp`) to the session with
/// `opts`; `e` becomes running, or failed (retried) when the session refuses it.
fn start(
    e: &mut Entry,
    path: &Path,
    stamp: Stamp,
    prepared: Prepared,
    opts: AddOptions,
    session: &Session,
    now: Instant,
) {
    let Prepared {
        meta,
        data_dir,
        lifetime,
        resume: note,
        ..
    } = prepared;
    let saved = opts.have.as_ref().map(|h| resume::loaded_key(h, lifetime));
    let resumed = opts.have.is_some();
    match session.add_torrent(meta.clone(), data_dir.clone(), opts) {
        Ok(handle) => {
            log_added(&note, &meta.info.name, path, &data_dir);
            e.slot = Slot::Running(Running {
                handle,
                lifetime,
                saved,
                checked: resumed,
                error_seen: None,
                restart_on_error: false,
            });
            e.read_stamp = Some(stamp);
            e.retry = None;
        }
        Err(AddError::Duplicate(_)) => {
            e.retry = Some((e.retry.map_or(0, |r| r.0), now + BUSY_RETRY));
        }
        Err(err) => fail(e, path, resume::chain(&err), now),
    }
}

/// Logs that the torrent `name` of `path` was added, saying what its resume data `note` means.
fn log_added(note: &ResumeNote, name: &str, path: &Path, data_dir: &Path) {
    match note {
        ResumeNote::Resumed => info!(torrent = %name, file = %path.display(),
            "added torrent, resumed without a check"),
        ResumeNote::Missing => info!(torrent = %name, file = %path.display(),
            data = %data_dir.display(), "added torrent, checking its data"),
        ResumeNote::FilesChanged => info!(torrent = %name, file = %path.display(),
            "added torrent; files changed since the resume data was saved, checking"),
        ResumeNote::Unusable(why) => warn!(torrent = %name, file = %path.display(),
            "added torrent; resume data unusable ({why}), checking"),
    }
}

/// Takes the running torrent out of `slot` (leaving `Pending`); other slots are left as they are.
fn take_running(slot: &mut Slot) -> Option<Running> {
    match std::mem::replace(slot, Slot::Pending) {
        Slot::Running(r) => Some(r),
        other => {
            *slot = other;
            None
        }
    }
}

/// Marks `e` as failed with `reason`, logging it when it is new for this version of the file.
fn fail(e: &mut Entry, path: &Path, reason: String, now: Instant) {
    let attempts = e.retry.map_or(0, |r| r.0) + 1;
    let same = e.read_stamp == Some(e.stamp) && matches!(&e.slot, Slot::Failed(r) if *r == reason);
    if !same {
        warn!(file = %path.display(), "not a usable torrent, will retry while it stays: {reason}");
    }
    let exp = attempts.saturating_sub(1).min(16);
    let delay = FIRST_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
    e.retry = Some((attempts, now + delay));
    e.read_stamp = Some(e.stamp);
    e.slot = Slot::Failed(reason);
}

#[cfg(test)]
mod tests;
