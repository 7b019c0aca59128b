//! BEP 52 Merkle trees: SHA-256 over 16 KiB blocks, per file, padded with zero leaves to a
//! power of two. A piece's hash is the root of the subtree of its blocks (a piece of the
//! *piece layer*); a file no longer than a piece is known by its tree's root alone.

use sha2::{Digest, Sha256};

use crate::BLOCK_SIZE;

/// A SHA-256 hash.
pub type Hash256 = [u8; 32];

/// SHA-256 of `data` (the `sha2` crate, which uses the CPU's SHA extensions when it has them).
pub fn sha256(data: &[u8]) -> Hash256 {
    Sha256::digest(data).into()
}

fn parent(left: &Hash256, right: &Hash256) -> Hash256 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a tree of `2^levels` all-zero leaves.
pub fn pad_hash(levels: u32) -> Hash256 {
    let mut h = [0u8; 32];
    for _ in 0..levels {
        h = parent(&h, &h);
    }
    h
}

/// The root over `leaves` padded with `pad` to `width` leaves (`width` a power of two no
/// smaller than `leaves.len()`; a smaller one is raised to fit).
pub fn root(leaves: &[Hash256], width: usize, pad: Hash256) -> Hash256 {
    let width = width.max(leaves.len()).max(1).next_power_of_two();
    if width == 1 {
        return leaves.first().copied().unwrap_or(pad);
    }
    let mut level: Vec<Hash256> = leaves.to_vec();
    let mut pad = pad;
    let mut w = width;
    while w > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            let left = pair.first().copied().unwrap_or(pad);
            let right = pair.get(1).copied().unwrap_or(pad);
            next.push(parent(&left, &right));
        }
        if next.is_empty() {
            next.push(parent(&pad, &pad));
        }
        pad = parent(&pad, &pad);
        level = next;
        w /= 2;
    }
    level.first().copied().unwrap_or(pad)
}

/// The leaf hashes of `data`: one per 16 KiB block (the last block as long as it is).
pub fn leaves(data: &[u8]) -> Vec<Hash256> {
    data.chunks(BLOCK_SIZE as usize).map(sha256).collect()
}

/// Blocks per piece (a piece length is a power of two of at least one block).
fn blocks_per_piece(piece_length: u32) -> usize {
    (piece_length / BLOCK_SIZE).max(1) as usize
}

/// The piece-layer hash of one piece of a file: `data` is the file's part of the piece (at most
/// `piece_length` bytes), its blocks padded with zero leaves to a whole piece.
pub fn piece_hash(data: &[u8], piece_length: u32) -> Hash256 {
    root(&leaves(data), blocks_per_piece(piece_length), [0; 32])
}

/// The root of a file that fits in one piece: its blocks padded to the next power of two.
pub fn small_file_root(data: &[u8]) -> Hash256 {
    let leaves = leaves(data);
    root(&leaves, leaves.len(), [0; 32])
}

/// The root of a file from its piece layer (padded with the hash of an all-zero piece).
pub fn root_from_layer(layer: &[Hash256], piece_length: u32) -> Hash256 {
    let levels = blocks_per_piece(piece_length).trailing_zeros();
    root(layer, layer.len(), pad_hash(levels))
}

/// The hash of piece `index_in_file` of a file of `file_length` bytes as the torrent gives it:
/// the file's root for a file of at most one piece, else its piece layer's entry.
pub fn expected_piece_hash(
    file_length: u64,
    piece_length: u32,
    root: &Hash256,
    layer: Option<&[Hash256]>,
    index_in_file: u32,
) -> Option<Hash256> {
    if file_length <= u64::from(piece_length) {
        return (index_in_file == 0).then_some(*root);
    }
    layer?.get(index_in_file as usize).copied()
}

