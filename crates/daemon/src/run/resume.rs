//! Resume data (`<state-dir>/resume/<infohash>.resume`): where it lives, and saving it.
//!
//! Everything here blocks on the file system: callers use `spawn_blocking`.
//!
//! Saving keeps the rule that a saved bitfield never claims a piece that is not on disk: the
//! bitfield is taken first, then the files are `fsync`ed, then their sizes and mtimes are taken.
//! Any later write changes an mtime, so the next start rechecks instead of trusting stale data.

use std::path::{Path, PathBuf};

use engine::TorrentHandle;
use metainfo::{Bitfield, InfoHash};
use storage::ResumeData;

/// Subdirectory of the state directory holding resume files.
pub const RESUME_DIR: &str = "resume";

/// Path of the resume file of `info_hash`.
pub fn resume_path(resume_dir: &Path, info_hash: &InfoHash) -> PathBuf {
    resume_dir.join(format!("{}.resume", info_hash.to_hex()))
}

/// What a save recorded; a torrent whose key has not changed need not be saved again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveKey {
    /// Pieces present.
    pub pieces: u32,
    /// Lifetime bytes uploaded.
    pub uploaded: u64,
    /// Lifetime bytes downloaded.
    pub downloaded: u64,
}

/// The key the torrent would be saved with now.
pub fn current_key(handle: &TorrentHandle, lifetime: (u64, u64)) -> SaveKey {
    let (up, down) = handle.transferred();
    SaveKey {
        pieces: handle.stats().pieces_have,
        uploaded: lifetime.0.saturating_add(up),
        downloaded: lifetime.1.saturating_add(down),
    }
}

/// The key of freshly loaded resume data (so an unchanged torrent is not saved again).
pub fn loaded_key(have: &Bitfield, lifetime: (u64, u64)) -> SaveKey {
    SaveKey {
        pieces: have.count(),
        uploaded: lifetime.0,
        downloaded: lifetime.1,
    }
}

/// Saves `handle`'s resume data to `path` (the engine's snapshot: bitfield, then `fsync`, then
/// file stats).
pub fn save(
    handle: &TorrentHandle,
    lifetime: (u64, u64),
    path: &Path,
) -> Result<SaveKey, storage::Error> {
    let snap = handle.resume_snapshot()?;
    let have = snap.have;
    let data = ResumeData {
        info_hash: handle.info_hash().0,
        piece_count: have.len(),
        have: have.as_bytes().to_vec(),
        files: snap.files,
        uploaded: lifetime.0.saturating_add(snap.uploaded),
        downloaded: lifetime.1.saturating_add(snap.downloaded),
    };
    data.save(path)?;
    Ok(SaveKey {
        pieces: have.count(),
        uploaded: data.uploaded,
        downloaded: data.downloaded,
    })
}

/// An error and its sources on one line (the engine's printer, one for the workspace).
pub use engine::error_chain as chain;
