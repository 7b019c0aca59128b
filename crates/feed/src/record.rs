//! The feed's own record: what it wrote into its directory (name, size, mtime, SHA-1 of the
//! bytes, source URL), the validators of its last good fetch, and when that was. A JSON file in
//! the state directory, written to a temporary name, synced and renamed into place.
//!
//! Only files in the record are ever replaced or removed, and only while they are as written:
//! anything else in the directory belongs to the operator.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

use crate::error::FeedError;
use crate::fetch::Validators;

/// The record's format version.
const VERSION: u32 = 1;

/// A file this feed wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Held {
    /// Its length in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
    /// SHA-1 of its bytes, hex.
    pub sha1: String,
    /// The URL it came from.
    pub source: String,
}

/// How a held file looks on disk now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnDisk {
    /// Same size and mtime as written.
    AsWritten,
    /// Different size or mtime, or no longer a regular file.
    Changed,
    /// Not there (removed or renamed).
    Gone,
}

impl Held {
    /// Describes `bytes`, written from `source` and now with metadata `meta`.
    pub fn new(bytes: &[u8], source: &str, meta: &fs::Metadata) -> Self {
        Self {
            size: meta.len(),
            mtime_ns: mtime_ns(meta),
            sha1: sha1_hex(bytes),
            source: source.to_owned(),
        }
    }

    /// Compares with the file at `path` by size and mtime (no reading).
    pub fn check(&self, path: &Path) -> io::Result<OnDisk> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_file() && m.len() == self.size && mtime_ns(&m) == self.mtime_ns => {
                Ok(OnDisk::AsWritten)
            }
            Ok(_) => Ok(OnDisk::Changed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(OnDisk::Gone),
            Err(e) => Err(e),
        }
    }

    /// True when the file at `path` is as written, its bytes included.
    pub fn verify(&self, path: &Path) -> io::Result<bool> {
        if self.check(path)? != OnDisk::AsWritten {
            return Ok(false);
        }
        Ok(sha1_hex(&fs::read(path)?) == self.sha1)
    }
}

/// Modification time in nanoseconds since the epoch (0 when unknown).
fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// SHA-1 of `bytes`, lowercase hex.
pub(crate) fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Everything a feed remembers between fetches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Format version.
    pub version: u32,
    /// The feed's URL (for the operator reading the file).
    pub url: String,
    /// Its directory.
    pub into: PathBuf,
    /// `ETag` of the last good fetch.
    pub etag: Option<String>,
    /// `Last-Modified` of the last good fetch.
    pub last_modified: Option<String>,
    /// When the last fetch succeeded, seconds since the epoch.
    pub last_success: Option<u64>,
    /// Files written, by name.
    pub files: BTreeMap<String, Held>,
}

impl Record {
    /// An empty record of a feed.
    pub fn new(url: &str, into: &Path) -> Self {
        Self {
            version: VERSION,
            url: url.to_owned(),
            into: into.to_path_buf(),
            ..Self::default()
        }
    }

    /// The validators to send.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        }
    }

    /// The time of the last success.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.last_success
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
    }

    /// Reads the record at `path`; a missing file is an empty record. A file that does not
    /// parse is moved aside (`.corrupt`) and an empty record returned: an empty record owns
    /// nothing, so the worst outcome is that files of the feed are left alone as if the
    /// operator's.
    pub fn load(path: &Path, url: &str, into: &Path) -> Result<Self, FeedError> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::new(url, into)),
            Err(e) => return Err(FeedError::io(path)(e)),
        };
        match serde_json::from_slice::<Record>(&text) {
            Ok(r) if r.version == VERSION => Ok(r),
            other => {
                let aside = path.with_extension("json.corrupt");
                tracing::warn!(
                    record = %path.display(),
                    error = ?other.err().map(|e| e.to_string()),
                    "feed record unreadable: moved aside, starting afresh (its files are left alone)"
                );
                fs::rename(path, &aside).map_err(FeedError::io(path))?;
                Ok(Self::new(url, into))
            }
        }
    }

    /// Writes the record to `path` atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), FeedError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| FeedError::io(path)(e.into()))?;
        let tmp = path.with_extension("json.tmp");
        let write = || -> io::Result<()> {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut f = File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                // Makes the rename durable; not every file system can sync a directory.
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(())
        };
        write().map_err(FeedError::io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/f.json");
        let mut r = Record::new("http://x/", Path::new("/t"));
        assert_eq!(
            Record::load(&path, "http://x/", Path::new("/t")).expect("load"),
            r
        );
        r.etag = Some("\"abc\"".into());
        r.files.insert(
            "a.torrent".into(),
            Held {
                size: 3,
                mtime_ns: 5,
                sha1: sha1_hex(b"abc"),
                source: "http://x/a.torrent".into(),
            },
        );
        r.save(&path).expect("save");
        assert_eq!(
            Record::load(&path, "http://x/", Path::new("/t")).expect("load"),
            r
        );
        fs::write(&path, b"{ not json").expect("write");
        let fresh = Record::load(&path, "http://x/", Path::new("/t")).expect("load");
        assert!(fresh.files.is_empty());
        assert!(path.with_extension("json.corrupt").exists());
    }

    #[test]
    fn held_files_are_checked_by_stamp_and_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.torrent");
        fs::write(&path, b"abc").expect("write");
        let meta = fs::metadata(&path).expect("meta");
        let held = Held::new(b"abc", "http://x/a.torrent", &meta);
        assert_eq!(held.check(&path).expect("check"), OnDisk::AsWritten);
        assert!(held.verify(&path).expect("verify"));
        // Same size, same mtime, other bytes: only the hash tells.
        fs::write(&path, b"xyz").expect("write");
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(meta.modified()?))
            .expect("set mtime");
        assert_eq!(held.check(&path).expect("check"), OnDisk::AsWritten);
        assert!(!held.verify(&path).expect("verify"));
        fs::write(&path, b"abcd").expect("write");
        assert_eq!(held.check(&path).expect("check"), OnDisk::Changed);
        fs::remove_file(&path).expect("rm");
        assert_eq!(held.check(&path).expect("check"), OnDisk::Gone);
    }
}
