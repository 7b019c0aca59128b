//! The daemon's traffic counters. This run's bytes never go down while it runs (a torrent that
//! is removed or restarted leaves its bytes in [`Transferred`] of the registry), and the
//! lifetime bytes survive restarts: they are kept in `totals.json` in the state directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// The file in the state directory that holds the lifetime counters.
pub const TOTALS_FILE: &str = "totals.json";

/// Bytes uploaded and downloaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transferred {
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes downloaded.
    pub downloaded: u64,
}

impl Transferred {
    /// The sums of both counters (saturating).
    pub fn plus(self, other: Self) -> Self {
        Self {
            uploaded: self.uploaded.saturating_add(other.uploaded),
            downloaded: self.downloaded.saturating_add(other.downloaded),
        }
    }
}

impl From<&engine::TorrentStats> for Transferred {
    /// A torrent's bytes of this run.
    fn from(s: &engine::TorrentStats) -> Self {
        Self {
            uploaded: s.uploaded,
            downloaded: s.downloaded,
        }
    }
}

/// The file's path in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(TOTALS_FILE)
}

/// The lifetime counters saved in `state_dir`; zeros when there are none yet. A file that
/// cannot be read or parsed is reported and counts as zeros (the next save replaces it).
pub fn load(state_dir: &Path) -> Transferred {
    let file = path(state_dir);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!(file = %file.display(), "the lifetime traffic counters are unreadable ({e}); starting them from 0");
            Transferred::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Transferred::default(),
        Err(e) => {
            warn!(file = %file.display(), "cannot read the lifetime traffic counters ({e}); starting them from 0");
            Transferred::default()
        }
    }
}

/// Saves the lifetime counters in `state_dir` (a temporary file renamed into place).
pub fn save(state_dir: &Path, totals: Transferred) -> std::io::Result<()> {
    let file = path(state_dir);
    let tmp = state_dir.join(format!(".{TOTALS_FILE}.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec(&totals).map_err(std::io::Error::other)?;
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &file)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_counters_load_again_and_garbage_reads_as_zero() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load(d.path()), Transferred::default());
        let t = Transferred {
            uploaded: 5_000_000_000,
            downloaded: 7,
        };
        save(d.path(), t).unwrap();
        assert_eq!(load(d.path()), t);
        std::fs::write(path(d.path()), b"{\"uploaded\":").unwrap();
        assert_eq!(load(d.path()), Transferred::default());
        let big = Transferred {
            uploaded: u64::MAX,
            downloaded: 1,
        };
        assert_eq!(big.plus(t).uploaded, u64::MAX);
    }
}
