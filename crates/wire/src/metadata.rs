//! BEP 9 metadata exchange (`ut_metadata`): the info dictionary in 16 KiB pieces, so that a
//! client that only knows the info-hash (a magnet link) can get the rest from its peers.
//!
//! [`MetadataMessage`] is the wire format (a bencoded dictionary, followed by the piece's bytes
//! for `data`). [`MetadataAssembler`] is the fetching side's state: which pieces are still
//! missing, and the check of the whole against the info-hash. [`metadata_piece`] is the
//! serving side. Sans-IO: no sockets, no clocks.

use bencode::Encoder;
use bytes::Bytes;
use metainfo::InfoHash;
use sha1::{Digest, Sha1};

use crate::Error;

/// The extension name in the BEP 10 handshake.
pub const METADATA_EXTENSION: &str = "ut_metadata";

/// Size of every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_LEN: usize = 16 * 1024;

/// The largest `metadata_size` we fetch (16 MiB; Ubuntu's info dictionary is about 0.5 MB).
pub const MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;

/// Message id of `Extended` messages (for [`Error::Malformed`]).
const EXTENDED_MESSAGE_ID: u8 = 20;

/// One `ut_metadata` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage {
    /// `msg_type` 0: please send piece `piece`.
    Request {
        /// Piece index.
        piece: u32,
    },
    /// `msg_type` 1: piece `piece` of a `total_size`-byte info dictionary.
    Data {
        /// Piece index.
        piece: u32,
        /// The whole info dictionary's size in bytes.
        total_size: u32,
        /// The piece's bytes.
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not send piece `piece`.
    Reject {
        /// Piece index.
        piece: u32,
    },
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        id: EXTENDED_MESSAGE_ID,
        reason,
    }
}

impl MetadataMessage {
    /// The payload of the extended message (dictionary, then the data for `Data`).
    pub fn encode(&self) -> Bytes {
        let (msg_type, piece) = match self {
            Self::Request { piece } => (0, *piece),
            Self::Data { piece, .. } => (1, *piece),
            Self::Reject { piece } => (2, *piece),
        };
        let mut e = Encoder::new();
        e.dict(|d| {
            d.entry(b"msg_type", |v| v.int(msg_type));
            d.entry(b"piece", |v| v.int(i64::from(piece)));
            if let Self::Data { total_size, .. } = self {
                d.entry(b"total_size", |v| v.int(i64::from(*total_size)));
            }
        });
        let mut out = e.finish();
        if let Self::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        Bytes::from(out)
    }

    /// Parses a payload. A `Data` piece longer than [`METADATA_PIECE_LEN`] is refused; unknown
    /// message types are an error (the caller ignores them).
    pub fn decode(payload: &Bytes) -> Result<Self, Error> {
        let (dict, used) = bencode::decode_prefix(payload).map_err(Error::Bencode)?;
        if dict.as_dict().is_none() {
            return Err(malformed("ut_metadata payload is not a dictionary"));
        }
        let int = |key: &[u8]| dict.get(key).and_then(|v| v.as_int());
        let piece = int(b"piece")
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| malformed("ut_metadata message without a valid piece"))?;
        match int(b"msg_type") {
            Some(0) => Ok(Self::Request { piece }),
            Some(2) => Ok(Self::Reject { piece }),
            Some(1) => {
                let total_size = int(b"total_size")
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or_else(|| malformed("ut_metadata data without a valid total_size"))?;
                let data = payload.slice(used..);
                if data.len() > METADATA_PIECE_LEN {
                    return Err(malformed("ut_metadata piece longer than 16 KiB"));
                }
                Ok(Self::Data {
                    piece,
                    total_size,
                    data,
                })
            }
            _ => Err(malformed("unknown ut_metadata msg_type")),
        }
    }
}

/// Number of pieces of a `size`-byte info dictionary.
pub fn metadata_piece_count(size: usize) -> u32 {
    u32::try_from(size.div_ceil(METADATA_PIECE_LEN)).unwrap_or(u32::MAX)
}

