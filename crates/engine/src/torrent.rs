//! One torrent: its handle (what the session and the binary hold) and its task (the swarm).
//!
//! The torrent task is the single owner of the peer table, the choker and the connection
//! candidates. What peers need concurrently (the picker, the read cache, counters) lives in
//! [`Shared`] behind short, never-awaited locks.

mod shared;
mod task;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use metainfo::{Bitfield, InfoHash, Metainfo};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use shared::{PeerEvent, Shared};

use crate::session::{AddOptions, SessionCtx};
use crate::stats::TorrentStats;

/// An incoming connection whose handshake head named this torrent.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub reserved: [u8; 8],
    pub permit: OwnedSemaphorePermit,
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
    shared: Arc<Shared>,
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
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (stats_tx, stats) = watch::channel(TorrentStats {
        size: meta.info.total_length,
        pieces_total: meta.info.piece_count(),
        ..TorrentStats::default()
    });
    let (finished_tx, finished) = watch::channel(false);
    let shared = Arc::new(Shared::new(ctx.clone(), &meta, &data_dir, &opts, events_tx));
    let handle = TorrentHandle {
        meta: meta.clone(),
        data_dir: Arc::new(data_dir),
        cmd: cmd_tx,
        stats,
        finished,
        cancel: cancel.clone(),
        shared: shared.clone(),
    };
    let task = task::TorrentTask::new(ctx, meta, shared, opts, cmd_rx, events_rx, stats_tx, cancel);
    tasks.spawn(async move {
        task.run().await;
        finished_tx.send_replace(true);
    });
    handle
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

    /// The pieces verified present right now (for resume data).
    pub fn have(&self) -> Bitfield {
        self.shared.have()
    }

    /// The torrent's storage (for file sizes and mtimes in resume data, or a sync).
    pub fn storage(&self) -> Arc<storage::Storage> {
        self.shared.storage.clone()
    }

    /// Total payload bytes (uploaded, downloaded) since the torrent started.
    pub fn transferred(&self) -> (u64, u64) {
        self.shared.transferred()
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
