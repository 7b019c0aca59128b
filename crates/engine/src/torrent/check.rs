//! The first phase of a torrent: find out which pieces are on disk, from trusted resume data or
//! by hashing the files (one check slot at a time), publishing the progress. The swarm starts
//! only after it, with a picker built from its answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use metainfo::Bitfield;
use storage::Storage;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::ctx::{AddOptions, SessionCtx};
use crate::error::TorrentError;
use crate::stats::{TorrentState, TorrentStats};

/// The pieces present, `Ok(None)` when cancelled first.
pub(super) async fn run(
    ctx: &SessionCtx,
    storage: &Arc<Storage>,
    opts: &mut AddOptions,
    cancel: &CancellationToken,
    stats_tx: &watch::Sender<TorrentStats>,
) -> Result<Option<Bitfield>, TorrentError> {
    let piece_count = storage.info().piece_count();
    if let Some(have) = opts.have.take() {
        if have.len() == piece_count {
            return Ok(Some(have));
        }
        warn!("resume data does not fit this torrent, checking the data");
    }
    stats_tx.send_if_modified(|s| {
        let before = s.state;
        s.state = TorrentState::Checking;
        before != s.state
    });
    let limit = opts
        .check_limit
        .clone()
        .unwrap_or_else(|| ctx.check_limit.clone());
    let permit = tokio::select! {
        _ = cancel.cancelled() => return Ok(None),
        p = limit.acquire_owned() => match p {
            Ok(p) => p,
            Err(_) => return Ok(None),
        },
    };
    let storage = storage.clone();
    let threads = ctx.cfg.check_threads;
    let abort = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU32::new(0));
    let (a, d) = (abort.clone(), done.clone());
    let mut job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        storage.check(threads, &|n| d.store(n, Ordering::Relaxed), &a)
    });
    let total = piece_count.max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                abort.store(true, Ordering::Relaxed);
                let _ = job.await;
                return Ok(None);
            }
            r = &mut job => {
                return match r {
                    Ok(Ok(have)) => Ok(Some(have)),
                    Ok(Err(e)) => Err(TorrentError::Check(e)),
                    Err(e) => Err(TorrentError::CheckTask(e)),
                };
            }
            _ = tick.tick() => {
                let p = f64::from(done.load(Ordering::Relaxed)) / f64::from(total);
                stats_tx.send_modify(|s| s.progress = p.min(1.0));
            }
        }
    }
}

/// Publishes the stats of a torrent that ends before its swarm started: nothing verified yet.
pub(super) fn publish_unchecked(
    stats_tx: &watch::Sender<TorrentStats>,
    size: u64,
    state: TorrentState,
    error: Option<String>,
) {
    stats_tx.send_if_modified(|s| {
        let before = s.clone();
        s.state = state;
        s.progress = if size == 0 { 1.0 } else { 0.0 };
        s.have_bytes = 0;
        s.pieces_have = 0;
        s.error = error;
        *s != before
    });
}
