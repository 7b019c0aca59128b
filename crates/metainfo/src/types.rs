//! The validated value types of a torrent.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::{InfoBytes, PieceHashes};

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
    /// Bytes per piece: up to 64 MiB; for v2 and hybrid torrents a power of two of at least 16 KiB.
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
    /// BEP 52 hashes of a v2 or hybrid torrent (`None` for v1). A v2-only torrent has no
    /// [`Info::pieces`] and is verified with these.
    pub v2: Option<Arc<V2Hashes>>,
}

/// The BEP 52 hashes of one non-empty file of a v2 or hybrid torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2File {
    /// Index of the file in [`Info::files`].
    pub file: usize,
    /// `pieces root`: the root of the file's Merkle tree.
    pub root: crate::merkle::Hash256,
    /// The file's piece layer (one hash per piece) for a file longer than a piece; unset for a
    /// file of one piece (its root is its piece's hash) or when the torrent left it out, until
    /// it is learnt ([`Self::learn_layer`]: from the data on disk or from peers, BEP 52
    /// `hash request`s). Set once, and only to a layer that hashes to [`Self::root`].
    pub layer: OnceLock<Arc<[crate::merkle::Hash256]>>,
    /// The torrent's index of the file's first piece (v2 files start on a piece boundary).
    pub first_piece: u32,
    /// How many pieces the file has.
    pub pieces: u32,
}

impl V2File {
    /// The piece layer, when known.
    pub fn layer(&self) -> Option<&[crate::merkle::Hash256]> {
        self.layer.get().map(|l| &**l)
    }

    /// True for a file longer than a piece whose piece layer is not known yet: its pieces
    /// cannot be verified one by one.
    pub fn needs_layer(&self) -> bool {
        self.pieces > 1 && self.layer.get().is_none()
    }

    /// Takes `layer` as the file's piece layer when it has one hash per piece and hashes to the
    /// file's root; false (and nothing changes) otherwise. Once set it stays.
    pub fn learn_layer(&self, layer: Vec<crate::merkle::Hash256>, piece_length: u32) -> bool {
        if self.layer.get().is_some() {
            return true;
        }
        let fits = layer.len() == self.pieces as usize
            && self.pieces > 1
            && crate::merkle::root_from_layer(&layer, piece_length) == self.root;
        if fits {
            let _ = self.layer.set(layer.into());
        }
        fits
    }
}

/// The most hashes one `hash request` is answered with (4096 hashes are 128 KiB).
const MAX_HASHES_ANSWERED: u32 = 4096;

/// The BEP 52 hashes of a torrent, one entry per non-empty file in piece order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Hashes {
    /// The files with data, in order.
    pub files: Vec<V2File>,
}

impl V2Hashes {
    /// The file piece `piece` belongs to.
    pub fn file_of_piece(&self, piece: u32) -> Option<&V2File> {
        let i = self.files.partition_point(|f| f.first_piece <= piece);
        let f = self.files.get(i.checked_sub(1)?)?;
        (piece < f.first_piece.saturating_add(f.pieces)).then_some(f)
    }

    /// The file with this `pieces root`.
    pub fn file_by_root(&self, root: &crate::merkle::Hash256) -> Option<&V2File> {
        self.files.iter().find(|f| &f.root == root)
    }

    /// The answer to a BEP 52 `hash request` for the file with `pieces_root`: `length` hashes
    /// of its tree from layer `base_layer` (0 = blocks) at `index`, then the uncle hashes of
    /// `proof_layers` layers above them, as libtorrent computes them. Only the piece layer is
    /// kept, so only requests for that layer are answered; `None` means "reject".
    pub fn hashes_for(
        &self,
        piece_length: u32,
        pieces_root: &crate::merkle::Hash256,
        base_layer: u32,
        index: u32,
        length: u32,
        proof_layers: u32,
    ) -> Option<Vec<crate::merkle::Hash256>> {
        use crate::merkle::{pad_hash, root};
        let blocks_per_piece = (piece_length / crate::BLOCK_SIZE).max(1);
        let piece_level = blocks_per_piece.trailing_zeros();
        let layer = self.file_by_root(pieces_root)?.layer()?;
        let width = layer.len().checked_next_power_of_two()?;
        // Layers above the piece layer, the root's included.
        let levels = width.trailing_zeros();
        let bad = base_layer != piece_level
            || length == 0
            || !length.is_power_of_two()
            || length > MAX_HASHES_ANSWERED
            || !index.is_multiple_of(length)
            || u64::from(index) + u64::from(length) > width as u64
            || proof_layers > levels;
        if bad {
            return None;
        }
        let pad = pad_hash(piece_level);
        let at = |i: usize| layer.get(i).copied().unwrap_or(pad);
        let mut out: Vec<_> = (index as usize..(index + length) as usize)
            .map(at)
            .collect();
        // The hash of node `pos` of level `level` above the piece layer.
        let node = |level: u32, pos: usize| {
            let span = 1usize << level;
            let start = pos.saturating_mul(span);
            let end = start.saturating_add(span).min(layer.len());
            let leaves = layer.get(start..end).unwrap_or_default();
            if leaves.is_empty() {
                pad_hash(piece_level + level)
            } else {
                root(leaves, span, pad)
            }
        };
        let base_tree_layers = i64::from(length.trailing_zeros()) - 1;
        let mut pos = index as usize;
        for i in 0..proof_layers {
            pos /= 2;
            let level = i + 1;
            if i64::from(i) >= base_tree_layers {
                if level >= levels {
                    return None;
                }
                out.push(node(level, pos ^ 1));
            }
        }
        Some(out)
    }

