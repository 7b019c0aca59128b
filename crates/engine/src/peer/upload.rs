//! The uploading side of a peer: its requests, served from the read cache or a blocking disk
//! read (one per piece, shared by the requests waiting for it), within the choke decision.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use wire::{BlockRequest, Message};

use super::{MAX_PENDING_UPLOADS, Peer};

/// Whole-piece disk reads one peer has in flight at once; further pieces wait in its queue.
const MAX_READS_PER_PEER: usize = 4;
use crate::error::{PeerError, TorrentError};
use crate::torrent::Event;

impl Peer {
    /// The peer no longer wants this block.
    pub(super) fn on_cancel(&mut self, r: BlockRequest) {
        if let Some(v) = self.waiting_reads.get_mut(&r.index) {
            v.retain(|x| *x != r);
        }
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
        let pending = self.queued.load(Ordering::Relaxed)
            + self.waiting_reads.values().map(Vec::len).sum::<usize>();
        if pending >= MAX_PENDING_UPLOADS {
            return Err(PeerError::TooManyRequests);
        }
        if let Some(piece) = self.shared.cache.get(r.index) {
            return self.serve(&piece, r);
        }
        match self.waiting_reads.get_mut(&r.index) {
            Some(v) => v.push(r),
            None => {
                self.waiting_reads.insert(r.index, vec![r]);
                if self.reads.len() < MAX_READS_PER_PEER {
                    self.start_read(r.index);
                } else {
                    self.read_queue.push_back(r.index);
                }
            }
        }
        Ok(())
    }

    /// Reads piece `index` whole on the blocking pool, within the session's bound on disk reads.
    /// The pieces queued behind it get a read-ahead hint first, so the disk works on them while
    /// they wait for their turn.
    fn start_read(&mut self, index: u32) {
        let ahead: Vec<u32> = self
            .read_queue
            .iter()
            .take(MAX_READS_PER_PEER)
            .copied()
            .collect();
        let shared = self.shared.clone();
        let limit = shared.ctx.read_limit.clone();
        self.reads.spawn(async move {
            // The semaphore is never closed; without a permit the read simply goes ahead.
            let _permit = limit.acquire_owned().await;
            tokio::task::spawn_blocking(move || {
                for piece in ahead {
                    shared.storage.advise_willneed(piece);
                }
                let len = shared.info.piece_len(index) as usize;
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

    /// A read finished: starts the next queued one still wanted (served from the cache when
    /// another peer read it meanwhile).
    fn next_read(&mut self) -> Result<(), PeerError> {
        while self.reads.len() < MAX_READS_PER_PEER {
            let Some(index) = self.read_queue.pop_front() else {
                return Ok(());
            };
            if self.waiting_reads.get(&index).is_none_or(|v| v.is_empty()) {
                self.waiting_reads.remove(&index);
                continue;
            }
            if let Some(piece) = self.shared.cache.get(index) {
                for r in self.waiting_reads.remove(&index).unwrap_or_default() {
                    self.serve(&piece, r)?;
                }
                continue;
            }
            self.start_read(index);
        }
        Ok(())
    }

    pub(super) fn serve(&mut self, piece: &Bytes, r: BlockRequest) -> Result<(), PeerError> {
        let start = r.begin as usize;
        let end = start + r.length as usize;
        if end > piece.len() {
            return Err(PeerError::RequestBeyondPiece(r));
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.send(Message::Piece {
            index: r.index,
            begin: r.begin,
            data: piece.slice(start..end),
        })
    }

    pub(super) fn on_read(
        &mut self,
        piece: u32,
        result: Result<Bytes, storage::Error>,
    ) -> Result<(), PeerError> {
        let waiting = self.waiting_reads.remove(&piece).unwrap_or_default();
        self.next_read()?;
        match result {
            Ok(data) => {
                self.shared.cache.insert(piece, data.clone());
                if self.am_choking {
                    return Ok(());
                }
                for r in waiting {
                    self.serve(&data, r)?;
                }
            }
            Err(e) => {
                let _ = self
                    .shared
                    .events
                    .try_send(Event::ReadFailed(TorrentError::Read {
                        index: piece,
                        source: e,
                    }));
                if self.fast {
                    for r in waiting {
                        self.send(Message::RejectRequest(r))?;
                    }
                }
            }
        }
        Ok(())
    }
}
