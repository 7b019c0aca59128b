//! The messages that flow up to a torrent task: from its peers, its connection attempts and its
//! verify jobs. The torrent task is their only reader (a bounded queue: a hostile peer can only
//! slow itself down).

use std::net::SocketAddr;

use metainfo::PeerId;
use wire::BlockRequest;

use crate::PeerKey;
use crate::addr_limit::ConnPermit;
use crate::error::{PeerError, TorrentError, WebSeedError};

/// What peer tasks, connection attempts and verify jobs tell the torrent task.
#[derive(Debug)]
pub(crate) enum Event {
    /// A handshake completed; the torrent decides whether to keep the connection.
    Handshaken(Handshaken),
    /// Dialing an address failed.
    ConnectFailed(SocketAddr),
    /// The peer became interested or not interested.
    InterestChanged(PeerKey),
    /// The connection ended.
    /// `None`: we stopped it.
    Closed {
        key: PeerKey,
        reason: Option<PeerError>,
    },
    /// A complete piece was hashed (and written when good); the picker already knows.
    PieceVerified {
        index: u32,
        result: Result<bool, TorrentError>,
        contributors: Vec<PeerKey>,
    },
    /// A block requested from several peers (endgame) arrived: cancel it elsewhere.
    CancelElsewhere { from: PeerKey, req: BlockRequest },
    /// Reading data for an upload failed.
    ReadFailed(TorrentError),
    /// The peer's extension handshake: its listen port and whether it speaks `ut_pex`.
    Extensions {
        key: PeerKey,
        listen_port: Option<u16>,
        pex: bool,
    },
    /// Addresses a peer told us about (BEP 11).
    Pex {
        /// Every address it added.
        added: Vec<SocketAddr>,
        /// Of those, the ones flagged as supporting uTP.
        utp: Vec<SocketAddr>,
    },
    /// The fsync after the download completed is done.
    Synced(Result<(), TorrentError>),
    /// A web seed stopped fetching: nothing left for it, or a failure.
    WebSeedDone {
        key: PeerKey,
        result: Result<(), WebSeedError>,
    },
}

/// A connection whose handshake completed.
#[derive(Debug)]
pub(crate) struct Handshaken {
    pub stream: crate::encryption::PeerStream,
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    pub reserved: [u8; 8],
    pub outgoing: bool,
    pub permit: ConnPermit,
}