    /// True when every file longer than a piece has its piece layer.
    pub fn complete(&self, piece_length: u32) -> bool {
        self.files.iter().all(|f| !f.needs_layer()) && piece_length > 0
    }
}

impl Info {
    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        if self.pieces.is_empty() && self.v2.is_some() {
            let n = self
                .total_length
                .div_ceil(u64::from(self.piece_length.max(1)));
            return u32::try_from(n).unwrap_or(u32::MAX);
        }
        self.pieces.len() as u32
    }

    /// True when the torrent has v1 (SHA-1) piece hashes: a v1 or hybrid torrent.
    pub fn has_v1(&self) -> bool {
        !self.pieces.is_empty() || self.v2.is_none()
    }

    /// For a v2-only torrent: whether `data` (the whole piece `index`, pad bytes included)
    /// matches its BEP 52 hash. `None` when the torrent has v1 hashes, which are what is
    /// checked then.
    pub fn v2_piece_matches(&self, index: u32, data: &[u8]) -> Option<bool> {
        if self.has_v1() {
            return None;
        }
        let v2 = self.v2.as_ref()?;
        let Some(file) = v2.file_of_piece(index) else {
            // A piece of nothing but pad bytes (cannot happen in a valid layout).
            return Some(false);
        };
        let Some(entry) = self.files.get(file.file) else {
            return Some(false);
        };
        let in_file = index - file.first_piece;
        let start = u64::from(in_file) * u64::from(self.piece_length);
        let len = entry
            .length
            .saturating_sub(start)
            .min(u64::from(self.piece_length)) as usize;
        let Some(part) = data.get(..len) else {
            return Some(false);
        };
        let expected = crate::merkle::expected_piece_hash(
            entry.length,
            self.piece_length,
            &file.root,
            file.layer(),
            in_file,
        );
        let actual = if entry.length <= u64::from(self.piece_length) {
            crate::merkle::small_file_root(part)
        } else {
            crate::merkle::piece_hash(part, self.piece_length)
        };
        Some(expected == Some(actual))
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
    /// SHA-1 of the raw `info` bytes as they appear in the file; for a v2-only torrent the
    /// first 20 bytes of [`Metainfo::info_hash_v2`] (what it is known by on the wire).
    pub info_hash: InfoHash,
    /// For a v2 or hybrid torrent (BEP 52 `meta version` 2): SHA-256 of the raw `info` bytes.
    /// A v2-only torrent's [`Metainfo::info_hash`] is the first 20 bytes of this.
    pub info_hash_v2: Option<InfoHashV2>,
    /// The info dictionary, shared (the engine, storage and the daemon all hold it).
    pub info: Arc<Info>,
    /// The raw `info` dictionary as it appears in the file (what BEP 9 serves to magnet users;
    /// may be released from memory, see [`InfoBytes`]).
    pub info_bytes: InfoBytes,
    /// `announce` URL, if any.
    pub announce: Option<String>,
    /// BEP 12 `announce-list` tiers (empty when absent). Trackers that are not valid UTF-8 are dropped.
    pub announce_list: Vec<Vec<String>>,
    /// Web seeds: BEP 19 `url-list`, then BEP 17 `httpseeds` (used the same way), as written
    /// (the engine skips what is not an absolute `http(s)` URL).
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
    /// Lets the piece hashes and the raw info dictionary be released from memory (a seeding
    /// torrent does not need them) and read again from the `.torrent` at `path` when something
    /// does; a file that changed into another torrent gives neither.
    ///
    /// They are released at once: whatever needs them first (a data check, a download, a peer
    /// that started from a magnet link) loads them, so many torrents parsed together never
    /// hold all of them at the same time.
    pub fn with_hash_source(mut self, path: PathBuf) -> Self {
        let info_loader = crate::hashes::file_info_loader(path.clone(), self.info_hash);
        self.info_bytes.set_loader(info_loader);
        self.info_bytes.release();
        let loader = crate::hashes::file_loader(path, self.info_hash);
        let pieces = &mut Arc::make_mut(&mut self.info).pieces;
        pieces.set_loader(loader);
        pieces.release();
        self
    }

    /// The v1 info-hash, for a v1 or hybrid torrent.
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        self.info.has_v1().then_some(self.info_hash)
    }

    /// Every 20-byte hash the torrent is known by on trackers, the DHT and in handshakes: the
    /// v1 info-hash, and the truncated v2 one of a hybrid (a v2-only torrent has just that).
    pub fn swarm_hashes(&self) -> Vec<InfoHash> {
        let mut out = vec![self.info_hash];
        if let Some(v2) = &self.info_hash_v2
            && v2.truncated() != self.info_hash
        {
            out.push(v2.truncated());
        }
        out
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
        let mut xts = Vec::new();
        if let Some(v1) = self.info_hash_v1() {
            xts.push(format!("xt=urn:btih:{}", v1.to_hex()));
        }
        if let Some(v2) = &self.info_hash_v2 {
            xts.push(format!("xt=urn:btmh:1220{}", v2.to_hex()));
        }
        let mut uri = format!("magnet:?{}", xts.join("&"));
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
