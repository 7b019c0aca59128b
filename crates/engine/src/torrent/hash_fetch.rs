//! BEP 52 piece layers from peers. A v2-only torrent whose `.torrent` (or the metadata of a
//! `btmh` magnet link, which never holds them) lacks the piece layer of a file cannot verify
//! that file's pieces until it has the layer. So the layer is asked of v2 peers in runs of up
//! to [`RUN`] hashes, as libtorrent asks, each run checked against the file's root with the
//! uncle hashes that come with it. When all runs of a file are in, the caller sets the layer on
//! the torrent's `V2File` and the file's pieces can be picked.
//!
//! Pure state, no I/O: the peer tasks call it under its mutex.

use std::time::{Duration, Instant};

use metainfo::merkle::{Hash256, proves};
use metainfo::{Bitfield, Info};
use wire::HashRequest;

use crate::PeerKey;

/// Hashes asked for in one `hash request` (libtorrent asks for, and wants to be asked for,
/// runs of 512 piece hashes).
pub(crate) const RUN: u32 = 512;
/// A run asked of a peer that did not answer within this long is asked of another.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of a `hashes` message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hashes {
    /// Valid, and the run is stored; the file still lacks other runs (or had them already).
    Stored,
    /// Valid, and it completed file `v2_index`'s layer (index in `V2Hashes::files`).
    FileDone {
        v2_index: usize,
        layer: Vec<Hash256>,
    },
    /// Not something we asked for (another file, layer or run shape): ignored.
    Unasked,
    /// The hashes do not prove to the file's root: the peer sent bad data.
    Bad,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Wanted,
    Asked { peer: PeerKey, at: Instant },
    Done,
}

/// One file whose piece layer is missing.
#[derive(Debug)]
struct FileFetch {
    v2_index: usize,
    root: Hash256,
    first_piece: u32,
    pieces: u32,
    /// The piece layer padded to a power of two (the width libtorrent's tree has there).
    width: u32,
    /// The layer as far as it came in (zeros where not yet).
    hashes: Vec<Hash256>,
    runs: Vec<Run>,
}

impl FileFetch {
    /// The request for run `r`: `RUN` hashes (fewer, down to 2, for the last run or a small
    /// file), with the uncles up to the root unless the run is the whole layer.
    fn request(&self, piece_level: u32, r: usize) -> HashRequest {
        let index = r as u32 * RUN;
        let remaining = self.pieces.saturating_sub(index);
        let length = remaining
            .checked_next_power_of_two()
            .unwrap_or(RUN)
            .clamp(2, RUN)
            .min(self.width);
        let levels = self.width.trailing_zeros();
        let proof_layers = if length == self.width { 0 } else { levels - 1 };
        HashRequest {
            pieces_root: self.root,
            base_layer: piece_level,
            index,
            length,
            proof_layers,
        }
    }

    /// Uncle hashes that come with the answer to `req` (libtorrent's count).
    fn uncles(req: &HashRequest) -> u32 {
        let base_layers = req.length.trailing_zeros();
        (req.proof_layers + 1).saturating_sub(base_layers)
    }

    /// Whether the peer with `has` has any piece of run `r`.
    fn peer_has_run(&self, has: &Bitfield, r: usize) -> bool {
        let start = self.first_piece + r as u32 * RUN;
        let end = (start + RUN).min(self.first_piece + self.pieces);
        (start..end).any(|p| has.get(p))
    }
}

/// The piece layers a torrent still lacks and which peers were asked for them.
#[derive(Debug)]
pub(crate) struct HashFetch {
    /// `log2(piece length / 16 KiB)`: the layer of the tree the piece hashes are on.
    piece_level: u32,
    files: Vec<FileFetch>,
}

