//! Getting a `.torrent` ready to run (read, parse, find its data and its resume data), and
//! saving resume data (`<state-dir>/resume/<infohash>.resume`).
//!
//! Everything here blocks on the file system: callers use `spawn_blocking`.
//!
//! Saving keeps the rule that a saved bitfield never claims a piece that is not on disk: the
//! bitfield is taken first, then the files are `fsync`ed, then their sizes and mtimes are taken.
//! Any later write changes an mtime, so the next start rechecks instead of trusting stale data.

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::TorrentHandle;
use metainfo::{Bitfield, InfoHash, Metainfo};
use storage::{FileStat, ResumeData};

/// Largest `.torrent` file read.
const MAX_TORRENT_LEN: u64 = 64 << 20;
/// Subdirectory of the state directory holding resume files.
pub const RESUME_DIR: &str = "resume";

/// A parsed torrent with everything needed to add it to the session.
#[derive(Debug)]
pub struct Prepared {
    /// The torrent.
    pub meta: Arc<Metainfo>,
    /// Directory its files are joined to.
    pub data_dir: PathBuf,
    /// Trusted pieces from resume data whose files still match.
    pub have: Option<Bitfield>,
    /// Lifetime (uploaded, downloaded) from earlier runs.
    pub lifetime: (u64, u64),
    /// File system (device id) the data lives on, for the per-file-system check limit.
    pub device: u64,
    /// What became of the resume data.
    pub resume: ResumeNote,
}

/// What the resume data said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeNote {
    /// There was none.
    Missing,
    /// It matched the files: no check needed.
    Resumed,
    /// The files changed since it was saved: check.
    FilesChanged,
    /// It could not be used (corrupt, or for another torrent): check.
    Unusable(String),
}

/// Path of the resume file of `info_hash`.
pub fn resume_path(resume_dir: &Path, info_hash: &InfoHash) -> PathBuf {
    resume_dir.join(format!("{}.resume", info_hash.to_hex()))
}

