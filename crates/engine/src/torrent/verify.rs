//! Piece verification: a complete piece is hashed off the runtime (bounded by the session's
//! verify limit), written when good, and its buffer goes back to the picker at once, which
//! wakes the peers waiting for buffer space. The verdict then goes to the torrent task as
//! [`Event::PieceVerified`] (have broadcast, strikes, completion). A piece counts as `Have` only
//! after its hash matched and the write returned.

use std::sync::Arc;

use super::event::Event;
use super::shared::TorrentShared;
use crate::error::TorrentError;
use crate::picker::CompletePiece;
use crate::spawn::spawn_in;

/// Hashes `piece` and writes it when good, as one of the torrent's jobs (awaited at shutdown so
/// no verified piece is lost).
pub(crate) fn spawn(shared: &Arc<TorrentShared>, piece: CompletePiece) {
    let jobs = shared.jobs.clone();
    let shared = shared.clone();
    spawn_in(&jobs, "verify", tracing::Span::current(), async move {
        let permit = shared.ctx.verify_limit.clone().acquire_owned().await;
        let CompletePiece {
            index,
            data,
            contributors,
            ..
        } = piece;
        let s = shared.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let matches = storage::piece_hash_matches(&s.info, index, &data);
            // The permit bounds hashing (CPU) only: another piece is hashed while this one
            // waits for the disk.
            drop(permit);
            if !matches {
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
        let (result, buffer) = joined
            .unwrap_or_else(|source| (Err(TorrentError::VerifyTask { index, source }), Vec::new()));
        shared.piece_done(index, matches!(result, Ok(true)), buffer);
        let _ = shared
            .events
            .send(Event::PieceVerified {
                index,
                result,
                contributors,
            })
            .await;
    });
}
