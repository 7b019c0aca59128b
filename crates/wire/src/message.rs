//! Peer messages.

use bytes::Bytes;
use metainfo::{BLOCK_SIZE, Bitfield, Info};

/// A block request (also used by `cancel` and BEP 6 `reject request`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    /// Piece index.
    pub index: u32,
    /// Byte offset within the piece.
    pub begin: u32,
    /// Length in bytes.
    pub length: u32,
}

/// The fields of a BEP 52 `hash request`, also the head of `hashes` and `hash reject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// The file's `pieces root`.
    pub pieces_root: [u8; 32],
    /// The tree layer the hashes are from (0 = 16 KiB blocks).
    pub base_layer: u32,
    /// Index of the first hash in that layer.
    pub index: u32,
    /// How many hashes.
    pub length: u32,
    /// How many layers of proof (uncle hashes) above them.
    pub proof_layers: u32,
}

/// One peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Zero-length message.
    KeepAlive,
    /// id 0
    Choke,
    /// id 1
    Unchoke,
    /// id 2
    Interested,
    /// id 3
    NotInterested,
    /// id 4: the sender has this piece.
    Have(u32),
    /// id 5: raw bitfield bytes (length checked against the piece count by the caller, who knows it).
    Bitfield(Bytes),
    /// id 6
    Request(BlockRequest),
    /// id 7: a block of data.
    Piece {
        /// Piece index.
        index: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// The data.
        data: Bytes,
    },
    /// id 8
    Cancel(BlockRequest),
    /// id 9: DHT port (BEP 5).
    Port(u16),
    /// id 13 (BEP 6)
    SuggestPiece(u32),
    /// id 14 (BEP 6)
    HaveAll,
    /// id 15 (BEP 6)
    HaveNone,
    /// id 16 (BEP 6)
    RejectRequest(BlockRequest),
    /// id 17 (BEP 6)
    AllowedFast(u32),
    /// id 21 (BEP 52): asks for hashes of a file's Merkle tree.
    HashRequest(HashRequest),
    /// id 22 (BEP 52): the hashes asked for, then the proof hashes; `hashes` is a multiple of
    /// 32 bytes (checked by the codec).
    Hashes {
        /// What they answer.
        request: HashRequest,
        /// The hashes, 32 bytes each.
        hashes: Bytes,
    },
    /// id 23 (BEP 52): the sender will not answer this hash request.
    HashReject(HashRequest),
    /// id 20 (BEP 10): extended message id and its payload.
    Extended {
        /// Extended message id (0 = extension handshake).
        id: u8,
        /// Payload (bencoded dictionary, possibly followed by data).
        payload: Bytes,
    },
}

impl BlockRequest {
    /// Whether this request may be served for a torrent with `info`: `length` in
    /// `1..=BLOCK_SIZE` (larger requests are refused, as every client does), `index` a piece of
    /// the torrent and `begin + length` inside that piece (the last piece may be short).
    pub fn is_valid_for(&self, info: &Info) -> bool {
        (1..=BLOCK_SIZE).contains(&self.length)
            && self.index < info.piece_count()
            && info.is_valid_range(self.index, self.begin, self.length)
    }
}

/// Checks the payload of a `bitfield` message against the torrent's piece count: the right
/// number of bytes and every spare bit zero. `None` means "drop this peer".
pub fn validate_bitfield(bytes: &[u8], piece_count: u32) -> Option<Bitfield> {
    Bitfield::from_bytes(bytes, piece_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use metainfo::FileEntry;

    /// Three pieces of 32 KiB, the last one 1000 bytes.
    fn info() -> Info {
        let total_length = 2 * 32768 + 1000;
        Info {
            name: "f".into(),
            piece_length: 32768,
            pieces: vec![[0; 20]; 3].into(),
            files: vec![FileEntry {
                path: "f".into(),
                length: total_length,
                offset: 0,
            }],
            multi_file: false,
            private: false,
            total_length,
            v2: None,
        }
    }

    fn req(index: u32, begin: u32, length: u32) -> BlockRequest {
        BlockRequest {
            index,
            begin,
            length,
        }
    }

    #[test]
    fn ordinary_blocks_are_valid() {
        let info = info();
        assert!(req(0, 0, BLOCK_SIZE).is_valid_for(&info));
        assert!(req(1, BLOCK_SIZE, BLOCK_SIZE).is_valid_for(&info));
        assert!(req(0, 100, 1).is_valid_for(&info));
    }

    #[test]
    fn length_bounds() {
        let info = info();
        assert!(!req(0, 0, 0).is_valid_for(&info));
        assert!(!req(0, 0, BLOCK_SIZE + 1).is_valid_for(&info));
        assert!(
            !req(0, 0, 32768).is_valid_for(&info),
            "a whole 32 KiB piece is too large a block"
        );
    }

    #[test]
    fn last_short_piece() {
        let info = info();
        assert!(req(2, 0, 1000).is_valid_for(&info));
        assert!(req(2, 999, 1).is_valid_for(&info));
        assert!(!req(2, 0, 1001).is_valid_for(&info));
        assert!(!req(2, 1000, 1).is_valid_for(&info));
        assert!(!req(2, 0, BLOCK_SIZE).is_valid_for(&info));
    }

    #[test]
    fn out_of_range_index_and_offsets() {
        let info = info();
        assert!(!req(3, 0, 1).is_valid_for(&info));
        assert!(!req(u32::MAX, 0, 1).is_valid_for(&info));
        assert!(!req(0, 32768 - BLOCK_SIZE + 1, BLOCK_SIZE).is_valid_for(&info));
        assert!(!req(0, 32768, 1).is_valid_for(&info));
        // begin + length overflows u32: must be refused, not wrap around to a small offset.
        assert!(!req(0, u32::MAX, 1).is_valid_for(&info));
        assert!(!req(0, u32::MAX - 10, BLOCK_SIZE).is_valid_for(&info));
    }

    #[test]
    fn bitfield_validation() {
        assert!(validate_bitfield(&[0xff, 0xc0], 10).is_some_and(|b| b.count() == 10));
        assert!(
            validate_bitfield(&[0xff, 0xe0], 10).is_none(),
            "spare bit set"
        );
        assert!(validate_bitfield(&[0xff], 10).is_none(), "too short");
        assert!(
            validate_bitfield(&[0xff, 0xc0, 0], 10).is_none(),
            "too long"
        );
        assert!(validate_bitfield(&[0xa0], 3).is_some_and(|b| b.get(0) && !b.get(1) && b.get(2)));
        assert!(validate_bitfield(&[], 3).is_none());
    }
}
