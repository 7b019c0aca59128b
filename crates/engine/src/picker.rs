//! The piece picker: which blocks to request from which peer, and the buffers of pieces being
//! downloaded.
//!
//! Pure state, no I/O and no async: the peer tasks call it under the torrent's picker mutex
//! (never across an `.await`). Policy: finish pieces already started first, then the rarest
//! piece the peer has (random tie-break; a random piece while we have fewer than
//! [`RANDOM_FIRST_PIECES`]), and in endgame (nothing left unrequested) request blocks already in
//! flight elsewhere, at most [`ENDGAME_DUPLICATES`] times each.

use std::collections::HashMap;

use metainfo::{BLOCK_SIZE, Bitfield, Info};
use wire::BlockRequest;

use crate::PeerKey;

/// While we have fewer pieces than this, new pieces are picked at random instead of rarest first,
/// so that we quickly have something to trade.
pub const RANDOM_FIRST_PIECES: u32 = 4;

/// In endgame a block may be requested from at most this many peers at once.
pub const ENDGAME_DUPLICATES: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceState {
    Missing,
    /// Missing, and its hash is not known yet (a v2 file without its piece layer): wanted, but
    /// not picked until the layer arrives ([`Picker::hashes_known`]).
    NoHash,
    Active,
    Verifying,
    Have,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Free,
    Requested(u8),
    Done,
}

/// A piece being downloaded: its buffer and which blocks are where.
#[derive(Debug)]
struct Active {
    buf: Vec<u8>,
    blocks: Vec<Block>,
    received: u32,
    free: u32,
    contributors: Vec<PeerKey>,
}

/// What became of a block a peer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Not requested or already received: wasted bytes.
    Ignored,
    /// Stored; `duplicate_requests` says other peers were also asked for it (endgame) and should
    /// be sent a cancel.
    Stored {
        /// Whether the block was requested from more than one peer.
        duplicate_requests: bool,
    },
    /// Stored, and it completed the piece: verify and write it.
    Complete(CompletePiece),
}

/// A fully received piece, to be hashed and written off the runtime.
#[derive(Debug, PartialEq, Eq)]
pub struct CompletePiece {
    /// The piece index.
    pub index: u32,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Every peer that sent at least one block of it (for banning on a hash failure).
    pub contributors: Vec<PeerKey>,
    /// Whether the last block was also requested from other peers.
    pub duplicate_requests: bool,
}

/// Piece selection state of one torrent.
///
/// A complete torrent keeps nothing per piece: its `have` is the `complete` flag, and the piece
/// states, availability and bitfield are dropped (see [`Self::shrink_if_complete`]).
#[derive(Debug)]
pub struct Picker {
    piece_count: u32,
    piece_length: u32,
    total_length: u64,
    /// Every piece is verified and written; the per-piece vectors below are empty.
    complete: bool,
    states: Vec<PieceState>,
    /// Empty once complete.
    have: Bitfield,
    /// Bytes of the pieces not in `have`, kept up to date by `piece_done`.
    left: u64,
    availability: Vec<u16>,
    active: HashMap<u32, Active>,
    /// Complete pieces handed out for hashing and writing, whose buffers are still alive.
    verifying: usize,
    max_active: usize,
    /// Piece buffers back from hashing, reused so the hot path neither zeroes nor faults in
    /// fresh memory. Emptied when the download completes.
    pool: Vec<Vec<u8>>,
    rng: fastrand::Rng,
}

