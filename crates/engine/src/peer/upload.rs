//! The uploading side of a peer: its requests, served from the read cache or a blocking disk
//! read (one at a time per peer, within the session's bound on disk reads), within the choke
//! decision and two byte budgets.
//!
//! A request costs 16 bytes while it waits; it becomes a block (its bytes copied out of the
//! cached piece, so a queued block pins only itself, never its whole piece) only while the
//! blocks this connection has queued stay under `peer_upload_buffer` and the process-wide
//! budget (shared with the read caches) has room. A peer that stops reading therefore holds
//! at most its own buffer, and the writer wakes us when it took some.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use wire::{BlockRequest, Message};

use super::{MAX_PENDING_UPLOADS, Peer};
use crate::budget::ByteBudget;
use crate::error::{PeerError, TorrentError};
use crate::torrent::Event;

/// Pieces queued behind the one being read that get a read-ahead hint.
const READ_AHEAD_PIECES: usize = 4;

/// What a disk read hands back: the piece, and the result.
type ReadDone = (u32, Result<Bytes, storage::Error>);

/// The requests of one peer waiting to be served, and what is under way for them.
#[derive(Debug)]
pub(super) struct Uploads {
    /// Accepted requests, in the order they came.
    queue: VecDeque<BlockRequest>,
    /// The disk read under way (its piece and the bytes taken from the budget for it).
    reading: Option<(u32, usize)>,
    /// Bytes of blocks handed to the writer and not yet written (the writer subtracts).
    pub(super) queued: Arc<AtomicUsize>,
    /// Notified by the writer when it took blocks.
    pub(super) wake: Arc<Notify>,
    /// The disk read under way.
    pub(super) reads: JoinSet<Result<ReadDone, tokio::task::JoinError>>,
    budget: Arc<ByteBudget>,
}

impl Drop for Uploads {
    fn drop(&mut self) {
        if let Some((_, taken)) = self.reading.take() {
            self.budget.release(taken);
        }
    }
}

impl Uploads {
    pub(super) fn new(budget: Arc<ByteBudget>) -> Self {
        Self {
            budget,
            queue: VecDeque::new(),
            reading: None,
            queued: Arc::new(AtomicUsize::new(0)),
            wake: Arc::new(Notify::new()),
            reads: JoinSet::new(),
        }
    }

    /// Whether requests wait to be served.
    pub(super) fn waiting(&self) -> bool {
        !self.queue.is_empty()
    }
}

impl Peer {
    /// The peer no longer wants this block.
    pub(super) fn on_cancel(&mut self, r: BlockRequest) {
        self.uploads.queue.retain(|x| *x != r);
    }

    /// We choke the peer: its waiting requests are dropped (rejected under the fast
    /// extension).
    pub(super) fn drop_uploads(&mut self) -> Result<(), PeerError> {
        let dropped: Vec<BlockRequest> = self.uploads.queue.drain(..).collect();
        if self.fast {
            for r in dropped {
                self.send(Message::RejectRequest(r))?;
            }
        }
        Ok(())
    }

    pub(super) fn on_request(&mut self, r: BlockRequest) -> Result<(), PeerError> {
        if !r.is_valid_for(&self.shared.info) {
            return Err(PeerError::InvalidRequest(r));
        }
        let have = self.shared.picker().has(r.index);
        if self.am_choking || !have {
            if self.fast {
                self.send(Message::RejectRequest(r))?;
            }
            return Ok(());
        }
        if self.uploads.queue.len() >= MAX_PENDING_UPLOADS {
            return Err(PeerError::TooManyRequests);
        }
        self.uploads.queue.push_back(r);
        self.pump_uploads(None)
    }

