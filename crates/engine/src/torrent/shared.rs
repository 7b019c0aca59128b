//! What a torrent's peer tasks share: immutable torrent data plus the picker, the read cache
//! and counters. Locks here are std mutexes held for microseconds and never across `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use metainfo::{Bitfield, Info};
use storage::Storage;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::event::Event;
use crate::ctx::{AddOptions, SessionCtx};
use crate::picker::Picker;
use crate::ratelimit::RateLimiter;
use crate::read_cache::ReadCache;

/// Torrent state shared with peer tasks.
#[derive(Debug)]
pub(crate) struct TorrentShared {
    pub ctx: Arc<SessionCtx>,
    pub info: Arc<Info>,
    /// The raw info dictionary, served to peers that start from a magnet link (BEP 9).
    pub metadata: bytes::Bytes,
    pub storage: Arc<Storage>,
    picker: Mutex<Picker>,
    pub cache: ReadCache,
    pub up: RateLimiter,
    pub down: RateLimiter,
    pub uploaded: AtomicU64,
    pub downloaded: AtomicU64,
    pub events: mpsc::Sender<Event>,
    /// Verify-and-write jobs, awaited at shutdown so no verified piece is lost.
    pub jobs: TaskTracker,
    /// Serialises piece writes of this torrent (see `verify::spawn`).
    pub(super) write_lock: Mutex<()>,
}

impl TorrentShared {
    /// The shared state of a torrent whose data check found `have`.
    pub(crate) fn new(
        ctx: Arc<SessionCtx>,
        info: Arc<Info>,
        metadata: bytes::Bytes,
        storage: Arc<Storage>,
        have: Bitfield,
        opts: &AddOptions,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let picker = Picker::new(&info, have, fastrand::Rng::new());
        let cache_bytes = (8usize << 20).max(2 * info.piece_length as usize);
        Self {
            info,
            metadata,
            storage,
            picker: Mutex::new(picker),
            cache: ReadCache::new(cache_bytes),
            up: RateLimiter::new(opts.max_upload_rate),
            down: RateLimiter::new(opts.max_download_rate),
            uploaded: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
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

    pub(crate) fn have(&self) -> Bitfield {
        self.picker().have().clone()
    }

    pub(crate) fn transferred(&self) -> (u64, u64) {
        (
            self.uploaded.load(Ordering::Relaxed),
            self.downloaded.load(Ordering::Relaxed),
        )
    }
}
