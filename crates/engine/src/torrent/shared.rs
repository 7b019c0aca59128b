//! What a torrent's peer tasks share: immutable torrent data plus the picker, the read cache
//! and counters. Locks here are std mutexes held for microseconds and never across `.await`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use metainfo::{Bitfield, Info, Metainfo};
use storage::Storage;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use wire::BlockRequest;

use crate::error::{PeerError, TorrentError};
use crate::picker::{CompletePiece, PeerKey, Picker};
use crate::ratelimit::RateLimiter;
use crate::read_cache::ReadCache;
use crate::session::{AddOptions, SessionCtx};

/// Events from peer tasks (and verify jobs) to the torrent task.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// A handshake completed; the torrent decides whether to keep the connection.
    Ready(super::task::Ready),
    /// Dialing an address failed.
    ConnectFailed(SocketAddr),
    /// The peer became interested or not interested.
    InterestChanged(PeerKey),
    /// The connection ended.
    /// `None`: we stopped it.
    Closed {
        key: PeerKey,
        reason: Option<PeerError>,
    },
    /// A complete piece was hashed (and written when good).
    PieceVerified {
        index: u32,
        result: Result<bool, TorrentError>,
        contributors: Vec<PeerKey>,
        buffer: Vec<u8>,
    },
    /// A block requested from several peers (endgame) arrived: cancel it elsewhere.
    CancelElsewhere { from: PeerKey, req: BlockRequest },
    /// Reading data for an upload failed.
    ReadFailed(TorrentError),
    /// The peer's extension handshake: its listen port and whether it speaks `ut_pex`.
    Extensions {
        key: PeerKey,
        listen_port: Option<u16>,
        pex: bool,
    },
    /// Addresses a peer told us about (BEP 11).
    Pex(Vec<SocketAddr>),
}

/// Torrent state shared with peer tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub ctx: Arc<SessionCtx>,
    pub info: Arc<Info>,
    pub storage: Arc<Storage>,
    picker: Mutex<Picker>,
    pub cache: ReadCache,
    pub up: RateLimiter,
    pub down: RateLimiter,
    pub uploaded: AtomicU64,
    pub downloaded: AtomicU64,
    pub wasted: AtomicU64,
    pub events: mpsc::Sender<PeerEvent>,
    /// Verify-and-write jobs, awaited at shutdown so no verified piece is lost.
    pub jobs: TaskTracker,
    /// Serialises piece writes of this torrent (see `spawn_verify`).
    write_lock: Mutex<()>,
}

impl Shared {
    pub(crate) fn new(
        ctx: Arc<SessionCtx>,
        meta: &Metainfo,
        data_dir: &Path,
        opts: &AddOptions,
        events: mpsc::Sender<PeerEvent>,
    ) -> Self {
        let info = Arc::new(meta.info.clone());
        let storage = Arc::new(Storage::new(
            info.clone(),
            data_dir.to_path_buf(),
            ctx.files.clone(),
        ));
        let picker = Picker::new(
            &info,
            Bitfield::new(info.piece_count()),
            fastrand::Rng::new(),
        );
        let cache_bytes = (8usize << 20).max(2 * info.piece_length as usize);
        Self {
            info,
            storage,
            picker: Mutex::new(picker),
            cache: ReadCache::new(cache_bytes),
            up: RateLimiter::new(opts.max_upload_rate),
            down: RateLimiter::new(opts.max_download_rate),
            uploaded: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
            wasted: AtomicU64::new(0),
            events,
            jobs: TaskTracker::new(),
            write_lock: Mutex::new(()),
            ctx,
        }
    }

    /// Locks the picker. Never hold the guard across an `.await`.
    pub(crate) fn picker(&self) -> MutexGuard<'_, Picker> {
        // A panic while holding the lock is a bug; the data is still consistent enough to go on.
        self.picker.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn replace_picker(&self, picker: Picker) {
        *self.picker() = picker;
    }

    pub(crate) fn have(&self) -> Bitfield {
        self.picker().have().clone()
    }

    pub(crate) fn transferred(&self) -> (u64, u64) {
        (
            self.uploaded.load(Ordering::Relaxed),
            self.downloaded.load(Ordering::Relaxed),
        )
    }

    /// Hashes a complete piece and writes it when good, off the runtime, bounded by the
    /// session's verify limit; the verdict goes to the torrent task.
    pub(crate) fn spawn_verify(self: &Arc<Self>, piece: CompletePiece) {
        let shared = self.clone();
        self.jobs.spawn(async move {
            let permit = shared.ctx.verify_limit.clone().acquire_owned().await;
            let CompletePiece {
                index,
                data,
                contributors,
                ..
            } = piece;
            let s = shared.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                if !storage::piece_hash_matches(&s.info, index, &data) {
                    return (Ok(false), data);
                }
                // One writer at a time: concurrent buffered writes to one file spin on the
                // inode lock in the kernel and burn CPU without going faster.
                let _guard = s.write_lock.lock();
                let r = s
                    .storage
                    .write_piece(index, &data)
                    .map(|()| true)
                    .map_err(|source| TorrentError::Write { index, source });
                (r, data)
            })
            .await;
            let (result, buffer) = joined.unwrap_or_else(|source| {
                (Err(TorrentError::VerifyTask { index, source }), Vec::new())
            });
            let _ = shared
                .events
                .send(PeerEvent::PieceVerified {
                    index,
                    result,
                    contributors,
                    buffer,
                })
                .await;
        });
    }
}
