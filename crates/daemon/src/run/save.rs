//! Saving resume data of the running torrents: which are due, saving them on a few threads
//! ([`save_all`]), and recording what was saved so that unchanged torrents are not saved again.

use std::path::PathBuf;
use std::time::Duration;

use metainfo::InfoHash;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, info_span, warn};

use super::resume::{self, SaveKey};
use super::{Daemon, lock};
use super::{report, totals};

/// Threads saving resume data in parallel (each save ends in `fsync`s).
const SAVE_THREADS: usize = 8;
/// How long the final resume save may take at exit.
const FINAL_SAVE_DEADLINE: Duration = Duration::from_millis(2500);

/// One resume save to do.
pub struct SaveJob {
    torrent_file: PathBuf,
    path: PathBuf,
    handle: engine::TorrentHandle,
    lifetime: (u64, u64),
}

/// Per job: its `.torrent`, info-hash, and the saved key or the error.
pub type SaveResults = Vec<(PathBuf, InfoHash, Result<SaveKey, String>)>;

/// Saves every job on a few threads (blocking).
pub fn save_all(jobs: Vec<SaveJob>) -> SaveResults {
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

impl Daemon {
    /// Resume saves due: checked torrents whose counters changed since their last save.
    fn save_jobs(&self) -> Vec<SaveJob> {
        self.refresh_checked();
        let mut reg = lock(&self.registry);
        reg.running()
            .filter(|(_, r)| r.checked)
            .filter(|(_, r)| r.saved != Some(resume::current_key(&r.handle, r.lifetime)))
            .map(|(p, r)| SaveJob {
                torrent_file: p.to_path_buf(),
                path: resume::resume_path(&self.resume_dir, &r.handle.info_hash()),
                handle: r.handle.clone(),
                lifetime: r.lifetime,
            })
            .collect()
    }

    /// The periodic save: saves what is due on the blocking pool and sends the results to
    /// `done`. Returns whether a save is now running.
    pub(super) fn spawn_saves(&self, done: &mpsc::UnboundedSender<SaveResults>) -> bool {
        let jobs = self.save_jobs();
        if jobs.is_empty() {
            return false;
        }
        let done = done.clone();
        let span = info_span!("resume_save");
        self.tasks.spawn_blocking(move || {
            let _entered = span.enter();
            let _ = done.send(save_all(jobs));
        });
        true
    }

    /// Records the keys saved (so unchanged torrents are not saved again) and warns once about
    /// the failures.
    pub(super) fn record_saves(&self, results: SaveResults) {
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

    /// Removes, on the blocking pool, the resume files of torrents no longer watched that were
    /// not touched for [`resume::STALE_AFTER`] (skipped while a watched file is not read yet).
    pub(super) fn spawn_resume_cleanup(&self) {
        let Some(keep) = lock(&self.registry).resume_keep() else {
            return;
        };
        let dir = self.resume_dir.clone();
        self.tasks.spawn_blocking(move || {
            match resume::remove_stale(&dir, &keep, resume::STALE_AFTER, std::time::SystemTime::now()) {
                Ok(0) => {}
                Ok(n) => info!(dir = %dir.display(), "removed the resume data of {n} torrent(s) unwatched for 30 days"),
                Err(e) => warn!(dir = %dir.display(), "cleaning up old resume data failed: {e}"),
            }
        });
    }

    /// Saves the daemon's lifetime traffic counters (on the blocking pool) when they changed
    /// since the last save.
    pub(super) fn spawn_totals_save(&self) {
        let now = {
            let mut reg = lock(&self.registry);
            let now = report::lifetime(&reg);
            if now == reg.lifetime_saved {
                return;
            }
            reg.lifetime_saved = now;
            now
        };
        let state_dir = self.settings.state_dir.clone();
        self.tasks.spawn_blocking(move || {
            if let Err(e) = totals::save(&state_dir, now) {
                warn!(dir = %state_dir.display(), "saving the lifetime traffic counters failed: {e}");
            }
        });
    }

    /// The save at exit, within [`FINAL_SAVE_DEADLINE`]; `started` is when stopping began.
    pub(super) async fn final_save(&self, started: Instant) {
        let jobs = self.save_jobs();
        let n = jobs.len();
        info!(
            "torrents stopped in {:.1} s, saving resume data of {n}",
            started.elapsed().as_secs_f64()
        );
        let lifetime = report::lifetime(&lock(&self.registry));
        if let Err(e) = totals::save(&self.settings.state_dir, lifetime) {
            warn!("saving the lifetime traffic counters failed: {e}");
        }
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
    }
}