impl HashFetch {
    /// The layers a v2-only torrent lacks; `None` when it lacks none (or has v1 hashes, which
    /// verify its pieces without them).
    pub(crate) fn new(info: &Info) -> Option<Self> {
        let v2 = info.v2.as_ref().filter(|_| !info.has_v1())?;
        let files: Vec<FileFetch> = v2
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.needs_layer())
            .map(|(v2_index, f)| {
                let width = f.pieces.checked_next_power_of_two().unwrap_or(u32::MAX);
                FileFetch {
                    v2_index,
                    root: f.root,
                    first_piece: f.first_piece,
                    pieces: f.pieces,
                    width,
                    hashes: vec![[0; 32]; f.pieces as usize],
                    runs: vec![Run::Wanted; f.pieces.div_ceil(RUN) as usize],
                }
            })
            .collect();
        let blocks = (info.piece_length / metainfo::BLOCK_SIZE).max(1);
        (!files.is_empty()).then_some(Self {
            piece_level: blocks.trailing_zeros(),
            files,
        })
    }

    /// True once every layer is in.
    pub(crate) fn is_done(&self) -> bool {
        self.files
            .iter()
            .all(|f| f.runs.iter().all(|r| *r == Run::Done))
    }

    /// The next run to ask `peer` (which has the pieces in `has`) for, marked asked; runs
    /// asked of someone else more than [`ASK_TIMEOUT`] ago count as not asked.
    pub(crate) fn pick(
        &mut self,
        peer: PeerKey,
        has: &Bitfield,
        now: Instant,
    ) -> Option<HashRequest> {
        let level = self.piece_level;
        for f in &mut self.files {
            for r in 0..f.runs.len() {
                let free = match f.runs[r] {
                    Run::Wanted => true,
                    Run::Asked { peer: p, at } => {
                        p != peer && now.saturating_duration_since(at) > ASK_TIMEOUT
                    }
                    Run::Done => false,
                };
                if free && f.peer_has_run(has, r) {
                    f.runs[r] = Run::Asked { peer, at: now };
                    return Some(f.request(level, r));
                }
            }
        }
        None
    }

    /// A `hashes` message for `req` with `hashes` (the requested hashes, then the uncles).
    pub(crate) fn on_hashes(&mut self, req: &HashRequest, hashes: &[u8]) -> Hashes {
        let level = self.piece_level;
        let Some(f) = self.files.iter_mut().find(|f| f.root == req.pieces_root) else {
            return Hashes::Unasked;
        };
        let r = (req.index / RUN) as usize;
        if !req.index.is_multiple_of(RUN) || r >= f.runs.len() || f.request(level, r) != *req {
            return Hashes::Unasked;
        }
        if f.runs[r] == Run::Done {
            return Hashes::Stored;
        }
        let (all, rest) = hashes.as_chunks::<32>();
        let want = (req.length + FileFetch::uncles(req)) as usize;
        if !rest.is_empty() || all.len() != want {
            return Hashes::Bad;
        }
        let (run, uncles) = all.split_at(req.length as usize);
        if !proves(&f.root, req.index, run, uncles) {
            return Hashes::Bad;
        }
        let start = req.index as usize;
        let end = (start + run.len()).min(f.pieces as usize);
        f.hashes[start..end].copy_from_slice(&run[..end - start]);
        f.runs[r] = Run::Done;
        if f.runs.iter().any(|r| *r != Run::Done) {
            return Hashes::Stored;
        }
        Hashes::FileDone {
            v2_index: f.v2_index,
            layer: std::mem::take(&mut f.hashes),
        }
    }

    /// The runs asked of `peer` are free again: `req` alone (it was rejected), or all of them
    /// (the peer left).
    pub(crate) fn release(&mut self, peer: PeerKey, req: Option<&HashRequest>) {
        for f in &mut self.files {
            if req.is_some_and(|q| q.pieces_root != f.root) {
                continue;
            }
            for (r, run) in f.runs.iter_mut().enumerate() {
                let only = req.is_none_or(|q| q.index / RUN == r as u32);
                if only && matches!(run, Run::Asked { peer: p, .. } if *p == peer) {
                    *run = Run::Wanted;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use metainfo::merkle::{pad_hash, root_from_layer, sha256};
    use metainfo::{FileEntry, V2File, V2Hashes};

    use super::*;

    const PL: u32 = 4 * metainfo::BLOCK_SIZE;

    /// A v2-only torrent of one file of `pieces` pieces without its layer, the layer, and a
    /// server holding it.
    fn torrent(pieces: u32) -> (Info, Vec<Hash256>, V2Hashes) {
        let layer: Vec<Hash256> = (0..pieces).map(|i| sha256(&i.to_be_bytes())).collect();
        let root = root_from_layer(&layer, PL);
        let file = |layer: Option<Vec<Hash256>>| V2File {
            file: 0,
            root,
            layer: layer.map(Arc::from).map(Into::into).unwrap_or_default(),
            first_piece: 0,
            pieces,
        };
        let length = u64::from(pieces) * u64::from(PL) - 5;
        let info = Info {
            name: "f".into(),
            piece_length: PL,
            pieces: metainfo::PieceHashes::new(Vec::new()),
            files: vec![FileEntry {
                path: "f".into(),
                length,
                offset: 0,
            }],
            multi_file: false,
            private: false,
            total_length: length,
            v2: Some(Arc::new(V2Hashes {
                files: vec![file(None)],
            })),
        };
        let server = V2Hashes {
            files: vec![file(Some(layer.clone()))],
        };
        (info, layer, server)
    }

    fn answer(server: &V2Hashes, q: &HashRequest) -> Vec<u8> {
        server
            .hashes_for(
                PL,
                &q.pieces_root,
                q.base_layer,
                q.index,
                q.length,
                q.proof_layers,
            )
            .expect("our server answers what we ask")
            .concat()
    }

    #[test]
    fn a_small_layer_comes_in_one_request_and_a_big_one_in_runs_with_proofs() {
        for pieces in [2, 5, 512, 513, 1500] {
            let (info, layer, server) = torrent(pieces);
            let mut fetch = HashFetch::new(&info).expect("a layer is missing");
            let seed = Bitfield::full(pieces);
            let now = Instant::now();
            let mut asks = Vec::new();
            while let Some(q) = fetch.pick(1, &seed, now) {
                asks.push(q);
            }
            assert_eq!(asks.len(), pieces.div_ceil(RUN) as usize, "{pieces}");
            assert!(asks.iter().all(|q| q.base_layer == 2 && q.length >= 2));
            let mut done = None;
            for q in &asks {
                match fetch.on_hashes(q, &answer(&server, q)) {
                    Hashes::Stored => assert!(done.is_none()),
                    Hashes::FileDone { v2_index, layer } => done = Some((v2_index, layer)),
                    other => panic!("{pieces}: {other:?}"),
                }
            }
            assert_eq!(done, Some((0, layer.clone())), "{pieces}");
            assert!(fetch.is_done());
            let v2 = info.v2.as_ref().unwrap();
            assert!(v2.files[0].learn_layer(layer, PL));
            assert!(!v2.files[0].needs_layer());
            assert!(HashFetch::new(&info).is_none());
        }
    }

    #[test]
    fn bad_or_unasked_hashes_are_refused_and_runs_go_back_when_refused() {
        let (info, _, server) = torrent(1500);
        let mut fetch = HashFetch::new(&info).unwrap();
        let now = Instant::now();
        let seed = Bitfield::full(1500);
        let q = fetch.pick(1, &seed, now).unwrap();
        let good = answer(&server, &q);
        // One flipped bit, a missing uncle, a hash of another layer, another shape.
        let mut flipped = good.clone();
        flipped[100] ^= 1;
        assert_eq!(fetch.on_hashes(&q, &flipped), Hashes::Bad);
        assert_eq!(fetch.on_hashes(&q, &good[..good.len() - 32]), Hashes::Bad);
        assert_eq!(fetch.on_hashes(&q, &good[..good.len() - 1]), Hashes::Bad);
        let other = HashRequest { length: 256, ..q };
        assert_eq!(fetch.on_hashes(&other, &good), Hashes::Unasked);
        let unknown = HashRequest {
            pieces_root: [9; 32],
            ..q
        };
        assert_eq!(fetch.on_hashes(&unknown, &good), Hashes::Unasked);
        // A peer with none of the pieces is not asked; one with only the last run's is asked
        // for that run; a peer's runs go back when it rejects or leaves.
        assert_eq!(fetch.pick(2, &Bitfield::new(1500), now), None);
        let mut tail = Bitfield::new(1500);
        tail.set(1499);
        let t = fetch.pick(2, &tail, now).unwrap();
        assert_eq!((t.index, t.length), (1024, 512));
        assert_eq!(fetch.pick(2, &tail, now), None);
        fetch.release(2, Some(&t));
        assert_eq!(fetch.pick(3, &tail, now), Some(t));
        fetch.release(3, None);
        // Run 0 is still asked of peer 1 until it times out.
        let r = fetch.pick(4, &seed, now).unwrap();
        assert_eq!(r.index, 512);
        let later = now + ASK_TIMEOUT + Duration::from_secs(1);
        assert_eq!(fetch.pick(4, &seed, later).map(|q| q.index), Some(0));
        assert_eq!(fetch.on_hashes(&q, &good), Hashes::Stored);
    }

    #[test]
    fn the_pad_hashes_beyond_the_file_are_part_of_the_proof() {
        // 5 pieces: the whole layer padded to 8 in one request; zeros instead of the pad
        // hashes of the missing pieces do not prove.
        let (info, _, server) = torrent(5);
        let mut fetch = HashFetch::new(&info).unwrap();
        let q = fetch.pick(1, &Bitfield::full(5), Instant::now()).unwrap();
        assert_eq!((q.index, q.length, q.proof_layers), (0, 8, 0));
        let mut good = answer(&server, &q);
        assert_eq!(&good[5 * 32..6 * 32], &pad_hash(2)[..]);
        good[5 * 32..].fill(0);
        assert_eq!(fetch.on_hashes(&q, &good), Hashes::Bad);
    }
}
