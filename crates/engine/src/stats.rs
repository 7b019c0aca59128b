//! What a torrent reports about itself.

/// Life cycle of a torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TorrentState {
    /// Verifying the data on disk (or waiting for a check slot).
    #[default]
    Checking,
    /// Downloading missing pieces.
    Downloading,
    /// All pieces present; serving them.
    Seeding,
    /// Stopped by request, data kept.
    Paused,
    /// Stopped by a failure (see `error`).
    Error,
}

impl TorrentState {
    /// The lower-case name used in status output (`checking`, `downloading`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checking => "checking",
            Self::Downloading => "downloading",
            Self::Seeding => "seeding",
            Self::Paused => "paused",
            Self::Error => "error",
        }
    }
}

/// A snapshot of a torrent, published about once a second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TorrentStats {
    /// Where it is in its life cycle.
    pub state: TorrentState,
    /// Fraction of the data verified present (while checking: fraction checked so far).
    pub progress: f64,
    /// Total size in bytes.
    pub size: u64,
    /// Verified bytes present.
    pub have_bytes: u64,
    /// Pieces present / total.
    pub pieces_have: u32,
    /// Total number of pieces.
    pub pieces_total: u32,
    /// Payload bytes received from peers in this session.
    pub downloaded: u64,
    /// Payload bytes sent to peers in this session.
    pub uploaded: u64,
    /// Bytes/s received (smoothed).
    pub download_rate: u64,
    /// Bytes/s sent (smoothed).
    pub upload_rate: u64,
    /// Connected peers.
    pub peers: u32,
    /// Connected peers over TCP.
    pub peers_tcp: u32,
    /// Connected peers over uTP.
    pub peers_utp: u32,
    /// Connected peers that have every piece.
    pub seeds: u32,
    /// Connected peers whose handshake was encrypted (MSE/PE), RC4 afterwards or not.
    pub peers_encrypted: u32,
    /// Of those, peers with RC4 on every byte.
    pub peers_rc4: u32,
    /// Connected peers with a plaintext BitTorrent handshake.
    pub peers_plaintext: u32,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// The last tracker problem, if the last announce failed.
    pub tracker_error: Option<String>,
    /// Why the torrent is in the `Error` state.
    pub error: Option<String>,
    /// Its web seeds (BEP 19), in the torrent's order.
    pub web_seeds: Vec<WebSeedStats>,
}

/// One web seed of a torrent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebSeedStats {
    /// The base URL (as in `url-list`).
    pub url: String,
    /// `active` (fetching), `idle`, `backoff` (failed, retried later), `dropped` (404/410) or
    /// `banned` (its pieces failed the hash check).
    pub state: &'static str,
    /// Payload bytes received from it in this session.
    pub downloaded: u64,
    /// Bytes/s received from it (smoothed).
    pub download_rate: u64,
    /// Its pieces that failed the hash check.
    pub hash_failures: u32,
    /// While backed off: when it is tried again.
    pub retry_in: Option<std::time::Duration>,
    /// Its last failure.
    pub error: Option<String>,
}