impl Picker {
    /// A picker for `info`, starting from the pieces in `have`.
    pub fn new(info: &Info, have: Bitfield, rng: fastrand::Rng) -> Self {
        let n = info.piece_count();
        let mut states: Vec<PieceState> = (0..n)
            .map(|i| {
                if have.get(i) {
                    PieceState::Have
                } else {
                    PieceState::Missing
                }
            })
            .collect();
        let unhashed = info.v2.iter().filter(|_| !info.has_v1()).flat_map(|v2| {
            v2.files
                .iter()
                .filter(|f| f.needs_layer())
                .flat_map(|f| f.first_piece..f.first_piece.saturating_add(f.pieces))
        });
        for i in unhashed {
            if let Some(s @ PieceState::Missing) = states.get_mut(i as usize) {
                *s = PieceState::NoHash;
            }
        }
        // Keep at most ~32 MiB of piece buffers in flight (small enough to stay warm in the
        // caches between receiving, hashing and writing), and at least 8 pieces.
        let max_active = ((32 << 20) / info.piece_length.max(1) as usize).max(8);
        let mut picker = Self {
            piece_count: n,
            piece_length: info.piece_length,
            total_length: info.total_length,
            complete: false,
            states,
            left: (0..n)
                .filter(|&i| !have.get(i))
                .map(|i| u64::from(info.piece_len(i)))
                .sum(),
            have,
            availability: vec![0; n as usize],
            active: HashMap::new(),
            verifying: 0,
            max_active,
            pool: Vec::new(),
            rng,
        };
        picker.shrink_if_complete();
        picker
    }

    /// Once every piece is in, drops everything kept per piece: a seeding torrent costs the
    /// same whatever its size.
    fn shrink_if_complete(&mut self) {
        if self.complete || self.have.count() < self.piece_count {
            return;
        }
        self.complete = true;
        self.states = Vec::new();
        self.have = Bitfield::new(0);
        self.availability = Vec::new();
        self.active = HashMap::new();
        self.pool = Vec::new();
    }

    /// Bounds the piece buffers held (pieces being received, hashed and written) to about
    /// `bytes`, and at least one piece.
    pub fn set_buffer_budget(&mut self, bytes: usize) {
        let piece = self.piece_length.max(1) as usize;
        self.max_active = (bytes / piece).max(1);
    }

    /// Pieces we have (verified and written), as a new bitfield.
    pub fn have(&self) -> Bitfield {
        if self.complete {
            Bitfield::full(self.piece_count)
        } else {
            self.have.clone()
        }
    }

    /// Whether we have piece `i` (verified and written).
    pub fn has(&self, i: u32) -> bool {
        if self.complete {
            i < self.piece_count
        } else {
            self.have.get(i)
        }
    }

    /// Number of pieces we have.
    pub fn have_count(&self) -> u32 {
        if self.complete {
            self.piece_count
        } else {
            self.have.count()
        }
    }

    /// True when every piece is verified and written.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// True when we lack piece `i` and it is not being verified.
    pub fn wants(&self, i: u32) -> bool {
        matches!(
            self.states.get(i as usize),
            Some(PieceState::Missing | PieceState::NoHash | PieceState::Active)
        )
    }

    /// The hashes of pieces `first..first + count` are known now: they can be picked.
    pub fn hashes_known(&mut self, first: u32, count: u32) {
        let end = first.saturating_add(count).min(self.piece_count);
        for i in first..end {
            if let Some(s @ PieceState::NoHash) = self.states.get_mut(i as usize) {
                *s = PieceState::Missing;
            }
        }
    }

    /// Number of pieces a peer with `peer_has` has that we still want.
    pub fn wanted_from(&self, peer_has: &Bitfield) -> u32 {
        if self.complete {
            return 0;
        }
        peer_has.ones().filter(|&i| self.wants(i)).count() as u32
    }

    /// Bytes of the pieces we don't have yet.
    pub fn bytes_left(&self) -> u64 {
        self.left
    }

    fn piece_len(&self, i: u32) -> u32 {
        if i >= self.piece_count {
            return 0;
        }
        let start = u64::from(i) * u64::from(self.piece_length);
        self.total_length
            .saturating_sub(start)
            .min(u64::from(self.piece_length)) as u32
    }

