//! The allowed dir: which info-hashes the tracker serves, from the `.torrent` files in a directory.
//!
//! A scan reads `DIR/*.torrent` (not recursive), parses each with `metainfo::Metainfo::from_bytes`
//! and maps its info-hash to its name. Files whose size and mtime are unchanged since the last
//! scan are not read again. Invalid or unreadable files are skipped with a warning; they are
//! tried again on the next scan. Blocking: call it from `spawn_blocking`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use metainfo::{InfoHash, Metainfo};

/// Larger files are not torrents anyone publishes; they are skipped unread.
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Seen {
    len: u64,
    mtime: Option<SystemTime>,
    /// `None` when the file did not parse (so it is not parsed again until it changes).
    parsed: Option<(InfoHash, Arc<str>)>,
}

/// Remembers what earlier scans found, so unchanged files are not re-parsed.
#[derive(Debug, Default)]
pub(crate) struct AllowedDir {
    dir: PathBuf,
    seen: HashMap<PathBuf, Seen>,
}

impl AllowedDir {
    /// Scans `dir` on demand.
    pub fn new(dir: PathBuf) -> Self {
        AllowedDir {
            dir,
            seen: HashMap::new(),
        }
    }

    /// The directory scanned.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the directory and returns info-hash → name for every valid `.torrent` in it.
    pub fn scan(&mut self) -> std::io::Result<HashMap<InfoHash, Arc<str>>> {
        let mut seen = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "torrent") {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let (len, mtime) = (meta.len(), meta.modified().ok());
            if let Some(old) = self.seen.remove(&path)
                && old.len == len
                && old.mtime == mtime
            {
                seen.insert(path, old);
                continue;
            }
            let parsed = parse(&path, len);
            seen.insert(path, Seen { len, mtime, parsed });
        }
        self.seen = seen;
        let mut allowed = HashMap::new();
        for (path, s) in &self.seen {
            if let Some((ih, name)) = &s.parsed
                && allowed.insert(*ih, name.clone()).is_some()
            {
                tracing::debug!(path = %path.display(), "duplicate torrent in allowed dir");
            }
        }
        Ok(allowed)
    }
}

fn parse(path: &Path, len: u64) -> Option<(InfoHash, Arc<str>)> {
    if len > MAX_TORRENT_FILE {
        tracing::warn!(path = %path.display(), len, "allowed dir: file too large, skipped");
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "allowed dir: cannot read");
            return None;
        }
    };
    match Metainfo::from_bytes(&bytes) {
        Ok(m) => Some((m.info_hash, Arc::from(m.info.name.as_str()))),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "allowed dir: not a valid torrent");
            None
        }
    }
}
