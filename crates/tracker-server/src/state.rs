//! The state file: completed-download counts per info-hash, kept across restarts.
//!
//! Format: JSON `{"version":1,"completed":{"<40 hex>":n,…}}`. Written atomically: a temp file
//! beside the target, `fsync`, `rename`, then `fsync` of the directory, so a crash leaves either
//! the old or the new file, never a torn one. Blocking: call from `spawn_blocking`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use metainfo::InfoHash;
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    completed: BTreeMap<String, u64>,
}

/// Why the state file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file i/o")]
    Io(#[from] std::io::Error),
    /// The file is not a state file we understand.
    #[error("state file is malformed")]
    Malformed(#[source] serde_json::Error),
    /// The file was written by a newer version.
    #[error("state file version {0} is not supported")]
    Version(u32),
}

/// Reads the counts; a missing file means no counts yet.
pub(crate) fn load(path: &Path) -> Result<Vec<(InfoHash, u64)>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let file: StateFile = serde_json::from_slice(&bytes).map_err(StateError::Malformed)?;
    if file.version != VERSION {
        return Err(StateError::Version(file.version));
    }
    let mut out = Vec::with_capacity(file.completed.len());
    for (hex, n) in file.completed {
        match InfoHash::from_hex(&hex) {
            Some(ih) => out.push((ih, n)),
            None => {
                tracing::warn!(key = %hex, "state file: ignoring a key that is not an info-hash")
            }
        }
    }
    Ok(out)
}

/// Writes the counts atomically.
pub(crate) fn save(path: &Path, counts: &[(InfoHash, u64)]) -> Result<(), StateError> {
    let file = StateFile {
        version: VERSION,
        completed: counts.iter().map(|(ih, n)| (ih.to_hex(), *n)).collect(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(StateError::Malformed)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "state".into());
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tracker.json");
        assert!(load(&path).unwrap().is_empty());
        let counts = vec![(InfoHash([1; 20]), 3), (InfoHash([0xab; 20]), 1)];
        save(&path, &counts).unwrap();
        assert_eq!(load(&path).unwrap(), counts);
        save(&path, &counts[..1]).unwrap();
        assert_eq!(load(&path).unwrap(), counts[..1]);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("tracker.json")],
            "no temp file left behind"
        );
    }

    #[test]
    fn malformed_and_future_versions_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(load(&path), Err(StateError::Malformed(_))));
        std::fs::write(&path, br#"{"version":9,"completed":{}}"#).unwrap();
        assert!(matches!(load(&path), Err(StateError::Version(9))));
    }
}
