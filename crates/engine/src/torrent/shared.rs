//! What a torrent's peer tasks share: immutable torrent data plus the picker, the read cache
//! and counters. Locks here are std mutexes held for microseconds and never across `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use metainfo::{Bitfield, Info};
use storage::Storage;
use tokio::sync::{mpsc, watch};
use tokio_util::task::TaskTracker;

use super::event::Event;
use super::hash_fetch::HashFetch;
use crate::ctx::{AddOptions, SessionCtx};
use crate::picker::Picker;
use crate::ratelimit::RateLimiter;
use crate::read_cache::TorrentCache;

/// Torrent state shared with peer tasks.
#[derive(Debug)]
pub(crate) struct TorrentShared {
    pub ctx: Arc<SessionCtx>,
    pub info: Arc<Info>,
    /// The raw info dictionary, served to peers that start from a magnet link (BEP 9); read
    /// from the `.torrent` again while one asks, when the torrent came from a file.
    pub metadata: metainfo::InfoBytes,
    pub storage: Arc<Storage>,
    picker: Mutex<Picker>,
    pub cache: TorrentCache,
    pub up: RateLimiter,
    pub down: RateLimiter,
    pub uploaded: AtomicU64,
    pub downloaded: AtomicU64,
    pub events: mpsc::Sender<Event>,
    /// Verify-and-write jobs, awaited at shutdown so no verified piece is lost.
    pub jobs: TaskTracker,
    /// The piece layers a v2-only torrent still lacks, asked of peers (`None` when it lacks
    /// none).
    pub hash_fetch: Option<Mutex<HashFetch>>,
    /// Serialises piece writes of this torrent (see `verify::spawn`).
    pub(super) write_lock: Mutex<()>,
    /// Bumped whenever a piece buffer is freed (a piece verified and written, or dropped): peers
    /// that ran out of requests for want of buffer space wait on it instead of a timer.
    space: watch::Sender<u64>,
}

impl TorrentShared {
    /// The shared state of a torrent whose data check found `have`.
    pub(crate) fn new(
        ctx: Arc<SessionCtx>,
        info: Arc<Info>,
        metadata: metainfo::InfoBytes,
        storage: Arc<Storage>,
        have: Bitfield,
        opts: &AddOptions,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let mut picker = Picker::new(&info, have, fastrand::Rng::new());
        picker.set_buffer_budget(ctx.cfg.piece_buffer_bytes);
        let hash_fetch = HashFetch::new(&info).map(Mutex::new);
        Self {
            hash_fetch,
            info,
            metadata,
            storage,
            picker: Mutex::new(picker),
            cache: ctx.read_cache.for_torrent(),
            up: RateLimiter::new(opts.max_upload_rate),
            down: RateLimiter::new(opts.max_download_rate),
            uploaded: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
            events,
            jobs: TaskTracker::new(),
            write_lock: Mutex::new(()),
            space: watch::Sender::new(0),
            ctx,
        }
    }

    /// Locks the picker. Never hold the guard across an `.await`.
    pub(crate) fn picker(&self) -> MutexGuard<'_, Picker> {
        // A panic while holding the lock is a bug; the data is still consistent enough to go on.
        self.picker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the verdict on a complete piece in the picker, takes its buffer back, and wakes
    /// the peers waiting for buffer space. Called by the verify job itself, so the budget frees
    /// the moment the write returns, not when the torrent task gets round to the verdict.
    pub(crate) fn piece_done(&self, index: u32, ok: bool, buffer: Vec<u8>) {
        {
            let mut p = self.picker();
            p.piece_done(index, ok);
            p.recycle(buffer);
        }
        self.space.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Locks the piece-layer fetch, when there is one. Never hold the guard across an `.await`.
    pub(crate) fn hash_fetch(&self) -> Option<MutexGuard<'_, HashFetch>> {
        let m = self.hash_fetch.as_ref()?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// File `v2_index`'s piece layer came from peers (proved to its root): it is set on the
    /// torrent, the file's pieces can be picked, and peers waiting for something to request
    /// are woken. False when the layer does not fit the file (a bug: it was proved).
    pub(crate) fn layer_learnt(
        &self,
        v2_index: usize,
        layer: Vec<metainfo::merkle::Hash256>,
    ) -> bool {
        let Some(f) = self.info.v2.as_ref().and_then(|v2| v2.files.get(v2_index)) else {
            return false;
        };
        if !f.learn_layer(layer, self.info.piece_length) {
            return false;
        }
        self.picker().hashes_known(f.first_piece, f.pieces);
        self.space.send_modify(|n| *n = n.wrapping_add(1));
        true
    }

    /// A receiver that changes whenever piece buffer space frees (see [`Self::piece_done`]).
    pub(crate) fn space_freed(&self) -> watch::Receiver<u64> {
        self.space.subscribe()
    }

    pub(crate) fn have(&self) -> Bitfield {
        self.picker().have()
    }

    pub(crate) fn transferred(&self) -> (u64, u64) {
        (
            self.uploaded.load(Ordering::Relaxed),
            self.downloaded.load(Ordering::Relaxed),
        )
    }
}
