//! The validated value types of a torrent.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::PieceHashes;

/// SHA-1 of the raw bytes of a torrent's `info` dictionary: the torrent's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// Lower-case hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
    /// Parses 40 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        from_hex20(s).map(Self)
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A 20-byte peer id (BEP 20 style: `-BM0100-` followed by 12 random bytes for ours).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId(pub [u8; 20]);

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", String::from_utf8_lossy(&self.0))
    }
}

/// One file of a torrent, with its offset in the torrent's byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the torrent's data root: for a single-file torrent just the name, for a
    /// multi-file torrent `name/dir/.../file`. Every component has been checked (see crate docs).
    pub path: PathBuf,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the file's first byte in the concatenation of all files.
    pub offset: u64,
}

/// The validated `info` dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The suggested name (file name, or directory name for a multi-file torrent); a safe single component.
    pub name: String,
    /// Bytes per piece: a power of two in 16 KiB..=64 MiB.
    pub piece_length: u32,
    /// The SHA-1 of every piece, in order (may be released from memory; see [`PieceHashes`]).
    pub pieces: PieceHashes,
    /// The files, in torrent order (a single-file torrent has exactly one entry).
    pub files: Vec<FileEntry>,
    /// True for a multi-file torrent (`files` key present), even with one file.
    pub multi_file: bool,
    /// BEP 27 `private` flag.
    pub private: bool,
    /// Sum of all file lengths.
    pub total_length: u64,
}

impl Info {
    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.pieces.len() as u32
    }

    /// Length of piece `index` (the last piece may be short); 0 for an index out of range.
    pub fn piece_len(&self, index: u32) -> u32 {
        let start = u64::from(index) * u64::from(self.piece_length);
        if index >= self.piece_count() || start >= self.total_length {
            return 0;
        }
        (self.total_length - start).min(u64::from(self.piece_length)) as u32
    }

    /// Offset of piece `index` in the torrent's byte stream.
    pub fn piece_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.piece_length)
    }

    /// Number of blocks (of [`crate::BLOCK_SIZE`]) in piece `index`.
    pub fn blocks_in_piece(&self, index: u32) -> u32 {
        self.piece_len(index).div_ceil(crate::BLOCK_SIZE)
    }

    /// True when `(index, begin, length)` names a byte range inside piece `index`.
    pub fn is_valid_range(&self, index: u32, begin: u32, length: u32) -> bool {
        let pl = self.piece_len(index);
        pl > 0 && length > 0 && u64::from(begin) + u64::from(length) <= u64::from(pl)
    }
}

/// A parsed and validated `.torrent` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    /// SHA-1 of the raw `info` bytes as they appear in the file.
    pub info_hash: InfoHash,
    /// The info dictionary, shared (the engine, storage and the daemon all hold it).
    pub info: Arc<Info>,
    /// `announce` URL, if any.
    pub announce: Option<String>,
    /// BEP 12 `announce-list` tiers (empty when absent). Trackers that are not valid UTF-8 are dropped.
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 `url-list` web seeds (kept for later use).
    pub url_list: Vec<String>,
    /// `comment`, if any.
    pub comment: Option<String>,
    /// `created by`, if any.
    pub created_by: Option<String>,
    /// `creation date` (Unix seconds), if any.
    pub creation_date: Option<i64>,
}

impl Metainfo {
    /// Lets the piece hashes be released from memory (a seeding torrent does not need them) and
    /// read again from the `.torrent` at `path` when something does; a file that changed into
    /// another torrent gives no hashes.
    ///
    /// They are released at once: whatever needs them first (a data check, a download) loads
    /// them, so many torrents parsed together never hold all their hashes at the same time.
    pub fn with_hash_source(mut self, path: PathBuf) -> Self {
        let loader = crate::hashes::file_loader(path, self.info_hash);
        let pieces = &mut Arc::make_mut(&mut self.info).pieces;
        pieces.set_loader(loader);
        pieces.release();
        self
    }

    /// The tracker tiers to use: `announce-list` when present and non-empty, else `[[announce]]`.
    pub fn tracker_tiers(&self) -> Vec<Vec<String>> {
        if !self.announce_list.iter().all(|t| t.is_empty()) {
            return self
                .announce_list
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect();
        }
        self.announce.iter().map(|a| vec![a.clone()]).collect()
    }
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn from_hex20(s: &str) -> Option<[u8; 20]> {
    let b = s.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    Some(out)
}
