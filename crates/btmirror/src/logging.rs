//! Log output: journald under systemd, plain lines on stderr otherwise, or an appended log file
//! (reopened on SIGHUP so logrotate can move it away).
//!
//! The level comes from `BTMIRROR_LOG` (`debug`, `info`, or per-target `engine=debug,info`),
//! parsed as a `tracing_subscriber::filter::Targets`; the default is the level `init` is given.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use anyhow::Context as _;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::exit::UsageError;

/// Environment variable holding the log filter.
pub const LOG_ENV: &str = "BTMIRROR_LOG";

/// Keeps the logging set-up alive; [`LogGuard::reopen`] reopens the log file after a rotation.
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LogGuard {
    /// The log file, when logging to one.
    file: Option<Arc<ReopenFile>>,
}

impl LogGuard {
    /// Reopens the log file at its path (call it on SIGHUP); a no-op when logging elsewhere.
    pub fn reopen(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.reopen(),
            None => Ok(()),
        }
    }

    /// Where logs go: `"journald"`, `"stderr"` or the log file's path.
    pub fn destination(&self) -> String {
        match &self.file {
            Some(f) => f.path.display().to_string(),
            None if stderr_is_journal() => "journald".to_owned(),
            None => "stderr".to_owned(),
        }
    }
}

/// Installs the global subscriber. `default_level` applies when `BTMIRROR_LOG` is unset;
/// `log_file` (opened for appending) replaces stderr/journald. A bad `BTMIRROR_LOG` is reported
/// on stderr and `default_level` is used instead (a typo must not silence the errors).
pub fn init(default_level: LevelFilter, log_file: Option<&Path>) -> anyhow::Result<LogGuard> {
    let filter = match filter_from(std::env::var(LOG_ENV).ok().as_deref(), default_level) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(
                io::stderr().lock(),
                "btmirror: warning: {e}; logging at the default level ({default_level})"
            );
            Targets::new().with_default(default_level)
        }
    };
    let registry = tracing_subscriber::registry().with(filter);
    if let Some(path) = log_file {
        let file = Arc::new(ReopenFile::open(path)?);
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(SharedFile(Arc::clone(&file)));
        registry
            .with(layer)
            .try_init()
            .context("installing the logger")?;
        return Ok(LogGuard { file: Some(file) });
    }
    if stderr_is_journal()
        && let Ok(journald) = tracing_journald::layer()
    {
        let journald = journald.with_syslog_identifier("btmirror".to_owned());
        registry
            .with(journald)
            .try_init()
            .context("installing the logger")?;
        return Ok(LogGuard::default());
    }
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr);
    registry
        .with(layer)
        .try_init()
        .context("installing the logger")?;
    Ok(LogGuard::default())
}

/// The filter for a `BTMIRROR_LOG` value (or `default_level` when unset or empty).
fn filter_from(value: Option<&str>, default_level: LevelFilter) -> Result<Targets, UsageError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(Targets::new().with_default(default_level)),
        Some(v) => {
            let bad = |why: String| {
                UsageError::new(format!(
                    "{LOG_ENV}={v:?} is not a log filter ({why}); use e.g. debug or engine=debug,info"
                ))
            };
            // A bare word is a level, never a target: `warning` or `verbose` would otherwise
            // enable only a target of that name and silence everything else.
            for word in v.split(',').map(str::trim).filter(|d| !d.contains('=')) {
                if !word.is_empty() && word.parse::<LevelFilter>().is_err() {
                    return Err(bad(format!(
                        "{word:?} is not a level: use trace, debug, info, warn, error or off"
                    )));
                }
            }
            v.parse::<Targets>().map_err(|e| bad(e.to_string()))
        }
    }
}

/// True when systemd connected our stderr to the journal (`JOURNAL_STREAM` names stderr's
/// device and inode; children inheriting the variable with another stderr do not match).
pub fn stderr_is_journal() -> bool {
    use std::os::{fd::AsFd as _, unix::fs::MetadataExt as _};
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(parse_journal_stream) else {
        return false;
    };
    let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Parses `JOURNAL_STREAM`'s `<dev>:<ino>`.
fn parse_journal_stream(s: &str) -> Option<(u64, u64)> {
    let (dev, ino) = s.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// A log file that can be reopened at the same path after logrotate moved it.
#[derive(Debug)]
struct ReopenFile {
    /// The path to reopen.
    path: PathBuf,
    /// The open file; writers share the read lock (appends of whole lines), reopening takes the write lock.
    file: RwLock<File>,
}

impl ReopenFile {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file =
            open_append(path).with_context(|| format!("opening log file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: RwLock::new(file),
        })
    }

    fn reopen(&self) -> io::Result<()> {
        let new = open_append(&self.path)?;
        *self.file.write().unwrap_or_else(PoisonError::into_inner) = new;
        Ok(())
    }
}

/// Opens `path` for appending, creating it and its missing parent directories (mode 0750), so
/// that `--log-file ~/.local/state/btmirror/log` works on a fresh account.
fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::DirBuilderExt as _;
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// One event's writer: holds the read lock while the formatted line is written.
struct FileWriter<'a>(RwLockReadGuard<'a, File>);

impl Write for FileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

impl<'a> MakeWriter<'a> for ReopenFile {
    type Writer = FileWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        FileWriter(self.file.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The fmt layer's handle on the log file shared with the [`LogGuard`].
struct SharedFile(Arc<ReopenFile>);

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = FileWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        self.0.make_writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn filter_default_and_levels() {
        let f = filter_from(None, LevelFilter::INFO).unwrap();
        assert!(f.would_enable("engine", &Level::INFO));
        assert!(!f.would_enable("engine", &Level::DEBUG));
        let f = filter_from(Some("debug"), LevelFilter::INFO).unwrap();
        assert!(f.would_enable("engine", &Level::DEBUG));
        let f = filter_from(Some("warn,engine=trace"), LevelFilter::INFO).unwrap();
        assert!(f.would_enable("engine::peer", &Level::TRACE));
        assert!(!f.would_enable("tracker", &Level::INFO));
        let f = filter_from(Some("  "), LevelFilter::WARN).unwrap();
        assert!(!f.would_enable("x", &Level::INFO));
    }

    #[test]
    fn bad_filter_is_a_usage_error_naming_the_variable() {
        let err = filter_from(Some("engine=loud"), LevelFilter::INFO).unwrap_err();
        assert!(err.to_string().contains(LOG_ENV), "{err}");
        // Issue 15, point 7: misspelt levels are errors, not targets that silence the rest.
        for v in ["warning", "verbose", "engine=debug,loud"] {
            let err = filter_from(Some(v), LevelFilter::INFO).unwrap_err();
            assert!(err.to_string().contains("is not a level"), "{v}: {err}");
        }
        assert!(filter_from(Some("WARN"), LevelFilter::INFO).is_ok());
    }

    #[test]
    fn a_log_file_in_a_missing_directory_is_created() {
        // Issue 15, point 10: the man page's nohup example on a fresh account.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".local/state/btmirror/log");
        let f = ReopenFile::open(&path).unwrap();
        f.make_writer().write_all(b"one\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
    }

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btmirror.log");
        let f = ReopenFile::open(&path).unwrap();
        f.make_writer().write_all(b"one\n").unwrap();
        let rotated = dir.path().join("btmirror.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        f.make_writer().write_all(b"two\n").unwrap();
        f.reopen().unwrap();
        f.make_writer().write_all(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }

    #[test]
    fn journal_stream_value() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("8:x"), None);
        assert_eq!(parse_journal_stream(":1"), None);
    }
}
