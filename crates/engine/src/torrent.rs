//! One torrent: its handle (what the session and the binary hold) and its task (the swarm).
//!
//! The torrent task is the single owner of the peer table, the choker and the connection
//! candidates. What peers need concurrently (the picker, the read cache, counters) lives in
//! [`TorrentShared`] behind short, never-awaited locks.

mod check;
pub(crate) mod event;
pub(crate) mod hash_fetch;
pub(crate) mod shared;
mod swarm;
mod task;
pub(crate) mod verify;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use metainfo::{Bitfield, InfoHash, Metainfo};
use storage::{FileStat, Storage};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use event::Event;
pub(crate) use shared::TorrentShared;

use crate::addr_limit::ConnPermit;
use crate::ctx::{AddOptions, SessionCtx};
use crate::error::{TorrentError, error_chain};
use crate::stats::{TorrentState, TorrentStats};
use tracing::{debug, info, warn};

/// An incoming connection whose handshake head named this torrent.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub stream: crate::encryption::PeerStream,
    pub addr: SocketAddr,
    pub reserved: [u8; 8],
    /// The info-hash the peer's handshake named (one of the torrent's `swarm_hashes`).
    pub info_hash: InfoHash,
    pub permit: ConnPermit,
}

/// Commands to the torrent task.
#[derive(Debug)]
pub(crate) enum Command {
    Incoming(Incoming),
    SetRateLimits { upload: u64, download: u64 },
    AddPeers(Vec<SocketAddr>),
}

/// A handle to a running torrent. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TorrentHandle {
    meta: Arc<Metainfo>,
    data_dir: Arc<PathBuf>,
    cmd: mpsc::Sender<Command>,
    stats: watch::Receiver<TorrentStats>,
    finished: watch::Receiver<bool>,
    cancel: CancellationToken,
    storage: Arc<Storage>,
    /// Set once the data check is done and the swarm starts.
    shared: Arc<OnceLock<Arc<TorrentShared>>>,
}

/// What a daemon saves as resume data, taken in the order that keeps it true: the bitfield
/// first, then the fsync, then the file stats (see [`TorrentHandle::resume_snapshot`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResumeSnapshot {
    /// The pieces verified and written before the fsync.
    pub have: Bitfield,
    /// Size and mtime of each file after the fsync (`None`: missing).
    pub files: Vec<Option<FileStat>>,
    /// Payload bytes uploaded since the torrent started.
    pub uploaded: u64,
    /// Payload bytes downloaded since the torrent started.
    pub downloaded: u64,
}

/// Starts the task of a new torrent.
pub(crate) fn spawn(
    ctx: Arc<SessionCtx>,
    meta: Arc<Metainfo>,
    data_dir: PathBuf,
    opts: AddOptions,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> TorrentHandle {
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (stats_tx, stats) = watch::channel(TorrentStats {
        size: meta.info.total_length,
        pieces_total: meta.info.piece_count(),
        ..TorrentStats::default()
    });
    let (finished_tx, finished) = watch::channel(false);
    let storage = Arc::new(Storage::new(
        meta.info.clone(),
        data_dir.clone(),
        ctx.files.clone(),
    ));
    let slot = Arc::new(OnceLock::new());
    let handle = TorrentHandle {
        meta: meta.clone(),
        data_dir: Arc::new(data_dir),
        cmd: cmd_tx,
        stats,
        finished,
        cancel: cancel.clone(),
        storage: storage.clone(),
        shared: slot.clone(),
    };
    let span = tracing::info_span!("torrent", name = %meta.info.name, hash = %&meta.info_hash.to_hex()[..8]);
    let start = Start {
        ctx,
        meta,
        storage,
        opts,
        cmd_rx,
        stats_tx,
        cancel: cancel.clone(),
        tasks: tasks.clone(),
        slot,
    };
    crate::spawn::spawn_in(tasks, "torrent", span, async move {
        start.run().await;
        finished_tx.send_replace(true);
    });
    handle
}

/// A torrent before its swarm: what the check needs, and what the swarm is then built from.
struct Start {
    ctx: Arc<SessionCtx>,
    meta: Arc<Metainfo>,
    storage: Arc<Storage>,
    opts: AddOptions,
    cmd_rx: mpsc::Receiver<Command>,
    stats_tx: watch::Sender<TorrentStats>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    slot: Arc<OnceLock<Arc<TorrentShared>>>,
}

impl Start {
    /// Checks the data, then runs the swarm until stopped.
    async fn run(mut self) {
        let size = self.meta.info.total_length;
        let checked = check::run(
            &self.ctx,
            &self.storage,
            &mut self.opts,
            &self.cancel,
            &self.stats_tx,
        )
        .await;
        let have = match checked {
            Ok(Some(have)) => have,
            Ok(None) => {
                self.close_storage().await;
                check::publish_unchecked(&self.stats_tx, size, TorrentState::Paused, None);
                debug!(torrent = %self.meta.info.name, "torrent stopped");
                return;
            }
            Err(e) => {
                let msg = error_chain(&e);
                warn!(error = %msg, "torrent stopped by an error");
                check::publish_unchecked(&self.stats_tx, size, TorrentState::Error, Some(msg));
                self.cancel.cancelled().await;
                self.close_storage().await;
                return;
            }
        };
        info!(torrent = %self.meta.info.name, have = have.count(), pieces = have.len(), "data checked");
        if have.count() < have.len() {
            // Something to download: a read-only place is an error now, not at the first piece.
            let storage = self.storage.clone();
            let writable = tokio::task::spawn_blocking(move || storage.check_writable()).await;
            if let Ok(Err(e)) = writable {
                let msg = error_chain(&TorrentError::NotWritable(e));
                warn!(error = %msg, "torrent stopped by an error");
                check::publish_unchecked(&self.stats_tx, size, TorrentState::Error, Some(msg));
                self.cancel.cancelled().await;
                self.close_storage().await;
                return;
            }
        }
        let (events_tx, events_rx) = mpsc::channel(1024);
        let shared = Arc::new(TorrentShared::new(
            self.ctx,
            self.meta.info.clone(),
            // Shared with the metainfo and released with it: 20 bytes per piece of a torrent's
            // memory, loaded again only while a magnet peer asks for it.
            self.meta.info_bytes.clone(),
            self.storage,
            have,
            &self.opts,
            events_tx,
        ));
        let _ = self.slot.set(shared.clone());
        let web = crate::webseed::WebSeeds::new(
            self.meta.url_list.iter().chain(&self.opts.extra_web_seeds),
        );
        task::TorrentTask::new(task::TaskParts {
            meta: self.meta,
            shared,
            cmd_rx: self.cmd_rx,
            events_rx,
            stats_tx: self.stats_tx,
            cancel: self.cancel,
            tasks: self.tasks,
            web,
        })
        .run()
        .await;
    }

    async fn close_storage(&self) {
        let storage = self.storage.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let r = storage.sync();
            storage.close();
            r
        })
        .await;
    }
}