/// Reads and parses `torrent`, picks its data directory (`data_root`, else the `.torrent`'s
/// directory) and loads its resume data. `Err` is the reason the file is not a usable torrent.
pub fn prepare(
    torrent: &Path,
    data_root: Option<&Path>,
    resume_dir: &Path,
) -> Result<Prepared, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(torrent)
        .and_then(|f| f.take(MAX_TORRENT_LEN + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.is_empty() {
        return Err("the file is empty".to_owned());
    }
    if bytes.len() as u64 > MAX_TORRENT_LEN {
        return Err("larger than 64 MiB, not a torrent".to_owned());
    }
    let meta = Metainfo::from_bytes(&bytes).map_err(|e| chain(&e))?;
    let data_dir = match data_root {
        Some(d) => d.to_path_buf(),
        None => torrent
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let current: Vec<Option<FileStat>> = meta
        .info
        .files
        .iter()
        .map(|f| {
            std::fs::metadata(data_dir.join(&f.path))
                .ok()
                .map(|m| FileStat::from_metadata(&m))
        })
        .collect();
    let (have, lifetime, resume) = match ResumeData::load(&resume_path(resume_dir, &meta.info_hash))
    {
        Ok(None) => (None, (0, 0), ResumeNote::Missing),
        Ok(Some(r)) if r.info_hash != meta.info_hash.0 => (
            None,
            (0, 0),
            ResumeNote::Unusable("it is for another torrent".to_owned()),
        ),
        Ok(Some(r)) => {
            let lifetime = (r.uploaded, r.downloaded);
            let fits = r.piece_count == meta.info.piece_count();
            match r.bitfield() {
                Some(b) if fits && r.matches(&current) => (Some(b), lifetime, ResumeNote::Resumed),
                _ if !fits => (
                    None,
                    lifetime,
                    ResumeNote::Unusable("its piece count differs".to_owned()),
                ),
                _ => (None, lifetime, ResumeNote::FilesChanged),
            }
        }
        Err(e) => (None, (0, 0), ResumeNote::Unusable(chain(&e))),
    };
    Ok(Prepared {
        device: device_of(&data_dir),
        meta: Arc::new(meta),
        data_dir,
        have,
        lifetime,
        resume,
    })
}

/// The device id of `dir` or of its closest existing ancestor (0 when none can be read).
fn device_of(dir: &Path) -> u64 {
    dir.ancestors()
        .find_map(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.dev())
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

/// Saves `handle`'s resume data to `path` (the engine's snapshot: bitfield, fsync, file stats).
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
pub(crate) mod tests {
    use super::*;

    /// A one-file torrent of `data` (one piece) named `name`.
    pub(crate) fn torrent_bytes(name: &str, data: &[u8]) -> Vec<u8> {
        let hash = storage::sha1(data);
        let mut info = Vec::new();
        info.extend_from_slice(
            format!("d6:lengthi{}e4:name{}:{}", data.len(), name.len(), name).as_bytes(),
        );
        info.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
        info.extend_from_slice(&hash);
        info.push(b'e');
        let mut t = b"d8:announce22:http://127.0.0.1:1/ann4:info".to_vec();
        t.extend_from_slice(&info);
        t.push(b'e');
        t
    }

    #[test]
    fn prepare_reports_why_a_file_is_unusable() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.torrent");
        std::fs::write(&p, b"").unwrap();
        assert!(prepare(&p, None, d.path()).unwrap_err().contains("empty"));
        let full = torrent_bytes("a.bin", b"hello");
        std::fs::write(&p, &full[..full.len() - 3]).unwrap();
        let e = prepare(&p, None, d.path()).unwrap_err();
        assert!(e.contains("bencode"), "{e}");
        assert!(
            prepare(&d.path().join("none.torrent"), None, d.path())
                .unwrap_err()
                .contains("cannot read")
        );
    }

    #[test]
    fn prepare_uses_matching_resume_data_only() {
        let d = tempfile::tempdir().unwrap();
        let resume_dir = d.path().join("resume");
        std::fs::create_dir(&resume_dir).unwrap();
        let p = d.path().join("a.bin.torrent");
        std::fs::write(&p, torrent_bytes("a.bin", b"hello")).unwrap();
        std::fs::write(d.path().join("a.bin"), b"hello").unwrap();
        let first = prepare(&p, None, &resume_dir).unwrap();
        assert_eq!(first.resume, ResumeNote::Missing);
        assert_eq!(first.data_dir, d.path());
        assert!(first.have.is_none());

        let stat = FileStat::from_metadata(&std::fs::metadata(d.path().join("a.bin")).unwrap());
        let data = ResumeData {
            info_hash: first.meta.info_hash.0,
            piece_count: 1,
            have: Bitfield::full(1).as_bytes().to_vec(),
            files: vec![Some(stat)],
            uploaded: 7,
            downloaded: 9,
        };
        data.save(&resume_path(&resume_dir, &first.meta.info_hash))
            .unwrap();
        let second = prepare(&p, None, &resume_dir).unwrap();
        assert_eq!(second.resume, ResumeNote::Resumed);
        assert_eq!(second.lifetime, (7, 9));
        assert!(second.have.unwrap().is_full());

        // Same size, other mtime: recheck, but keep the lifetime counters.
        let f = std::fs::File::options()
            .write(true)
            .open(d.path().join("a.bin"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        let third = prepare(&p, None, &resume_dir).unwrap();
        assert_eq!(third.resume, ResumeNote::FilesChanged);
        assert!(third.have.is_none());
        assert_eq!(third.lifetime, (7, 9));

        // Another data root: data is looked for there.
        let other = d.path().join("data");
        let fourth = prepare(&p, Some(&other), &resume_dir).unwrap();
        assert_eq!(fourth.data_dir, other);
        assert_eq!(fourth.resume, ResumeNote::FilesChanged);
    }
}