    /// A peer joined with this bitfield.
    pub fn add_peer(&mut self, has: &Bitfield) {
        if self.complete {
            return;
        }
        for i in has.ones() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a = a.saturating_add(1);
            }
        }
    }

    /// A peer left (or its bitfield is being replaced).
    pub fn remove_peer(&mut self, has: &Bitfield) {
        if self.complete {
            return;
        }
        for i in has.ones() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a = a.saturating_sub(1);
            }
        }
    }

    /// A peer announced a new piece.
    pub fn peer_has(&mut self, i: u32) {
        if let Some(a) = self.availability.get_mut(i as usize) {
            *a = a.saturating_add(1);
        }
    }

    /// Appends up to `max` block requests for a peer that has `peer_has` to `out`, skipping
    /// blocks in `already` (what this peer has in flight, consulted only in endgame).
    pub fn pick(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        already: &dyn Fn(&BlockRequest) -> bool,
        out: &mut Vec<BlockRequest>,
    ) {
        if max == 0 || self.complete {
            return;
        }
        let start = out.len();
        // 1. Free blocks of pieces already in progress.
        let mut started: Vec<u32> = self
            .active
            .iter()
            .filter(|(i, a)| a.free > 0 && peer_has.get(**i))
            .map(|(i, _)| *i)
            .collect();
        started.sort_unstable();
        for i in started {
            self.take_free_blocks(i, max - (out.len() - start), out);
            if out.len() - start >= max {
                return;
            }
        }
        // 2. New pieces.
        while out.len() - start < max && self.active.len() + self.verifying < self.max_active {
            let Some(i) = self.choose_new_piece(peer_has) else {
                break;
            };
            self.start_piece(i);
            self.take_free_blocks(i, max - (out.len() - start), out);
        }
        if out.len() > start {
            return;
        }
        // 3. Endgame: nothing left unrequested that this peer could give us.
        if self.active.len() + self.verifying >= self.max_active
            || self.choose_new_piece(peer_has).is_none()
        {
            self.pick_endgame(peer_has, max, already, out);
        }
    }

    fn choose_new_piece(&mut self, peer_has: &Bitfield) -> Option<u32> {
        let n = self.states.len() as u32;
        if n == 0 {
            return None;
        }
        let offset = self.rng.u32(0..n);
        let random = self.have.count() < RANDOM_FIRST_PIECES;
        let mut best: Option<(u16, u32)> = None;
        for k in 0..n {
            let i = (offset + k) % n;
            if self.states[i as usize] != PieceState::Missing || !peer_has.get(i) {
                continue;
            }
            if random {
                return Some(i);
            }
            let avail = self.availability[i as usize];
            if best.is_none_or(|(b, _)| avail < b) {
                best = Some((avail, i));
                if avail <= 1 {
                    break;
                }
            }
        }
        best.map(|(_, i)| i)
    }

    fn start_piece(&mut self, i: u32) {
        let len = self.piece_len(i);
        let nblocks = len.div_ceil(BLOCK_SIZE);
        self.states[i as usize] = PieceState::Active;
        self.active.insert(
            i,
            Active {
                buf: match self.pool.pop() {
                    Some(b) if b.len() == len as usize => b,
                    _ => vec![0; len as usize],
                },
                blocks: vec![Block::Free; nblocks as usize],
                received: 0,
                free: nblocks,
                contributors: Vec::new(),
            },
        );
    }

    fn take_free_blocks(&mut self, i: u32, max: usize, out: &mut Vec<BlockRequest>) {
        let len = self.piece_len(i);
        let Some(a) = self.active.get_mut(&i) else {
            return;
        };
        let mut taken = 0;
        for (b, state) in a.blocks.iter_mut().enumerate() {
            if taken >= max || a.free == 0 {
                break;
            }
            if *state == Block::Free {
                *state = Block::Requested(1);
                a.free -= 1;
                taken += 1;
                out.push(block_request(i, b as u32, len));
            }
        }
    }

    fn pick_endgame(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        already: &dyn Fn(&BlockRequest) -> bool,
        out: &mut Vec<BlockRequest>,
    ) {
        let mut pieces: Vec<u32> = self
            .active
            .keys()
            .copied()
            .filter(|i| peer_has.get(*i))
            .collect();
        pieces.sort_unstable();
        let mut taken = 0;
        for i in pieces {
            let len = self.piece_len(i);
            let Some(a) = self.active.get_mut(&i) else {
                continue;
            };
            for (b, state) in a.blocks.iter_mut().enumerate() {
                if taken >= max {
                    return;
                }
                let req = block_request(i, b as u32, len);
                match *state {
                    Block::Requested(n) if n < ENDGAME_DUPLICATES && !already(&req) => {
                        *state = Block::Requested(n + 1);
                        out.push(req);
                        taken += 1;
                    }
                    Block::Free => {
                        *state = Block::Requested(1);
                        a.free -= 1;
                        out.push(req);
                        taken += 1;
                    }
                    _ => {}
                }
            }
        }
    }

    /// A request will not be answered (peer choked us, rejected it, timed out or left).
    pub fn release(&mut self, req: &BlockRequest) {
        let Some(a) = self.active.get_mut(&req.index) else {
            return;
        };
        let Some(state) = a.blocks.get_mut((req.begin / BLOCK_SIZE) as usize) else {
            return;
        };
        match *state {
            Block::Requested(1) => {
                *state = Block::Free;
                a.free += 1;
            }
            Block::Requested(n) => *state = Block::Requested(n - 1),
            _ => {}
        }
    }

    /// Stores a block a peer sent.
    pub fn on_block(&mut self, peer: PeerKey, index: u32, begin: u32, data: &[u8]) -> BlockOutcome {
        let len = self.piece_len(index);
        let Some(a) = self.active.get_mut(&index) else {
            return BlockOutcome::Ignored;
        };
        if !begin.is_multiple_of(BLOCK_SIZE) {
            return BlockOutcome::Ignored;
        }
        let b = (begin / BLOCK_SIZE) as usize;
        let expected = block_request(index, b as u32, len).length as usize;
        if data.len() != expected {
            return BlockOutcome::Ignored;
        }
        let Some(state) = a.blocks.get_mut(b) else {
            return BlockOutcome::Ignored;
        };
        let duplicate_requests = match *state {
            Block::Done => return BlockOutcome::Ignored,
            Block::Free => {
                a.free -= 1;
                false
            }
            Block::Requested(n) => n > 1,
        };
        *state = Block::Done;
        let start = begin as usize;
        let Some(dst) = a.buf.get_mut(start..start + data.len()) else {
            return BlockOutcome::Ignored;
        };
        dst.copy_from_slice(data);
        a.received += 1;
        if !a.contributors.contains(&peer) {
            a.contributors.push(peer);
        }
        if a.received as usize == a.blocks.len() {
            let Some(a) = self.active.remove(&index) else {
                return BlockOutcome::Ignored;
            };
            self.states[index as usize] = PieceState::Verifying;
            self.verifying += 1;
            return BlockOutcome::Complete(CompletePiece {
                index,
                data: a.buf,
                contributors: a.contributors,
                duplicate_requests,
            });
        }
        BlockOutcome::Stored { duplicate_requests }
    }

    /// The verdict on a complete piece: `true` = hash ok and written (we have it now); `false` =
    /// bad data or a write failure: it is downloaded again.
    pub fn piece_done(&mut self, index: u32, ok: bool) {
        let Some(state) = self.states.get_mut(index as usize) else {
            return;
        };
        if *state == PieceState::Verifying {
            self.verifying -= 1;
        }
        if ok {
            *state = PieceState::Have;
            if self.have.set(index) {
                self.left -= u64::from(self.piece_len(index));
            }
            self.shrink_if_complete();
        } else {
            *state = PieceState::Missing;
        }
    }

    /// Returns a piece buffer for reuse (dropped once the download is complete).
    pub fn recycle(&mut self, buf: Vec<u8>) {
        let full = self.piece_length as usize;
        if buf.len() == full && !self.is_complete() && self.pool.len() < self.max_active {
            self.pool.push(buf);
        }
        if self.is_complete() {
            self.pool = Vec::new();
        }
    }

    /// Pieces whose buffers are held: being downloaded or being hashed and written. Bounded so a
    /// leecher's memory does not grow with the torrent when the disk or the hashing lags.
    #[cfg(test)]
    pub fn buffered_pieces(&self) -> usize {
        self.active.len() + self.verifying
    }
}

/// The request for block `b` of piece `index` whose length is `piece_len`.
pub fn block_request(index: u32, b: u32, piece_len: u32) -> BlockRequest {
    let begin = b * BLOCK_SIZE;
    BlockRequest {
        index,
        begin,
        length: (piece_len - begin).min(BLOCK_SIZE),
    }
}

#[cfg(test)]
mod tests;
mod web;

pub use web::WebPick;
