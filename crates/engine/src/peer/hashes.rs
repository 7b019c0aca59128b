//! BEP 52 hashes, both ways: answering a peer's `hash request` from the piece layers we hold,
//! and asking v2 peers for the layers a v2-only torrent lacks (see `torrent::hash_fetch`).

use bytes::Bytes;
use wire::{HashRequest, Message};

use super::{HASH_WORK_BUDGET, MAX_HASH_REQUESTS, Peer};
use crate::error::PeerError;
use crate::torrent::hash_fetch::Hashes;

/// `hash request`s in flight to one peer (libtorrent keeps two).
const MAX_HASH_ASKS: u32 = 2;

impl Peer {
    /// Asks this peer for missing piece layers it can give: it speaks v2, has pieces of the
    /// file, and did not refuse us before.
    pub(super) fn ask_hashes(&mut self) -> Result<(), PeerError> {
        if !self.v2 || self.hashes_refused {
            return Ok(());
        }
        while self.hash_asks < MAX_HASH_ASKS {
            let now = std::time::Instant::now();
            let Some(q) = self
                .shared
                .hash_fetch()
                .and_then(|mut f| f.pick(self.key, &self.has, now))
            else {
                break;
            };
            tracing::debug!(index = q.index, length = q.length, "asking for hashes");
            self.hash_asks += 1;
            self.send(Message::HashRequest(q))?;
        }
        Ok(())
    }

    /// The peer's `hashes`: stored when proved; a file's completed layer lets its pieces be
    /// picked. Hashes that do not prove to the file's root end the connection.
    pub(super) fn on_hashes(&mut self, req: HashRequest, hashes: &[u8]) -> Result<(), PeerError> {
        self.hash_asks = self.hash_asks.saturating_sub(1);
        let outcome = self
            .shared
            .hash_fetch()
            .map(|mut f| (f.on_hashes(&req, hashes), f.is_done()));
        let (outcome, all_in) = match outcome {
            Some((o, done)) => (Some(o), done),
            None => (None, false),
        };
        match outcome {
            Some(Hashes::FileDone { v2_index, layer }) => {
                let pieces = layer.len();
                if self.shared.layer_learnt(v2_index, layer) {
                    tracing::debug!(file = v2_index, pieces, "piece layer received");
                }
                if all_in {
                    tracing::info!(torrent = %self.shared.info.name, "all piece layers received");
                }
                self.fill_requests()?;
            }
            Some(Hashes::Bad) => {
                if let Some(mut f) = self.shared.hash_fetch() {
                    f.release(self.key, Some(&req));
                }
                return Err(PeerError::BadHashes);
            }
            Some(Hashes::Stored | Hashes::Unasked) | None => {}
        }
        self.ask_hashes()
    }

    /// The peer will not give these hashes: someone else may, and it is not asked again.
    pub(super) fn on_hash_reject(&mut self, req: HashRequest) -> Result<(), PeerError> {
        self.hash_asks = self.hash_asks.saturating_sub(1);
        self.hashes_refused = true;
        if let Some(mut f) = self.shared.hash_fetch() {
            f.release(self.key, Some(&req));
        }
        Ok(())
    }

    /// Answers a `hash request` from the piece layers we hold, or rejects it.
    pub(super) fn on_hash_request(&mut self, r: HashRequest) -> Result<(), PeerError> {
        let info = &self.shared.info;
        // Uncles above the requested span cost up to the whole layer; the span itself its length.
        let layer_len = info
            .v2
            .as_ref()
            .and_then(|v2| v2.file_by_root(&r.pieces_root))
            .and_then(|f| f.layer())
            .map_or(0, |l| l.len() as u64);
        let cost = if r.proof_layers >= r.length.trailing_zeros() {
            layer_len.saturating_mul(2)
        } else {
            u64::from(r.length)
        };
        let affordable = self.hashes_served < MAX_HASH_REQUESTS
            && self.hash_work.saturating_add(cost) <= HASH_WORK_BUDGET;
        let answer = info.v2.as_ref().filter(|_| affordable);
        let hashes = answer.and_then(|v2| {
            v2.hashes_for(
                info.piece_length,
                &r.pieces_root,
                r.base_layer,
                r.index,
                r.length,
                r.proof_layers,
            )
        });
        tracing::debug!(
            base = r.base_layer,
            index = r.index,
            length = r.length,
            proof = r.proof_layers,
            answered = hashes.is_some(),
            "hash request"
        );
        match hashes {
            Some(h) => {
                self.hashes_served += 1;
                self.hash_work = self.hash_work.saturating_add(cost);
                self.send(Message::Hashes {
                    request: r,
                    hashes: Bytes::from(h.concat()),
                })
            }
            None => self.send(Message::HashReject(r)),
        }
    }
}
