//! `btmirror check TORRENT [--dir DIR]`: verify the data on disk against the torrent's piece
//! hashes and say how much is valid. Exit 0 when everything is there, 1 otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use metainfo::{Bitfield, Info, Metainfo};
use tokio_util::sync::CancellationToken;

use crate::cli::CheckArgs;
use crate::units::format_bytes;

/// Incomplete or missing files listed by name before the rest are only counted.
const LISTED_FILES: usize = 20;

/// Runs `btmirror check`.
pub async fn run(args: CheckArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let meta = load_torrent(&args.torrent)?;
    let dir = args.dir.unwrap_or_else(|| beside(&args.torrent));
    let info = Arc::clone(&meta.info);
    let storage = storage::Storage::new(
        Arc::clone(&info),
        dir.clone(),
        Arc::new(storage::FdCache::new(64)),
    );
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let cancel = Arc::new(AtomicBool::new(false));
    let bar = crate::progress_bar(u64::from(info.piece_count()), false);

    let task_cancel = Arc::clone(&cancel);
    let task_bar = bar.clone();
    let mut checking = tokio::task::spawn_blocking(move || {
        let progress = |done: u32| {
            if let Some(b) = &task_bar {
                b.set_position(u64::from(done));
            }
        };
        storage.check(threads, &progress, &task_cancel)
    });
    let result = tokio::select! {
        r = &mut checking => r,
        () = shutdown.cancelled() => {
            cancel.store(true, Ordering::Relaxed);
            checking.await
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let have = match result.context("the check task failed")? {
        Ok(have) => have,
        Err(storage::Error::Cancelled) => anyhow::bail!("check interrupted"),
        Err(e) => {
            return Err(e).with_context(|| {
                format!("checking the data of {} in {}", info.name, dir.display())
            });
        }
    };

    let report = Report::new(&info, &have, &dir);
    for line in report.lines() {
        outln!("{line}");
    }
    if report.valid < report.total {
        anyhow::bail!(
            "{}: data in {} is incomplete: {} of {} pieces missing or bad",
            args.torrent.display(),
            dir.display(),
            report.total - report.valid,
            report.total
        );
    }
    Ok(())
}

/// Reads and validates a `.torrent`, with errors naming the file and the bad field.
pub fn load_torrent(path: &Path) -> anyhow::Result<Metainfo> {
    let bytes = crate::source::read_file(path)?;
    Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{} is not a usable torrent", path.display()))
}

/// The directory a torrent's data lives in by default: the one holding the `.torrent`.
fn beside(torrent: &Path) -> PathBuf {
    match torrent.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// State of one file after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileState {
    /// Every piece it touches is valid.
    Complete,
    /// Present, but some piece it touches is missing or bad.
    Incomplete,
    /// Not on disk.
    Missing,
}

/// The outcome of a check, ready to print.
#[derive(Debug)]
struct Report {
    /// Valid pieces.
    valid: u32,
    /// All pieces.
    total: u32,
    /// Bytes in valid pieces.
    valid_bytes: u64,
    /// The torrent's size.
    size: u64,
    /// Per file: its path relative to the data directory and its state.
    files: Vec<(PathBuf, FileState)>,
}

impl Report {
    fn new(info: &Info, have: &Bitfield, dir: &Path) -> Self {
        let valid_bytes = have.ones().map(|p| u64::from(info.piece_len(p))).sum();
        let files = info
            .files
            .iter()
            .map(|f| {
                let exists = dir.join(&f.path).is_file();
                (f.path.clone(), file_state(info, have, f, exists))
            })
            .collect();
        Self {
            valid: have.count(),
            total: info.piece_count(),
            valid_bytes,
            size: info.total_length,
            files,
        }
    }

    fn lines(&self) -> Vec<String> {
        let pct = if self.total == 0 {
            100.0
        } else {
            f64::from(self.valid) * 100.0 / f64::from(self.total)
        };
        let mut lines = vec![format!(
            "{}/{} pieces valid ({pct:.1}%), {} of {}",
            self.valid,
            self.total,
            format_bytes(self.valid_bytes),
            format_bytes(self.size)
        )];
        let count = |s| self.files.iter().filter(|(_, st)| *st == s).count();
        let (complete, incomplete, missing) = (
            count(FileState::Complete),
            count(FileState::Incomplete),
            count(FileState::Missing),
        );
        lines.push(format!(
            "files: {complete} complete, {incomplete} incomplete, {missing} missing"
        ));
        let mut listed = 0;
        for (path, state) in &self.files {
            let word = match state {
                FileState::Complete => continue,
                FileState::Incomplete => "incomplete",
                FileState::Missing => "missing",
            };
            if listed == LISTED_FILES {
                lines.push(format!("  ... and {} more", incomplete + missing - listed));
                break;
            }
            lines.push(format!("  {word}: {}", path.display()));
            listed += 1;
        }
        lines
    }
}

/// Whether `file` is complete: it exists and every piece overlapping it is valid.
fn file_state(info: &Info, have: &Bitfield, file: &metainfo::FileEntry, exists: bool) -> FileState {
    if !exists {
        return FileState::Missing;
    }
    if file.length == 0 {
        return FileState::Complete;
    }
    let pl = u64::from(info.piece_length.max(1));
    let first = file.offset / pl;
    let last = (file.offset + file.length - 1) / pl;
    let all_valid = (first..=last).all(|p| u32::try_from(p).is_ok_and(|p| have.get(p)));
    if all_valid {
        FileState::Complete
    } else {
        FileState::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metainfo::FileEntry;

    fn info() -> Info {
        // Three files over 4 pieces of 16 KiB: a = [0, 20000), b = [20000, 20000), c = [20000, 60000).
        let files = vec![
            FileEntry {
                path: "t/a".into(),
                length: 20_000,
                offset: 0,
            },
            FileEntry {
                path: "t/b".into(),
                length: 0,
                offset: 20_000,
            },
            FileEntry {
                path: "t/c".into(),
                length: 40_000,
                offset: 20_000,
            },
        ];
        Info {
            name: "t".into(),
            piece_length: 16_384,
            pieces: vec![[0; 20]; 4].into(),
            files,
            multi_file: true,
            private: false,
            total_length: 60_000,
            v2: None,
        }
    }

    #[test]
    fn file_states_follow_overlapping_pieces() {
        let info = info();
        let mut have = Bitfield::new(4);
        have.set(0);
        have.set(1);
        let f = &info.files;
        assert_eq!(file_state(&info, &have, &f[0], true), FileState::Complete);
        assert_eq!(file_state(&info, &have, &f[1], true), FileState::Complete);
        assert_eq!(file_state(&info, &have, &f[2], true), FileState::Incomplete);
        assert_eq!(file_state(&info, &have, &f[0], false), FileState::Missing);
        have.set(2);
        have.set(3);
        assert_eq!(file_state(&info, &have, &f[2], true), FileState::Complete);
        have.clear(1);
        assert_eq!(file_state(&info, &have, &f[0], true), FileState::Incomplete);
    }

    #[test]
    fn report_lines() {
        let info = info();
        let mut have = Bitfield::new(4);
        for p in [0, 2, 3] {
            have.set(p);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("t/a"), b"x").unwrap();
        std::fs::write(dir.path().join("t/b"), b"").unwrap();
        let r = Report::new(&info, &have, dir.path());
        assert_eq!(r.valid_bytes, 16_384 + 16_384 + (60_000 - 3 * 16_384));
        let lines = r.lines();
        assert_eq!(lines[0], "3/4 pieces valid (75.0%), 42.6 KiB of 58.6 KiB");
        assert_eq!(lines[1], "files: 1 complete, 1 incomplete, 1 missing");
        assert_eq!(lines[2..], ["  incomplete: t/a", "  missing: t/c"]);
    }

    #[test]
    fn data_dir_defaults_to_the_torrent_directory() {
        assert_eq!(beside(Path::new("x.torrent")), Path::new("."));
        assert_eq!(beside(Path::new("/m/x.torrent")), Path::new("/m"));
    }
}
