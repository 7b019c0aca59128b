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

/// BEP 52 (BitTorrent v2) info-hash: SHA-256 of the raw bytes of the `info` dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV2 {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
    /// The first 20 bytes: what v2 uses on trackers, the DHT and in the handshake.
    pub fn truncated(&self) -> InfoHash {
        let mut out = [0u8; 20];
        out.copy_from_slice(self.0.get(..20).unwrap_or(&[0; 20]));
        InfoHash(out)
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", self.to_hex())
    }
}

impl fmt::Display for InfoHashV2 {
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
///
/// BEP 47 pad files are not files: they are left out of [`Info::files`], and the bytes they
/// stand for are the gaps between one file's end and the next file's offset (or the end of the
/// torrent), which read as zeros and are never written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the torrent's data root: for a single-file torrent just the name, for a
    /// multi-file torrent `name/dir/.../file`. Every component has been checked (see crate docs).
    pub path: PathBuf,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the file's first byte in the torrent's byte stream (all files and pad files).
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
    /// Length of the torrent's byte stream: all file lengths plus the pad files between them.
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

/// BEP 47 attributes of one file of [`Info::files`] that matter once the data is complete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// `x`: set the executable bits when the torrent completes.
    pub executable: bool,
    /// `h`: the creator marked it hidden (informational only).
    pub hidden: bool,
}

/// A BEP 47 symlink (`attr` `l` with `symlink path`): no data, created when the torrent
/// completes. Both paths are relative to the data root, like [`FileEntry::path`], and checked the
/// same way, so the link never points outside the torrent's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symlink {
    /// Where the link goes, e.g. `name/dir/link`.
    pub path: PathBuf,
    /// What it points to, e.g. `name/other/file`.
    pub target: PathBuf,
}

/// A parsed and validated `.torrent` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    /// SHA-1 of the raw `info` bytes as they appear in the file.
    pub info_hash: InfoHash,
    /// For a hybrid torrent (BEP 52 `meta version` 2 with v1 `pieces`): SHA-256 of the raw
    /// `info` bytes. Only the v1 part is used for now.
    pub info_hash_v2: Option<InfoHashV2>,
    /// The info dictionary, shared (the engine, storage and the daemon all hold it).
    pub info: Arc<Info>,
    /// The raw `info` dictionary as it appears in the file (what BEP 9 serves to magnet users).
    pub info_bytes: Arc<[u8]>,
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
    /// BEP 47 attributes, one per entry of `info.files`.
    pub file_attrs: Vec<FileAttrs>,
    /// BEP 47 symlinks, created when the torrent completes (not in `info.files`).
    pub symlinks: Vec<Symlink>,
    /// Number of BEP 47 pad files the torrent lists (left out of `info.files`).
    pub pad_files: usize,
    /// What btmirror changed or ignored to load the file, for operators: renamed duplicates,
    /// sanitised names, skipped symlinks, bytes after the end. Empty for a clean torrent.
    pub notes: Vec<String>,
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

    /// The magnet URI (BEP 9; `btmh` for the v2 hash of a hybrid, BEP 52) with the name, the
    /// trackers and the web seeds.
    pub fn magnet_uri(&self) -> String {
        let mut uri = format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex());
        if let Some(v2) = &self.info_hash_v2 {
            uri.push_str("&xt=urn:btmh:1220");
            uri.push_str(&v2.to_hex());
        }
        uri.push_str("&dn=");
        uri.push_str(&percent_encode(&self.info.name));
        for tracker in self.tracker_tiers().iter().flatten() {
            uri.push_str("&tr=");
            uri.push_str(&percent_encode(tracker));
        }
        for seed in &self.url_list {
            uri.push_str("&ws=");
            uri.push_str(&percent_encode(seed));
        }
        uri
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