/// What a server answers to a request for `piece` of `info` (the raw info dictionary): the
/// piece, or a reject when it is out of range.
pub fn metadata_piece(info: &Bytes, piece: u32) -> MetadataMessage {
    let start = (piece as usize).saturating_mul(METADATA_PIECE_LEN);
    let total_size = u32::try_from(info.len()).unwrap_or(u32::MAX);
    if start >= info.len() {
        return MetadataMessage::Reject { piece };
    }
    let end = (start + METADATA_PIECE_LEN).min(info.len());
    MetadataMessage::Data {
        piece,
        total_size,
        data: info.slice(start..end),
    }
}

/// Why a metadata piece or the assembled whole was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// `metadata_size` is zero or above [`MAX_METADATA_SIZE`].
    #[error("metadata size {0} is zero or above the 16 MiB limit")]
    BadSize(u64),
    /// A piece whose index, length or `total_size` does not fit what we expect.
    #[error("metadata piece {0} does not fit the announced size")]
    BadPiece(u32),
    /// All pieces arrived but their SHA-1 (SHA-256 for a v2 hash) is not the info-hash.
    #[error("metadata does not hash to the info-hash")]
    HashMismatch,
}

/// The fetching side of one metadata download, from one or several peers: pieces are
/// requested with [`next_request`](Self::next_request), stored with [`add`](Self::add), and
/// when the last one arrives the whole is checked against the info-hash. On a mismatch every
/// piece is dropped and the caller should drop the peers that sent them.
#[derive(Debug)]
pub struct MetadataAssembler {
    info_hash: InfoHash,
    /// The v2 info-hash to check instead of the SHA-1 (a magnet link with only `btmh`).
    info_hash_v2: Option<[u8; 32]>,
    size: usize,
    buf: Vec<u8>,
    /// Per piece: received, and requested (not yet answered).
    have: Vec<bool>,
    requested: Vec<bool>,
}

impl MetadataAssembler {
    /// A fetch of a `size`-byte info dictionary (from a peer's `metadata_size`).
    pub fn new(info_hash: InfoHash, size: u64) -> Result<Self, MetadataError> {
        if size == 0 || size > u64::from(MAX_METADATA_SIZE) {
            return Err(MetadataError::BadSize(size));
        }
        let size = usize::try_from(size).map_err(|_| MetadataError::BadSize(size))?;
        let n = metadata_piece_count(size) as usize;
        Ok(Self {
            info_hash,
            info_hash_v2: None,
            size,
            buf: vec![0; size],
            have: vec![false; n],
            requested: vec![false; n],
        })
    }

    /// A fetch checked against a v2 info-hash (the SHA-256 of the info dictionary, BEP 52)
    /// instead of `info_hash`.
    pub fn with_v2(mut self, info_hash_v2: [u8; 32]) -> Self {
        self.info_hash_v2 = Some(info_hash_v2);
        self
    }

    /// The size this fetch expects.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A piece to ask for next (neither received nor requested), marked requested.
    pub fn next_request(&mut self) -> Option<u32> {
        let i = (0..self.have.len()).find(|&i| !self.have[i] && !self.requested[i])?;
        self.requested[i] = true;
        u32::try_from(i).ok()
    }

    /// A request for `piece` will not be answered (reject, peer gone): it may be asked again.
    pub fn release(&mut self, piece: u32) {
        if let Some(r) = self.requested.get_mut(piece as usize) {
            *r = false;
        }
    }

