//! Resume data: which pieces a torrent had, and the size and mtime of its files when that was
//! recorded, so a restart can skip the full check when nothing changed on disk.
//!
//! File format (all integers little-endian), small and self-checking:
//!
//! ```text
//! magic "BTMRESUM" | version u32 = 1 | body length u32 | body | SHA-1 of everything before it
//! body: info_hash [20] | piece_count u32 | uploaded u64 | downloaded u64
//!       | have length u32 | have bytes | file count u32
//!       | per file: 0u8 (missing) or 1u8, len u64, mtime seconds i64, mtime nanoseconds u32
//! ```
//!
//! Saving is atomic: a temporary file in the same directory is written, `fsync`ed and renamed
//! over the old one, then the directory is `fsync`ed.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use metainfo::Bitfield;

use crate::error::Error;

const MAGIC: &[u8; 8] = b"BTMRESUM";
const VERSION: u32 = 1;
/// Header: magic, version, body length.
const HEADER_LEN: usize = 16;
const CHECKSUM_LEN: usize = 20;
/// Refuse to read resume files larger than this (a bitfield for 2^32 pieces is 512 MiB, but no
/// sane torrent comes close; 64 MiB allows hundreds of millions of pieces or a million files).
const MAX_FILE_LEN: u64 = 64 << 20;

/// Size and modification time of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// Length in bytes.
    pub len: u64,
    /// Modification time, whole seconds since the Unix epoch.
    pub mtime_secs: i64,
    /// Nanoseconds part of the modification time (< 10^9).
    pub mtime_nanos: u32,
}

impl FileStat {
    /// The stat of a file from its metadata.
    pub fn from_metadata(meta: &Metadata) -> Self {
        Self {
            len: meta.len(),
            mtime_secs: meta.mtime(),
            mtime_nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        }
    }
}

/// What is saved for a torrent between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    /// The torrent this is for.
    pub info_hash: [u8; 20],
    /// Number of pieces of the torrent (the length of `have` in bits).
    pub piece_count: u32,
    /// Bitfield bytes of the verified pieces, as [`Bitfield::as_bytes`].
    pub have: Vec<u8>,
    /// Stat of every file at save time, `None` for a missing file (as [`crate::Storage::file_stats`]).
    pub files: Vec<Option<FileStat>>,
    /// Bytes uploaded over the torrent's lifetime.
    pub uploaded: u64,
    /// Bytes downloaded over the torrent's lifetime.
    pub downloaded: u64,
}

impl ResumeData {
    /// True when the files on disk look exactly as they did when this was saved: same number of
    /// files, and each one equally missing or of the same size and mtime.
    pub fn matches(&self, current: &[Option<FileStat>]) -> bool {
        self.files.as_slice() == current
    }

    /// `have` as a [`Bitfield`] (`None` if it does not fit `piece_count`, which `load` rules out).
    pub fn bitfield(&self) -> Option<Bitfield> {
        Bitfield::from_bytes(&self.have, self.piece_count)
    }

    /// Writes this to `path` atomically (temporary file, `fsync`, rename, `fsync` of the directory).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let bytes = self.encode();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map_or_else(|| "resume".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = write_synced(&tmp, &bytes).and_then(|()| {
            fs::rename(&tmp, path).map_err(|e| Error::io(path, "renaming a temporary file to", e))
        });
        if result.is_err() {
            // Best effort: the temporary file is garbage either way.
            let _ = fs::remove_file(&tmp);
            return result;
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, "syncing directory", e))
    }

    /// Reads resume data from `path`: `Ok(None)` when there is none, [`Error::CorruptResume`] when
    /// the file is truncated, corrupt or of another version.
    pub fn load(path: &Path) -> Result<Option<Self>, Error> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, "opening", e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, "reading", e))?;
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(corrupt(path, "file too large"));
        }
        Self::decode(&bytes)
            .map(Some)
            .map_err(|reason| corrupt(path, reason))
    }

    /// The file contents: header, body, checksum.
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64 + self.have.len() + self.files.len() * 21);
        body.extend_from_slice(&self.info_hash);
        body.extend_from_slice(&self.piece_count.to_le_bytes());
        body.extend_from_slice(&self.uploaded.to_le_bytes());
        body.extend_from_slice(&self.downloaded.to_le_bytes());
        put_len(&mut body, self.have.len());
        body.extend_from_slice(&self.have);
        put_len(&mut body, self.files.len());
        for stat in &self.files {
            match stat {
                None => body.push(0),
                Some(s) => {
                    body.push(1);
                    body.extend_from_slice(&s.len.to_le_bytes());
                    body.extend_from_slice(&s.mtime_secs.to_le_bytes());
                    body.extend_from_slice(&s.mtime_nanos.to_le_bytes());
                }
            }
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + CHECKSUM_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_len(&mut out, body.len());
        out.extend_from_slice(&body);
        let checksum = crate::sha1(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Parses and validates file contents (what [`ResumeData::load`] does after reading;
    /// public for the fuzz target). `Err` says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not a resume file");
        }
        if r.u32()? != VERSION {
            return Err("unknown version");
        }
        let body_len = r.u32()? as usize;
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN
            || body_len != bytes.len() - HEADER_LEN - CHECKSUM_LEN
        {
            return Err("truncated or overlong");
        }
        let (content, checksum) = bytes.split_at(HEADER_LEN + body_len);
        if crate::sha1(content) != checksum {
            return Err("checksum mismatch");
        }
        let mut r = Reader(content.get(HEADER_LEN..).ok_or("truncated")?);
        let info_hash = r.array::<20>()?;
        let piece_count = r.u32()?;
        let uploaded = r.u64()?;
        let downloaded = r.u64()?;
        let have_len = r.u32()? as usize;
        let have = r.take(have_len)?.to_vec();
        if Bitfield::from_bytes(&have, piece_count).is_none() {
            return Err("bitfield does not match the piece count");
        }
        let file_count = r.u32()? as usize;
        // Every entry takes at least one byte, so this bounds the allocation by the file size.
        let mut files = Vec::with_capacity(file_count.min(r.0.len()));
        for _ in 0..file_count {
            files.push(match r.u8()? {
                0 => None,
                1 => {
                    let stat = FileStat {
                        len: r.u64()?,
                        mtime_secs: r.i64()?,
                        mtime_nanos: r.u32()?,
                    };
                    if stat.mtime_nanos >= 1_000_000_000 {
                        return Err("bad modification time");
                    }
                    Some(stat)
                }
                _ => return Err("bad file entry"),
            });
        }
        if !r.0.is_empty() {
            return Err("trailing bytes");
        }
        Ok(Self {
            info_hash,
            piece_count,
            have,
            files,
            uploaded,
            downloaded,
        })
    }
}

