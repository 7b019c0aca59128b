//! Getting a `.torrent` ready to run: read and parse it, find its data directory and load its
//! resume data (checked against the files on disk).
//!
//! Everything here blocks on the file system: callers use `spawn_blocking`.

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use metainfo::{Bitfield, Metainfo};
use storage::{FileStat, ResumeData};

use super::resume::{chain, resume_path};

/// Largest `.torrent` file read.
const MAX_TORRENT_LEN: u64 = 64 << 20;

/// Why a `.torrent` file is not a usable torrent (shown in the status, logged once).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The file cannot be read.
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    /// The file is empty (often: still being written).
    #[error("the file is empty")]
    Empty,
    /// The file is too large to be a torrent.
    #[error("larger than 64 MiB, not a torrent")]
    TooLarge,
    /// The path is not a regular file (a FIFO, a device, a directory) by the time it is read.
    #[error("not a regular file")]
    NotRegular,
    /// Reading it took longer than the scan allows (a hung file system).
    #[error("reading it timed out")]
    TimedOut,
    /// The file does not parse as a torrent.
    #[error(transparent)]
    Invalid(#[from] metainfo::Error),
    /// A `.magnet` file that does not hold a usable magnet URI.
    #[error("not a usable magnet link")]
    Magnet(#[from] metainfo::magnet::MagnetError),
    /// Not an error: a `.magnet` whose metadata is not in the state directory yet. The
    /// reconciler fetches it (BEP 9) and reads the file again when it is there.
    #[error("its metadata is not fetched yet")]
    NeedsMetadata(Box<metainfo::magnet::Magnet>),
}

/// Largest `.magnet` file read.
const MAX_MAGNET_LEN: u64 = 64 << 10;

/// Where the metadata fetched for magnet links is kept: `STATE/metadata/HASH.torrent` (the
/// watch directory is never written).
pub fn metadata_path(resume_dir: &Path, info_hash: &metainfo::InfoHash) -> PathBuf {
    resume_dir
        .with_file_name(METADATA_DIR)
        .join(format!("{}.torrent", info_hash.to_hex()))
}

/// Name of the metadata directory in the state directory.
pub const METADATA_DIR: &str = "metadata";

/// Reads a `.magnet` file: the torrent from the metadata fetched earlier, or
/// [`PrepareError::NeedsMetadata`].
fn read_magnet(path: &Path, resume_dir: &Path) -> Result<Metainfo, PrepareError> {
    let mut text = String::new();
    open_regular(path)?
        .take(MAX_MAGNET_LEN)
        .read_to_string(&mut text)
        .map_err(PrepareError::Read)?;
    let uri = text.trim();
    if uri.is_empty() {
        return Err(PrepareError::Empty);
    }
    let magnet = metainfo::magnet::Magnet::parse(uri)?;
    let hash = magnet
        .swarm_hash()
        .ok_or(metainfo::magnet::MagnetError::MissingHash)?;
    if let Ok(bytes) = std::fs::read(metadata_path(resume_dir, &hash))
        && let Ok(meta) = Metainfo::from_bytes(&bytes)
        && meta.swarm_hashes().contains(&hash)
    {
        return Ok(meta);
    }
    Err(PrepareError::NeedsMetadata(Box::new(magnet)))
}

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

/// Opens `path` for reading with `O_NONBLOCK` (a FIFO put in place of a watched file opens at
/// once instead of waiting for a writer) and checks that it is a regular file.
fn open_regular(path: &Path) -> Result<std::fs::File, PrepareError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(PrepareError::Read)?;
    if !file.metadata().map_err(PrepareError::Read)?.is_file() {
        return Err(PrepareError::NotRegular);
    }
    Ok(file)
}

/// Reads a `.torrent` file without ever blocking on what is not one: opened with `O_NONBLOCK`
/// (a FIFO put in its place after the listing opens at once instead of waiting for a writer),
/// then checked to be a regular file and not oversized by its metadata, before any byte is
/// read (an oversized file costs a `stat`, not 64 MiB, on every retry).
fn read_torrent_file(torrent: &Path) -> Result<Vec<u8>, PrepareError> {
    let file = open_regular(torrent)?;
    let meta = file.metadata().map_err(PrepareError::Read)?;
    if meta.len() > MAX_TORRENT_LEN {
        return Err(PrepareError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_TORRENT_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(PrepareError::Read)?;
    Ok(bytes)
}

/// Reads and parses `torrent`, picks its data directory (`data_root`, else the `.torrent`'s
/// directory) and loads its resume data. `Err` is why the file is not a usable torrent.
pub fn prepare(
    torrent: &Path,
    data_root: Option<&Path>,
    resume_dir: &Path,
) -> Result<Prepared, PrepareError> {
    let meta = if super::watch::is_magnet_file(torrent) {
        read_magnet(torrent, resume_dir)?
    } else {
        let bytes = read_torrent_file(torrent)?;
        if bytes.is_empty() {
            return Err(PrepareError::Empty);
        }
        if bytes.len() as u64 > MAX_TORRENT_LEN {
            return Err(PrepareError::TooLarge);
        }
        // The hashes of a seeding torrent are dropped and read again from this file when needed.
        Metainfo::from_bytes(&bytes)?.with_hash_source(torrent.to_path_buf())
    };
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
        assert!(chain(&prepare(&p, None, d.path()).unwrap_err()).contains("empty"));
        let full = torrent_bytes("a.bin", b"hello");
        std::fs::write(&p, &full[..full.len() - 3]).unwrap();
        let e = chain(&prepare(&p, None, d.path()).unwrap_err());
        assert!(e.contains("bencode"), "{e}");
        let e = chain(&prepare(&d.path().join("none.torrent"), None, d.path()).unwrap_err());
        assert!(e.starts_with("cannot read it: "), "{e}");
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

    /// A FIFO where a `.torrent` was listed (the race of issue 17): before, `open` waited for
    /// a writer forever and the daemon never scanned again; now it fails at once.
    #[test]
    fn a_fifo_in_place_of_a_torrent_fails_at_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.torrent");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (path, resume) = (p.clone(), d.path().to_path_buf());
        std::thread::spawn(move || {
            let _ = tx.send(prepare(&path, None, &resume).map(|_| ()));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("prepare blocked on a FIFO");
        assert!(matches!(r, Err(PrepareError::NotRegular)), "{r:?}");
    }

    /// An oversized file is refused by its size, before any byte is read.
    #[test]
    fn an_oversized_file_is_refused_by_its_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.torrent");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_TORRENT_LEN + 1).unwrap(); // sparse
        assert!(matches!(read_torrent_file(&p), Err(PrepareError::TooLarge)));
    }
}
