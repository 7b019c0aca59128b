//! Torrent data on disk: mapping pieces onto files, reading and writing them with positioned
//! I/O (`pread`/`pwrite`, never `mmap`, so a file truncated behind our back gives an error instead
//! of a `SIGBUS`), verifying piece hashes (SHA-1 for v1 and hybrid torrents, per-file SHA-256 Merkle trees for
//! v2-only ones, BEP 52), and persisting resume data.
//!
//! The API is synchronous and thread-safe: the async engine keeps a [`Storage`] behind an `Arc` and
//! calls it through `tokio::task::spawn_blocking`. This crate knows nothing about peers, sockets or
//! tasks and depends only on `metainfo`.
//!
//! Every error carries the path it concerns; a full disk is reported as [`Error::NoSpace`] so the
//! engine can pause the torrent with a clear message. No input (torrent, file on disk, resume file)
//! can make this crate panic.
//!
//! BEP 47 pad files are never on disk: they are the gaps between files in `Info::files`, read as
//! zeros and never written. [`Storage::apply_attributes`] sets executable bits and creates
//! symlinks once a torrent is complete.

mod attrs;
mod check;
mod error;
mod fd_cache;
pub mod file_map;
mod files;
pub mod resume;

pub use error::Error;
pub use fd_cache::FdCache;
pub use file_map::Segment;
pub use files::Storage;
pub use resume::{FileStat, ResumeData};

use metainfo::Info;
use sha1::{Digest, Sha1};

/// SHA-1 of `data` (the `sha1` crate, which picks SHA-NI at run time when the CPU has it).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// True when `data` (the whole piece, pad bytes included) hashes to what the torrent lists for
/// `piece`: its SHA-1 for a v1 or hybrid torrent, the SHA-256 Merkle hash of the piece's part of
/// its file for a v2-only one (BEP 52). False for an unknown piece.
pub fn piece_hash_matches(info: &Info, piece: u32, data: &[u8]) -> bool {
    if let Some(v2) = info.v2_piece_matches(piece, data) {
        return v2;
    }
    info.pieces
        .get(piece as usize)
        .is_some_and(|expected| expected == sha1(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(
            sha1(b"abc"),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
        assert_eq!(
            sha1(b""),
            [
                0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60,
                0x18, 0x90, 0xaf, 0xd8, 0x07, 0x09
            ]
        );
    }

    #[test]
    fn piece_hash_matches_checks_index_and_content() {
        let info = Info {
            name: "x".into(),
            piece_length: 16384,
            pieces: vec![sha1(b"hello")].into(),
            files: vec![metainfo::FileEntry {
                path: "x".into(),
                length: 5,
                offset: 0,
            }],
            multi_file: false,
            private: false,
            total_length: 5,
            v2: None,
        };
        assert!(piece_hash_matches(&info, 0, b"hello"));
        assert!(!piece_hash_matches(&info, 0, b"hellO"));
        assert!(!piece_hash_matches(&info, 1, b"hello"));
    }
}