fn corrupt(path: &Path, reason: &'static str) -> Error {
    Error::CorruptResume {
        path: PathBuf::from(path),
        reason,
    }
}

/// Appends a length as u32 (lengths here are bounded far below 4 GiB by the torrent itself).
fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// Creates (or truncates) `path`, writes `bytes` and `fsync`s it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::create(path).map_err(|e| Error::io(path, "creating", e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io(path, "writing", e))?;
    file.sync_all().map_err(|e| Error::io(path, "syncing", e))
}

/// A cursor over the bytes being decoded; every read fails cleanly at the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.0.len() {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "truncated")
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, &'static str> {
        self.array().map(i64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResumeData {
        let mut have = Bitfield::new(11);
        have.set(0);
        have.set(10);
        ResumeData {
            info_hash: [7; 20],
            piece_count: 11,
            have: have.as_bytes().to_vec(),
            files: vec![
                Some(FileStat {
                    len: 12345,
                    mtime_secs: 1_700_000_000,
                    mtime_nanos: 999_999_999,
                }),
                None,
                Some(FileStat {
                    len: 0,
                    mtime_secs: -5,
                    mtime_nanos: 0,
                }),
            ],
            uploaded: 1 << 40,
            downloaded: 42,
        }
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.resume");
        assert_eq!(ResumeData::load(&path).unwrap(), None);
        let data = sample();
        data.save(&path).unwrap();
        let loaded = ResumeData::load(&path).unwrap().unwrap();
        assert_eq!(loaded, data);
        assert_eq!(
            loaded.bitfield().unwrap().ones().collect::<Vec<_>>(),
            vec![0, 10]
        );
        // Overwriting works and leaves no temporary files behind.
        let mut second = data.clone();
        second.uploaded += 1;
        second.save(&path).unwrap();
        assert_eq!(ResumeData::load(&path).unwrap(), Some(second));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(ResumeData::decode(&bytes[..len]).is_err(), "length {len}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = ResumeData::load(&path).unwrap_err();
        assert!(matches!(err, Error::CorruptResume { .. }), "{err:?}");
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(ResumeData::decode(&b).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn trailing_garbage_and_other_versions_are_rejected() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(ResumeData::decode(&bytes), Err("truncated or overlong"));
        let mut bytes = sample().encode();
        bytes[8] = 2;
        assert_eq!(ResumeData::decode(&bytes), Err("unknown version"));
    }

    #[test]
    fn inconsistent_bitfield_is_rejected_even_with_a_valid_checksum() {
        let mut data = sample();
        data.piece_count = 30; // needs 4 bytes, has 2
        assert_eq!(
            ResumeData::decode(&data.encode()),
            Err("bitfield does not match the piece count")
        );
    }

    #[test]
    fn matches_compares_every_file() {
        let data = sample();
        assert!(data.matches(&data.files));
        let mut changed = data.files.clone();
        if let Some(Some(s)) = changed.get_mut(0) {
            s.mtime_nanos -= 1;
        }
        assert!(!data.matches(&changed));
        let mut appeared = data.files.clone();
        appeared[1] = Some(FileStat {
            len: 0,
            mtime_secs: 0,
            mtime_nanos: 0,
        });
        assert!(!data.matches(&appeared));
        assert!(!data.matches(&data.files[..2]));
    }

    #[test]
    fn save_into_a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/r");
        assert!(matches!(sample().save(&path), Err(Error::Io { .. })));
    }
}