/// True when `hashes`, a run of nodes of one layer of a tree (its length a power of two,
/// starting at node `index`, a multiple of that length), hash to `root` with `uncles`: the
/// sibling of the run's subtree root, then of each ancestor, up to below the root. This is
/// how a BEP 52 `hashes` message proves its hashes (libtorrent's layout).
pub fn proves(root: &Hash256, index: u32, hashes: &[Hash256], uncles: &[Hash256]) -> bool {
    let n = hashes.len();
    if n == 0 || !n.is_power_of_two() || !(index as usize).is_multiple_of(n) {
        return false;
    }
    let mut node = self::root(hashes, n, [0; 32]);
    let mut pos = index as usize / n;
    for uncle in uncles {
        node = if pos.is_multiple_of(2) {
            parent(&node, uncle)
        } else {
            parent(uncle, &node)
        };
        pos /= 2;
    }
    pos == 0 && node == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_pad_with_zero_subtrees() {
        let a = sha256(b"a");
        assert_eq!(root(&[a], 1, [0; 32]), a);
        assert_eq!(root(&[a], 2, [0; 32]), parent(&a, &[0; 32]));
        let z1 = parent(&[0; 32], &[0; 32]);
        assert_eq!(root(&[a], 4, [0; 32]), parent(&parent(&a, &[0; 32]), &z1));
        assert_eq!(pad_hash(1), z1);
        // A piece of 4 blocks with 1 block of data, then the file root over 3 pieces.
        let piece = piece_hash(b"a", 4 * BLOCK_SIZE);
        assert_eq!(piece, root(&[a], 4, [0; 32]));
        let layer = [piece, piece, piece];
        assert_eq!(
            root_from_layer(&layer, 4 * BLOCK_SIZE),
            parent(&parent(&piece, &piece), &parent(&piece, &pad_hash(2)))
        );
    }

    #[test]
    fn a_file_of_blocks_has_the_same_root_either_way() {
        let data: Vec<u8> = (0..5 * BLOCK_SIZE + 77).map(|i| (i % 251) as u8).collect();
        let pl = 2 * BLOCK_SIZE;
        let layer: Vec<Hash256> = data
            .chunks(pl as usize)
            .map(|p| piece_hash(p, pl))
            .collect();
        let direct = root(&leaves(&data), 8, [0; 32]);
        assert_eq!(root_from_layer(&layer, pl), direct);
        assert_eq!(small_file_root(&data), direct);
    }
}

#[cfg(test)]
mod proof_tests {
    use super::*;
    use crate::{V2File, V2Hashes};

    #[test]
    fn hash_requests_are_answered_with_the_layer_and_its_uncles() {
        let pl = 2 * BLOCK_SIZE;
        let layer: Vec<Hash256> = (0..5u8).map(|i| sha256(&[i])).collect();
        let file_root = root_from_layer(&layer, pl);
        let v2 = V2Hashes {
            files: vec![V2File {
                file: 0,
                root: file_root,
                layer: std::sync::OnceLock::from(std::sync::Arc::from(layer.clone())),
                first_piece: 0,
                pieces: 5,
            }],
        };
        let pad = pad_hash(1);
        // The whole (padded) layer, no proof.
        let all = v2.hashes_for(pl, &file_root, 1, 0, 8, 0).unwrap();
        assert_eq!(&all[..5], &layer[..]);
        assert!(all[5..].iter().all(|h| *h == pad));
        // Two hashes and the uncles up to below the root: their pair's root lets the root be
        // checked with the two uncles.
        let got = v2.hashes_for(pl, &file_root, 1, 2, 2, 2).unwrap();
        assert_eq!(got.len(), 4);
        let pair = root(&layer[2..4], 2, pad);
        let left = root(&layer[0..2], 2, pad);
        assert_eq!(got[2], left);
        let right = root(&[layer[4]], 4, pad);
        assert_eq!(got[3], right);
        assert_eq!(file_root, parent(&parent(&left, &pair), &right));
        // What a requester checks of such answers.
        assert!(proves(&file_root, 2, &got[..2], &got[2..]));
        assert!(proves(&file_root, 0, &all, &[]));
        assert!(!proves(&file_root, 0, &got[..2], &got[2..]), "wrong place");
        assert!(
            !proves(&file_root, 2, &got[..2], &got[2..3]),
            "too few uncles"
        );
        assert!(
            !proves(&file_root, 2, &got[..2], &[got[3], got[2]]),
            "uncles swapped"
        );
        assert!(!proves(&file_root, 1, &got[..2], &got[2..]), "unaligned");
        assert!(!proves(&file_root, 0, &all[..5], &[]), "not 2^n");
        // Bad requests are refused.
        assert!(
            v2.hashes_for(pl, &file_root, 0, 0, 8, 0).is_none(),
            "blocks"
        );
        assert!(
            v2.hashes_for(pl, &file_root, 1, 1, 2, 0).is_none(),
            "unaligned"
        );
        assert!(
            v2.hashes_for(pl, &file_root, 1, 0, 16, 0).is_none(),
            "too many"
        );
        assert!(
            v2.hashes_for(pl, &file_root, 1, 0, 3, 0).is_none(),
            "not 2^n"
        );
        assert!(
            v2.hashes_for(pl, &file_root, 1, 0, 2, 3).is_none(),
            "past the root"
        );
        assert!(
            v2.hashes_for(pl, &[0; 32], 1, 0, 2, 0).is_none(),
            "unknown root"
        );
        assert!(
            v2.hashes_for(pl, &file_root, 1, u32::MAX, u32::MAX, u32::MAX)
                .is_none()
        );
    }
}
