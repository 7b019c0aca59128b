//! Engine errors: `SessionError` is fatal to the session, `AddError` refuses one torrent.
//! Peer faults never become either: they only drop that peer.

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
    /// The tracker client could not be set up.
    #[error("tracker client")]
    Tracker(#[from] tracker::Error),
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
