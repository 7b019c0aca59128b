//! Engine errors: `SessionError` is fatal to the session, `AddError` refuses one torrent.
//! Inside the engine, `PeerError` drops one peer and `TorrentError` stops one torrent; neither
//! converts into the other, and both become text only in logs and `TorrentStats::error`.

use std::net::SocketAddr;

/// The session could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Binding the listen socket failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Binding the UDP socket (uTP, DHT) on the listen port failed.
    #[error("cannot bind UDP on {addr}")]
    Udp {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tracker client could not be set up.
    #[error("tracker client")]
    Tracker(#[from] tracker::Error),
    /// The HTTP client of the web seeds could not be set up.
    #[error("web seed HTTP client")]
    WebSeedClient(#[source] reqwest::Error),
}

/// A torrent was not added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// A torrent with this info-hash is already in the session.
    #[error("torrent {0} is already running")]
    Duplicate(metainfo::InfoHash),
    /// The session is shutting down.
    #[error("the session is shutting down")]
    ShuttingDown,
}

/// Why a peer connection ended or was refused. It only ever drops that peer: there is no
/// conversion into [`TorrentError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PeerError {
    /// The peer sent bytes the codec rejects.
    #[error("protocol error")]
    Protocol(#[source] wire::Error),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    ClosedByPeer,
    /// Nothing arrived for too long.
    #[error("idle timeout")]
    IdleTimeout,
    /// The writer task ended (the socket is gone).
    #[error("connection closed")]
    WriterGone,
    /// Encoding a message failed.
    #[error("encoding a message")]
    Encode(#[source] wire::Error),
    /// Writing to the socket failed.
    #[error("writing to the peer")]
    Write(#[source] std::io::Error),
    /// The peer did not take our bytes for too long.
    #[error("write timeout")]
    WriteTimeout,
    /// A blocking disk read for an upload panicked or was cancelled.
    #[error("disk read task failed")]
    ReadTask(#[source] tokio::task::JoinError),
    /// We and the peer have everything: nothing to trade.
    #[error("both sides are seeds")]
    BothSeeds,
    /// A bitfield of the wrong length or with spare bits set.
    #[error("malformed bitfield")]
    MalformedBitfield,
    /// BEP 52 `hashes` that do not prove to the file's root.
    #[error("sent piece-layer hashes that do not match the file's root")]
    BadHashes,
    /// Have-all or have-none from a peer that did not announce the fast extension.
    #[error("have-all/have-none without the fast extension")]
    FastNotNegotiated,
    /// A have for a piece the torrent does not have.
    #[error("have for piece {0} out of range")]
    HaveOutOfRange(u32),
    /// A request outside the torrent.
    #[error("invalid request {0:?}")]
    InvalidRequest(wire::BlockRequest),
    /// A request past the end of its piece.
    #[error("request {0:?} beyond the piece")]
    RequestBeyondPiece(wire::BlockRequest),
    /// More unanswered requests than we queue.
    #[error("too many outstanding requests")]
    TooManyRequests,
    /// Its data failed the hash check too often.
    #[error("banned after hash failures")]
    BannedAfterHashFailures,
    /// Another connection to the same peer won.
    #[error("duplicate connection")]
    Duplicate,
    /// The handshake carried our own peer id.
    #[error("connected to ourselves")]
    ConnectedToSelf,
    /// The peer id or address is banned.
    #[error("banned")]
    Banned,
    /// We already have a connection to this peer (the one we keep).
    #[error("already connected")]
    AlreadyConnected,
    /// The torrent is checking, stopped or failed.
    #[error("not accepting peers")]
    NotAccepting,
}

/// A fault that stops a torrent (it shows in `TorrentStats::error`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TorrentError {
    /// The initial data check failed.
    #[error("checking data")]
    Check(#[source] storage::Error),
    /// The data check's blocking task panicked.
    #[error("checking data")]
    CheckTask(#[source] tokio::task::JoinError),
    /// Data is missing and cannot be written where it goes (checked before downloading).
    #[error("the data cannot be written")]
    NotWritable(#[source] storage::Error),
    /// A verified piece could not be written.
    #[error("writing piece {index}")]
    Write {
        /// The piece.
        index: u32,
        /// Why.
        #[source]
        source: storage::Error,
    },
    /// The verify job of a piece panicked.
    #[error("writing piece {index}: verify task failed")]
    VerifyTask {
        /// The piece.
        index: u32,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Reading a piece to upload it failed: the data changed under us.
    #[error("reading piece {index}")]
    Read {
        /// The piece.
        index: u32,
        /// Why.
        #[source]
        source: storage::Error,
    },
    /// The fsync after the download completed failed.
    #[error("syncing data to disk")]
    Sync(#[source] storage::Error),
}

/// An error and its sources on one line (`outer: inner: root`): how every error of the
/// workspace becomes text for a log line or a status field.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// Why one request to a web seed failed. It only ever concerns that web seed: the pieces it
/// was fetching go back to the picker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebSeedError {
    /// Connecting, sending or receiving failed (refused, reset, TLS, too many redirects).
    #[error("HTTP request failed")]
    Http(#[source] reqwest::Error),
    /// 404 or 410: the file is not there (the web seed is dropped for this torrent).
    #[error("HTTP {0}: the file is not there")]
    Gone(u16),
    /// 429 or 5xx: try again later (after `Retry-After` when the server said).
    #[error("HTTP {status}: server unavailable")]
    Unavailable {
        /// The status code.
        status: u16,
        /// What `Retry-After` asked for.
        retry_after: Option<std::time::Duration>,
    },
    /// Any other unexpected status.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// A whole file (200) came back for a range request.
    #[error("the server ignores range requests")]
    NoRanges,
    /// `Content-Range` does not match the range asked for.
    #[error("Content-Range {got:?} does not match the request ({asked})")]
    ContentRange {
        /// The `Range` header sent.
        asked: String,
        /// The `Content-Range` received (cut short).
        got: String,
    },
    /// The body (or its announced length) is longer or shorter than asked.
    #[error("body of {got} bytes where {asked} were asked for")]
    BodyLength {
        /// Bytes asked for.
        asked: u64,
        /// Bytes announced or received.
        got: u64,
    },
    /// No data arrived for too long.
    #[error("no data for {0:?}")]
    Stalled(std::time::Duration),
    /// The torrent maps no file onto the asked range (a bug, not the server's fault).
    #[error("no URL for file {0}")]
    NoUrl(usize),
}