impl TorrentHandle {
    /// The torrent's info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.meta.info_hash
    }

    /// The torrent's metadata.
    pub fn metainfo(&self) -> &Arc<Metainfo> {
        &self.meta
    }

    /// The directory its files live under.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The latest stats snapshot.
    pub fn stats(&self) -> TorrentStats {
        self.stats.borrow().clone()
    }

    /// A receiver that sees every stats update.
    pub fn subscribe(&self) -> watch::Receiver<TorrentStats> {
        self.stats.clone()
    }

    /// The pieces verified present right now (none while the data is being checked).
    pub fn have(&self) -> Bitfield {
        match self.shared.get() {
            Some(s) => s.have(),
            None => Bitfield::new(self.meta.info.piece_count()),
        }
    }

    /// Total payload bytes (uploaded, downloaded) since the torrent started.
    pub fn transferred(&self) -> (u64, u64) {
        self.shared.get().map_or((0, 0), |s| s.transferred())
    }

    /// What to save as resume data. The bitfield is taken before the files are synced, so every
    /// piece it names is on disk when the snapshot returns; then the file stats, which a later
    /// start compares against. Blocks on the fsync: call it from a blocking thread.
    pub fn resume_snapshot(&self) -> Result<ResumeSnapshot, storage::Error> {
        let have = self.have();
        self.storage.sync()?;
        let files = self.storage.file_stats();
        let (uploaded, downloaded) = self.transferred();
        Ok(ResumeSnapshot {
            have,
            files,
            uploaded,
            downloaded,
        })
    }

    /// Changes this torrent's rate limits (bytes/s, 0 = unlimited).
    pub async fn set_rate_limits(&self, upload: u64, download: u64) {
        let _ = self
            .cmd
            .send(Command::SetRateLimits { upload, download })
            .await;
    }

    /// Offers peer addresses to connect to (besides those the trackers give).
    pub async fn add_peers(&self, addrs: Vec<SocketAddr>) {
        let _ = self.cmd.send(Command::AddPeers(addrs)).await;
    }

    /// True once the torrent's task has ended.
    pub fn is_finished(&self) -> bool {
        *self.finished.borrow()
    }

    /// Stops the torrent: peers are dropped, `stopped` is announced, files are synced. Returns
    /// when all of that is done.
    pub async fn stop(&self) {
        self.cancel.cancel();
        let mut f = self.finished.clone();
        let _ = f.wait_for(|done| *done).await;
    }

    pub(crate) async fn deliver_incoming(&self, inc: Incoming) {
        let _ = self.cmd.send(Command::Incoming(inc)).await;
    }
}
