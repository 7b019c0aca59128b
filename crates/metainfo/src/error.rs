//! Why a `.torrent` was refused.

/// A `.torrent` file that cannot be used, naming the field that is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not valid bencode.
    #[error("not a valid bencoded torrent")]
    Bencode(#[from] bencode::Error),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(String),
    /// A field has the wrong type or an invalid value.
    #[error("invalid field `{field}`: {reason}")]
    Invalid {
        /// The field's name, e.g. `info.piece length` or `info.files[3].length`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file path that could escape the data directory or is otherwise unusable.
    #[error("unsafe path in `{field}`: {path:?}: {reason}")]
    UnsafePath {
        /// The field holding the path, e.g. `info.name` or `info.files[3].path`.
        field: String,
        /// The offending path, lossily decoded.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A valid torrent of a kind btmirror cannot use yet (e.g. BitTorrent v2-only).
    #[error("{0}")]
    Unsupported(String),
    /// Reading or hashing files while creating a torrent failed.
    #[error("reading {path}")]
    Io {
        /// The file being read.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