    /// Turns waiting requests into blocks while the budgets allow, in order; starts the disk
    /// read the first one needs. `just_read` is a piece the read cache may not have kept.
    pub(super) fn pump_uploads(
        &mut self,
        just_read: Option<(u32, &Bytes)>,
    ) -> Result<(), PeerError> {
        let limit = self.shared.ctx.cfg.peer_upload_buffer;
        while let Some(&r) = self.uploads.queue.front() {
            if self.am_choking || self.uploads.queued.load(Ordering::Relaxed) >= limit {
                break;
            }
            let piece = match just_read {
                Some((i, data)) if i == r.index => Some(data.clone()),
                _ => self.shared.cache.get(r.index),
            };
            let Some(piece) = piece else {
                self.start_read(r.index);
                break;
            };
            let len = r.length as usize;
            if !self.shared.ctx.upload_budget.try_take(len) {
                break; // the tick tries again
            }
            self.uploads.queue.pop_front();
            self.serve(&piece, r, len)?;
        }
        Ok(())
    }

    fn start_read(&mut self, index: u32) {
        if self.uploads.reading.is_some() {
            return;
        }
        let len = self.shared.info.piece_len(index) as usize;
        if !self.shared.ctx.upload_budget.try_take(len) {
            return; // the tick tries again
        }
        self.uploads.reading = Some((index, len));
        // The next pieces asked for get a read-ahead hint, so the disk works on them meanwhile.
        let mut ahead: Vec<u32> = Vec::new();
        for r in &self.uploads.queue {
            if r.index != index && !ahead.contains(&r.index) {
                ahead.push(r.index);
                if ahead.len() == READ_AHEAD_PIECES {
                    break;
                }
            }
        }
        let shared = self.shared.clone();
        let limit = shared.ctx.read_limit.clone();
        self.uploads.reads.spawn(async move {
            // The semaphore is never closed; without a permit the read simply goes ahead.
            let _permit = limit.acquire_owned().await;
            tokio::task::spawn_blocking(move || {
                for piece in ahead {
                    shared.storage.advise_willneed(piece);
                }
                let mut buf = vec![0u8; len];
                let res = shared
                    .storage
                    .read(index, 0, &mut buf)
                    .map(|()| Bytes::from(buf));
                (index, res)
            })
            .await
        });
    }

    /// Queues one block, copied out of `piece`; `len` bytes of the budget were taken for it.
    fn serve(&mut self, piece: &Bytes, r: BlockRequest, len: usize) -> Result<(), PeerError> {
        let start = r.begin as usize;
        let end = start + len;
        let Some(block) = piece.get(start..end) else {
            self.shared.ctx.upload_budget.release(len);
            return Err(PeerError::RequestBeyondPiece(r));
        };
        self.uploads.queued.fetch_add(len, Ordering::Relaxed);
        let sent = self.send(Message::Piece {
            index: r.index,
            begin: r.begin,
            data: Bytes::copy_from_slice(block),
        });
        if sent.is_err() {
            self.uploads.queued.fetch_sub(len, Ordering::Relaxed);
            self.shared.ctx.upload_budget.release(len);
        }
        sent
    }

    pub(super) fn on_read(
        &mut self,
        piece: u32,
        result: Result<Bytes, storage::Error>,
    ) -> Result<(), PeerError> {
        if let Some((_, taken)) = self.uploads.reading.take() {
            self.shared.ctx.upload_budget.release(taken);
        }
        match result {
            Ok(data) => {
                self.shared.cache.insert(piece, data.clone());
                self.pump_uploads(Some((piece, &data)))
            }
            Err(e) => {
                let _ = self
                    .shared
                    .events
                    .try_send(Event::ReadFailed(TorrentError::Read {
                        index: piece,
                        source: e,
                    }));
                let failed: Vec<BlockRequest> = self
                    .uploads
                    .queue
                    .iter()
                    .filter(|r| r.index == piece)
                    .copied()
                    .collect();
                self.uploads.queue.retain(|r| r.index != piece);
                if self.fast {
                    for r in failed {
                        self.send(Message::RejectRequest(r))?;
                    }
                }
                self.pump_uploads(None)
            }
        }
    }
}
