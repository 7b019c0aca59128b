//! The uploading side of a peer: its requests, served from the read cache or a blocking disk
//! read (one per piece, shared by the requests waiting for it), within the choke decision.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use wire::{BlockRequest, Message};

use super::{MAX_PENDING_UPLOADS, Peer};
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
        let have = self.shared.picker().have().get(r.index);
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
                let shared = self.shared.clone();
                self.reads.spawn_blocking(move || {
                    let len = shared.info.piece_len(r.index) as usize;
                    let mut buf = vec![0u8; len];
                    let res = shared
                        .storage
                        .read(r.index, 0, &mut buf)
                        .map(|()| Bytes::from(buf));
                    (r.index, res)
                });
            }
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
