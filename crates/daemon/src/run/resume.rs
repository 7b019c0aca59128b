//! Resume data (`<state-dir>/resume/<infohash>.resume`): where it lives, and saving it.
//!
//! Everything here blocks on the file system: callers use `spawn_blocking`.
//!
//! Saving keeps the rule that a saved bitfield never claims a piece that is not on disk: the
//! bitfield is taken first, then the files are `fsync`ed, then their sizes and mtimes are taken.
//! Any later write changes an mtime, so the next start rechecks instead of trusting stale data.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use engine::TorrentHandle;
use metainfo::{Bitfield, InfoHash};
use storage::ResumeData;

/// Subdirectory of the state directory holding resume files.
pub const RESUME_DIR: &str = "resume";

/// Resume files of torrents no longer watched are removed once unchanged this long.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Removes the resume files (and leftover temporary files) in `resume_dir` of torrents not in
/// `keep` that were not modified for `stale_after`; other files are left alone. Returns how many
/// were removed.
pub fn remove_stale(
    resume_dir: &Path,
    keep: &HashSet<InfoHash>,
    stale_after: Duration,
    now: SystemTime,
) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(resume_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = match name.strip_suffix(".resume") {
            Some(hex) => InfoHash::from_hex(hex).is_some_and(|h| !keep.contains(&h)),
            None => name.starts_with('.') && name.ends_with(".tmp"),
        };
        if !ours {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= stale_after);
        if meta.is_file() && old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_resume_files_of_unwatched_torrents_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let (kept, gone, fresh) = (InfoHash([1; 20]), InfoHash([2; 20]), InfoHash([3; 20]));
        for h in [kept, gone, fresh] {
            std::fs::write(resume_path(d.path(), &h), b"x").unwrap();
        }
        std::fs::write(d.path().join("notes.txt"), b"operator's").unwrap();
        std::fs::write(d.path().join(".x.resume.1.2.tmp"), b"left over").unwrap();
        let month = Duration::from_secs(31 * 24 * 3600);
        let later = SystemTime::now() + month;
        // `fresh` was written just now (as `later` sees it).
        let future = std::fs::File::options()
            .write(true)
            .open(resume_path(d.path(), &fresh))
            .unwrap();
        future.set_modified(later).unwrap();
        let keep: HashSet<InfoHash> = [kept].into();
        assert_eq!(
            remove_stale(d.path(), &keep, STALE_AFTER, SystemTime::now()).unwrap(),
            0
        );
        assert_eq!(
            remove_stale(d.path(), &keep, STALE_AFTER, later).unwrap(),
            2
        );
        assert!(resume_path(d.path(), &kept).exists());
        assert!(!resume_path(d.path(), &gone).exists());
        assert!(resume_path(d.path(), &fresh).exists());
        assert!(d.path().join("notes.txt").exists());
        assert!(!d.path().join(".x.resume.1.2.tmp").exists());
    }
}