    /// Stores a received piece. `Ok(Some(bytes))` is the verified info dictionary once the last
    /// piece is in; `Err(HashMismatch)` resets the fetch.
    pub fn add(
        &mut self,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, MetadataError> {
        let i = piece as usize;
        let start = i.saturating_mul(METADATA_PIECE_LEN);
        let expected = self.size.saturating_sub(start).min(METADATA_PIECE_LEN);
        if total_size as usize != self.size || i >= self.have.len() || data.len() != expected {
            return Err(MetadataError::BadPiece(piece));
        }
        self.buf[start..start + expected].copy_from_slice(data);
        self.have[i] = true;
        self.requested[i] = false;
        if !self.have.iter().all(|&h| h) {
            return Ok(None);
        }
        let matches = match &self.info_hash_v2 {
            Some(v2) => metainfo::merkle::sha256(&self.buf) == *v2,
            None => Sha1::digest(&self.buf).as_slice() == self.info_hash.0,
        };
        if !matches {
            self.have.iter_mut().for_each(|h| *h = false);
            self.requested.iter_mut().for_each(|r| *r = false);
            return Err(MetadataError::HashMismatch);
        }
        Ok(Some(std::mem::take(&mut self.buf)))
    }

    /// Pieces received so far, and the total.
    pub fn progress(&self) -> (usize, usize) {
        (self.have.iter().filter(|&&h| h).count(), self.have.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_of(len: usize) -> (Bytes, InfoHash) {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let hash = InfoHash(Sha1::digest(&bytes).into());
        (Bytes::from(bytes), hash)
    }

    #[test]
    fn messages_round_trip_in_bep9_form() {
        let r = MetadataMessage::Request { piece: 3 };
        assert_eq!(&r.encode()[..], b"d8:msg_typei0e5:piecei3ee");
        assert_eq!(MetadataMessage::decode(&r.encode()).unwrap(), r);
        let d = MetadataMessage::Data {
            piece: 0,
            total_size: 5,
            data: Bytes::from_static(b"hello"),
        };
        assert_eq!(
            &d.encode()[..],
            b"d8:msg_typei1e5:piecei0e10:total_sizei5eehello"
        );
        assert_eq!(MetadataMessage::decode(&d.encode()).unwrap(), d);
        let j = MetadataMessage::Reject { piece: 9 };
        assert_eq!(MetadataMessage::decode(&j.encode()).unwrap(), j);
    }

    #[test]
    fn bad_messages_are_errors() {
        for raw in [
            &b""[..],
            b"le",
            b"d8:msg_typei0ee",
            b"d8:msg_typei7e5:piecei0ee",
            b"d8:msg_typei0e5:piecei-1ee",
            b"d8:msg_typei1e5:piecei0ee",
        ] {
            assert!(MetadataMessage::decode(&Bytes::copy_from_slice(raw)).is_err());
        }
        let mut long = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
        long.extend(std::iter::repeat_n(0u8, METADATA_PIECE_LEN + 1));
        assert!(MetadataMessage::decode(&Bytes::from(long)).is_err());
    }

    #[test]
    fn serve_then_assemble() {
        let (info, hash) = info_of(40_000);
        let mut a = MetadataAssembler::new(hash, info.len() as u64).unwrap();
        let mut got = None;
        while let Some(p) = a.next_request() {
            let MetadataMessage::Data {
                piece,
                total_size,
                data,
            } = metadata_piece(&info, p)
            else {
                panic!("rejected")
            };
            got = a.add(piece, total_size, &data).unwrap();
        }
        assert_eq!(got.as_deref(), Some(&info[..]));
        assert_eq!(
            metadata_piece(&info, 3),
            MetadataMessage::Reject { piece: 3 }
        );
    }

    #[test]
    fn wrong_hash_resets_and_released_pieces_are_asked_again() {
        let (info, _) = info_of(20_000);
        let mut a = MetadataAssembler::new(InfoHash([1; 20]), info.len() as u64).unwrap();
        assert_eq!(a.next_request(), Some(0));
        assert_eq!(a.next_request(), Some(1));
        assert_eq!(a.next_request(), None);
        a.release(1);
        assert_eq!(a.next_request(), Some(1));
        assert_eq!(a.add(0, 20_000, &info[..16384]), Ok(None));
        assert_eq!(
            a.add(1, 20_000, &info[16384..]),
            Err(MetadataError::HashMismatch)
        );
        assert_eq!(a.progress(), (0, 2));
        assert_eq!(a.next_request(), Some(0));
    }

    #[test]
    fn sizes_and_pieces_are_checked() {
        assert!(MetadataAssembler::new(InfoHash([0; 20]), 0).is_err());
        assert!(
            MetadataAssembler::new(InfoHash([0; 20]), u64::from(MAX_METADATA_SIZE) + 1).is_err()
        );
        let mut a = MetadataAssembler::new(InfoHash([0; 20]), 100).unwrap();
        assert_eq!(a.add(0, 101, &[0; 100]), Err(MetadataError::BadPiece(0)));
        assert_eq!(a.add(0, 100, &[0; 99]), Err(MetadataError::BadPiece(0)));
        assert_eq!(a.add(1, 100, &[]), Err(MetadataError::BadPiece(1)));
    }
}
