//! Watching the directories: listing the `.torrent` files in a directory, and `notify` watchers
//! whose events are only hints that a directory should be listed again soon.
//!
//! Hidden and temporary files (`.*`, `*.part`, `*.tmp`) are ignored, as is anything not named
//! `*.torrent` and anything that is not a regular file (symlinks to files count). Nothing is ever
//! renamed, consumed or deleted.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// What identifies a version of a `.torrent` file: its length and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Length in bytes.
    pub len: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

/// A `.torrent` file found in a watch directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its path (watch directory joined with the file name).
    pub path: PathBuf,
    /// Its current length and mtime.
    pub stamp: Stamp,
}

/// True for names the daemon considers: `*.torrent` and `*.magnet` (any case), not hidden,
/// not temporary.
pub fn is_candidate(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        // Not UTF-8: still fine as long as it ends in `.torrent` and is not hidden.
        let bytes = name.as_encoded_bytes();
        return !bytes.starts_with(b".")
            && bytes.len() > 8
            && bytes
                .get(bytes.len() - 8..)
                .is_some_and(|t| t.eq_ignore_ascii_case(b".torrent"));
    };
    let lower = name.to_ascii_lowercase();
    let kind = [".torrent", ".magnet"]
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext));
    !name.starts_with('.') && kind && !lower.ends_with(".part") && !lower.ends_with(".tmp")
}

/// True for a `NAME.magnet` file (holding one magnet URI).
pub fn is_magnet_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("magnet"))
}

/// Lists the candidate `.torrent` files in `dir` (not recursive). Files that vanish while being
/// listed are skipped.
pub fn list_dir(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !is_candidate(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        // Follows symlinks: a link to a .torrent elsewhere is a .torrent here.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        out.push(Listed {
            path,
            stamp: Stamp {
                len: meta.len(),
                mtime,
            },
        });
    }
    Ok(out)
}

/// A hint from the watchers.
#[derive(Debug, PartialEq, Eq)]
pub enum Hint {
    /// Something changed in this watch directory.
    Changed(PathBuf),
    /// Events were lost (queue overflow) or cannot be attributed: list everything.
    RescanAll,
}

/// One `notify` watcher per watch directory. Directories that cannot be watched (missing,
/// inotify limits) are retried at every [`Watchers::set_dirs`]; the periodic rescan covers them
/// meanwhile.
pub struct Watchers {
    /// Live watchers by directory.
    live: HashMap<PathBuf, RecommendedWatcher>,
    /// Directories whose watcher failed, with the error last logged (logged once per error).
    failed: HashMap<PathBuf, String>,
    /// Where watchers send hints.
    tx: mpsc::UnboundedSender<Hint>,
}

impl Watchers {
    /// No watchers yet, and the receiving end of their hints.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Hint>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let w = Self {
            live: HashMap::new(),
            failed: HashMap::new(),
            tx,
        };
        (w, rx)
    }

    /// Watches exactly `dirs`: starts missing watchers (retrying failed ones), drops others.
    pub fn set_dirs(&mut self, dirs: &[PathBuf]) {
        self.live.retain(|d, _| dirs.contains(d));
        self.failed.retain(|d, _| dirs.contains(d));
        for dir in dirs {
            if self.live.contains_key(dir) {
                continue;
            }
            match self.start(dir) {
                Ok(w) => {
                    if self.failed.remove(dir).is_some() {
                        debug!(dir = %dir.display(), "watching the directory again");
                    }
                    self.live.insert(dir.clone(), w);
                }
                Err(e) => {
                    let msg = e.to_string();
                    if self.failed.get(dir) != Some(&msg) {
                        warn!(dir = %dir.display(), error = %msg,
                            "cannot watch the directory for changes; relying on periodic rescans");
                        self.failed.insert(dir.clone(), msg);
                    }
                }
            }
        }
    }

    fn start(&self, dir: &Path) -> notify::Result<RecommendedWatcher> {
        let tx = self.tx.clone();
        let watched = dir.to_path_buf();
        let mut w = RecommendedWatcher::new(
            move |res: notify::Result<Event>| {
                if let Some(h) = hint(&watched, res) {
                    let _ = tx.send(h);
                }
            },
            notify::Config::default(),
        )?;
        w.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(w)
    }
}

