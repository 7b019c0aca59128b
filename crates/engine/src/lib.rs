//! The BitTorrent engine: a [`Session`] owns one listen port and many torrents; each torrent
//! runs its swarm (peers, piece picker, choker, announces, rate limits) as tokio tasks over the
//! `wire`, `storage` and `tracker` crates.
//!
//! The engine never reads the watch dir, config files, environment variables or systemd: the
//! binary tells it what to do through [`Session`] and [`TorrentHandle`], and watches what it does
//! through [`TorrentStats`].
//!
//! **May depend on:** `metainfo`, `wire`, `storage`, `tracker` (its client only), `utp`, `dht`
//! (its node runs in the session's DHT task), tokio and
//! small utility crates. Never on the daemon or the binary, nor on anything that reads
//! configuration.
//!
//! **Layout** (no module cycles; `STATE.md` names every task and who owns what):
//! - `ctx`, `error`, `spawn`: settings and the shared session context, typed faults and the one
//!   error printer, the task tree helper. They import no other engine module but the limiter.
//! - `picker`, `choker`, `torrent::swarm`: pure policy and state, unit-tested without sockets.
//! - `session` (listener, registry), `torrent` (handle, check, task, events, verify), `peer`
//!   (reader, download, upload, writer), `announce`, `dht_node` (the session's DHT task on the
//!   shared UDP socket, `udp`): the tasks around them.

mod addr_limit;
mod announce;
mod budget;
mod choker;
mod ctx;
mod dht_node;
mod encryption;
mod error;
mod magnet;
mod peer;
mod picker;
mod ratelimit;
mod read_cache;
mod session;
mod spawn;
mod stats;
mod torrent;
mod transport;
pub mod udp;
mod webseed;

pub use ctx::{AddOptions, SessionConfig};
pub use dht_node::{DhtSaved, DhtStats};
pub use encryption::{EncryptionCounters, EncryptionPolicy, UnknownPolicy};
pub use error::{AddError, SessionError, error_chain};
pub use magnet::{FetchError, FetchProgress, MetadataFetch};
pub use session::{Session, TransportStats};
pub use stats::{TorrentState, TorrentStats, WebSeedStats};
pub use torrent::{ResumeSnapshot, TorrentHandle};
pub use transport::{TransportKind, Transports};

/// Identifies a peer connection within a torrent (the torrent task hands out the keys; the
/// picker, the choker and the peer tasks use them).
pub(crate) type PeerKey = u64;

/// A download with fewer connected peers than this is starving: it asks for more soon (see
/// [`SessionConfig::starving_reannounce`]).
pub const STARVING_PEERS: usize = 5;

/// The client name in peer ids, extension handshakes and the HTTP user agent.
pub const CLIENT_NAME: &str = concat!("btmirror/", env!("CARGO_PKG_VERSION"));

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    /// Checks a web seed's answer to a range request (`offset`, `len`, `file_len`) with the
    /// given status and header values, as the fetch loop does. Never panics.
    pub fn web_seed_answer(
        ask: (u64, u64, u64),
        status: u16,
        content_range: &str,
        content_length: Option<u64>,
        retry_after: &str,
    ) -> bool {
        let (offset, len, file_len) = ask;
        let ask = crate::webseed::response::RangeAsk {
            offset,
            len: len.max(1),
            file_len,
        };
        let _ = crate::webseed::response::parse_retry_after(retry_after);
        crate::webseed::response::check(
            &ask,
            status,
            Some(content_range),
            content_length,
            Some(retry_after),
        )
        .is_ok()
    }
}
