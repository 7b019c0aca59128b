//! The error type of the storage crate: every I/O failure names the file it concerns.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong in a storage operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error on `path` while doing `op` (for example "reading", "opening for writing").
    #[error("{op} {}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What we were doing, as a present participle.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file system is full or the disk quota is exhausted (`ENOSPC` / `EDQUOT`).
    #[error("no space left on device for {}", path.display())]
    NoSpace {
        /// The file we failed to write.
        path: PathBuf,
    },
    /// A file of the torrent does not exist (or a component of its directory is not a directory).
    #[error("file {} is missing", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// A file of the torrent is shorter than the torrent says.
    #[error("file {} is shorter than the torrent says", path.display())]
    UnexpectedEof {
        /// The short file.
        path: PathBuf,
    },
    /// A piece index, offset or length outside the torrent (or a write of the wrong size).
    #[error("range outside the torrent: piece {piece}, offset {begin}, length {len}")]
    BadRange {
        /// Piece index asked for.
        piece: u32,
        /// Offset inside the piece.
        begin: u32,
        /// Length asked for.
        len: u64,
    },
    /// [`crate::Storage::check`] was cancelled before it finished.
    #[error("check cancelled")]
    Cancelled,
    /// A resume file exists but is truncated, corrupt or of an unknown version.
    #[error("corrupt resume file {}: {reason}", path.display())]
    CorruptResume {
        /// The resume file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Error {
    /// True when the error means "the data is not (all) on disk": a missing or short file.
    pub fn is_missing_data(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::UnexpectedEof { .. })
    }

    /// Classifies an I/O error on `path`: `ENOSPC`/`EDQUOT` become [`Error::NoSpace`], anything
    /// else [`Error::Io`].
    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Self::NoSpace {
                path: path.to_owned(),
            },
            _ => Self::Io {
                path: path.to_owned(),
                op,
                source,
            },
        }
    }

    /// Like [`Error::io`] for a read or an open for reading, where a missing file and a short
    /// file get their own variants.
    pub(crate) fn read(path: &Path, op: &'static str, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Self::NotFound {
                path: path.to_owned(),
            },
            io::ErrorKind::UnexpectedEof => Self::UnexpectedEof {
                path: path.to_owned(),
            },
            _ => Self::io(path, op, source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_and_edquot_become_no_space() {
        let p = Path::new("/x/y");
        for code in [libc::ENOSPC, libc::EDQUOT] {
            let e = Error::io(p, "writing", io::Error::from_raw_os_error(code));
            assert!(
                matches!(e, Error::NoSpace { ref path } if path == p),
                "{e:?}"
            );
        }
        let e = Error::io(p, "writing", io::Error::from_raw_os_error(libc::EACCES));
        assert!(matches!(e, Error::Io { op: "writing", .. }));
        assert_eq!(e.to_string(), "writing /x/y");
    }

    #[test]
    fn read_errors_classify_missing_and_short_files() {
        let p = Path::new("/x/y");
        let e = Error::read(p, "reading", io::Error::from(io::ErrorKind::NotFound));
        assert!(matches!(e, Error::NotFound { .. }) && e.is_missing_data());
        let e = Error::read(p, "reading", io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(matches!(e, Error::UnexpectedEof { .. }) && e.is_missing_data());
        let e = Error::read(p, "reading", io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(e, Error::Io { .. }) && !e.is_missing_data());
    }
}