/// The hint for one watcher event (runs on notify's thread), `None` for events that cannot
/// change the set of torrents: reads (our own listing opens the directory, peers read data
/// files) and changes to files that are not candidates (data being downloaded beside the
/// `.torrent` files). Without this filter every listing would trigger the next one.
fn hint(dir: &Path, res: notify::Result<Event>) -> Option<Hint> {
    let ev = match res {
        Ok(ev) => ev,
        Err(_) => return Some(Hint::RescanAll),
    };
    if ev.need_rescan() {
        return Some(Hint::RescanAll);
    }
    if matches!(ev.kind, EventKind::Access(_)) {
        return None;
    }
    let relevant = ev.paths.is_empty()
        || ev
            .paths
            .iter()
            .any(|p| p == dir || p.file_name().is_some_and(is_candidate));
    relevant.then(|| Hint::Changed(dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn candidates() {
        for ok in ["a.torrent", "A.TORRENT", "x y.iso.torrent"] {
            assert!(is_candidate(OsStr::new(ok)), "{ok}");
        }
        for no in [
            ".a.torrent",
            "a.torrent.part",
            "a.torrent.tmp",
            ".torrent",
            "a.txt",
            "a.torrent~",
            "torrent",
        ] {
            assert!(!is_candidate(OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn list_skips_hidden_temporary_and_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.torrent"), b"x").unwrap();
        std::fs::write(d.path().join(".b.torrent"), b"x").unwrap();
        std::fs::write(d.path().join("c.torrent.part"), b"x").unwrap();
        std::fs::write(d.path().join("d.tmp"), b"x").unwrap();
        std::fs::create_dir(d.path().join("e.torrent")).unwrap();
        std::os::unix::fs::symlink(d.path().join("a.torrent"), d.path().join("f.torrent")).unwrap();
        std::os::unix::fs::symlink(d.path().join("gone"), d.path().join("g.torrent")).unwrap();
        let mut names: Vec<_> = list_dir(d.path())
            .unwrap()
            .into_iter()
            .map(|l| l.path.file_name().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.torrent", "f.torrent"]);
        assert!(list_dir(&d.path().join("missing")).is_err());
    }

    #[tokio::test]
    async fn watcher_hints_about_new_files() {
        let d = tempfile::tempdir().unwrap();
        let (mut w, mut rx) = Watchers::new();
        w.set_dirs(&[d.path().to_path_buf(), d.path().join("missing")]);
        assert_eq!(w.live.len(), 1);
        assert_eq!(w.failed.len(), 1);
        std::fs::write(d.path().join("a.torrent"), b"x").unwrap();
        let h = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(h, Hint::Changed(d.path().to_path_buf()));
        // Listing the directory, writing and reading data files: no hints.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while rx.try_recv().is_ok() {}
        list_dir(d.path()).unwrap();
        std::fs::write(d.path().join("a.bin"), b"data").unwrap();
        std::fs::read(d.path().join("a.bin")).unwrap();
        std::fs::read(d.path().join("a.torrent")).unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
        assert!(quiet.is_err(), "unexpected hint {quiet:?}");
        std::fs::rename(d.path().join("a.torrent"), d.path().join("a.old")).unwrap();
        let h = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(h.unwrap(), Some(Hint::Changed(d.path().to_path_buf())));
        std::fs::create_dir(d.path().join("missing")).unwrap();
        w.set_dirs(&[d.path().join("missing")]);
        assert_eq!(w.live.len(), 1);
        assert!(w.failed.is_empty());
    }
}
