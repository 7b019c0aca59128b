//! The control protocol's payload (design.md, "Status as JSON"): the status model the daemon
//! fills in from its registry, serves over the control socket and renders as metrics, and that
//! `btmirror status`/`btmirror top` read.
//!
//! The JSON key names are the contract: scripts rely on them. Extra fields (the lifetime byte
//! counters) are allowed by the design ("add freely"); readers tolerate missing extras so that
//! an older daemon still answers a newer client.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The commands version 1 knows.
pub(super) const KNOWN_COMMANDS: &str = "status";

/// A request as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Request {
    /// Protocol version the client speaks; missing means 1.
    #[serde(default = "default_version")]
    pub(super) version: u32,
    /// The command word.
    pub(super) command: String,
}

fn default_version() -> u32 {
    PROTOCOL_VERSION
}

/// An answer. Exactly one of `status` and `error` is present.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Response {
    /// Protocol version of the daemon.
    pub(super) version: u32,
    /// The status, for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<StatusReport>,
    /// What went wrong with the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
}

impl Response {
    pub(super) fn error(msg: impl Into<String>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            status: None,
            error: Some(msg.into()),
        }
    }
}

/// The whole status of a running daemon, as `btmirror status --json` prints it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// One entry per torrent in the watched directories.
    pub torrents: Vec<TorrentStatus>,
    /// Sums over all torrents.
    pub totals: Totals,
    /// The port the daemon listens on for peers.
    pub listen_port: u16,
    /// The daemon's version (`x.y.z`).
    pub version: String,
    /// The encryption policy of peer connections and how connection set-ups went.
    #[serde(default)]
    pub encryption: EncryptionStatus,
    /// One entry per `[[feed]]` of the configuration (left out when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<FeedReport>,
    /// Watch directories that cannot be listed (left out when every one can).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch_errors: Vec<WatchDirError>,
    /// The DHT node (left out when the DHT is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht: Option<DhtStatus>,
}

/// A watch directory the daemon cannot list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchDirError {
    /// The directory.
    pub dir: String,
    /// `missing` (the daemon waits for it and picks it up once created), `not a directory`, or
    /// the system's reason.
    pub error: String,
}

/// The session's DHT node (BEP 5), as `status --json` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DhtStatus {
    /// `bootstrapping` (the routing table is empty) or `ready`.
    pub state: String,
    /// Nodes in the routing tables (IPv4 and IPv6).
    pub nodes: u64,
    /// Torrents' lookups running and waiting for a slot.
    pub lookups: u64,
    /// Of those, the ones waiting for a slot.
    pub queued_lookups: u64,
    /// Announces (a lookup, then announce_peer to the closest nodes) finished since the start.
    pub announces: u64,
    /// Peers the lookups found since the start.
    pub peers_found: u64,
    /// Peers other nodes announced to us (stored for them).
    pub stored_peers: u64,
    /// The outgoing query limit now (queries a second): fitted to the number of announcing
    /// torrents, so each is announced every 25-30 minutes.
    pub query_rate: u64,
    /// KRPC datagrams sent since the start.
    pub sent: u64,
    /// KRPC datagrams received since the start.
    pub received: u64,
}

impl DhtStatus {
    /// The session's DHT, when it runs one.
    pub fn from_session(session: &engine::Session) -> Option<Self> {
        let s = session.dht_stats()?;
        Some(Self {
            state: s.state().to_owned(),
            nodes: (s.nodes_v4 + s.nodes_v6) as u64,
            lookups: (s.lookups + s.queued_lookups) as u64,
            queued_lookups: s.queued_lookups as u64,
            announces: s.announces,
            peers_found: s.peers_found,
            stored_peers: s.stored.1 as u64,
            query_rate: s.query_rate,
            sent: s.sent,
            received: s.received,
        })
    }
}

/// The encryption policy and the session's connection set-ups since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EncryptionStatus {
    /// `prefer`, `allow`, `require` or `disable`.
    pub policy: String,
    /// Incoming plaintext handshakes that named a torrent.
    pub incoming_plaintext: u64,
    /// Incoming MSE handshakes that completed.
    pub incoming_encrypted: u64,
    /// Incoming MSE handshakes that failed (bad input, unknown torrent, timeout).
    pub incoming_encrypted_failed: u64,
    /// Incoming connections the policy refused.
    pub incoming_refused: u64,
    /// Outgoing plaintext handshakes that completed.
    pub outgoing_plaintext: u64,
    /// Outgoing MSE handshakes that completed.
    pub outgoing_encrypted: u64,
    /// Outgoing connections retried the other way (MSE after plaintext or back).
    pub outgoing_retries: u64,
}

impl EncryptionStatus {
    /// The session's policy and counters.
    pub fn from_session(session: &engine::Session) -> Self {
        let c = session.encryption_counters();
        Self {
            policy: session.encryption().as_str().to_owned(),
            incoming_plaintext: c.incoming_plaintext,
            incoming_encrypted: c.incoming_encrypted,
            incoming_encrypted_failed: c.incoming_encrypted_failed,
            incoming_refused: c.incoming_refused,
            outgoing_plaintext: c.outgoing_plaintext,
            outgoing_encrypted: c.outgoing_encrypted,
            outgoing_retries: c.outgoing_retries,
        }
    }
}

/// How one feed stands (an extra of the status JSON; times are seconds since the epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedReport {
    /// The feed's URL.
    pub url: String,
    /// The watch directory it writes to.
    pub into: String,
    /// When a fetch last succeeded, if ever.
    pub last_success: Option<u64>,
    /// The last fetch's error, while the feed is failing.
    pub last_error: Option<String>,
    /// When that error happened.
    pub last_error_at: Option<u64>,
    /// Fetches failed in a row.
    pub failures: u32,
    /// `.torrent` files the feed holds in its directory.
    pub files_held: usize,
    /// When it fetches next.
    pub next_fetch: u64,
}

/// One torrent's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TorrentStatus {
    /// The torrent's name (or the `.torrent` file name when it cannot be parsed).
    pub name: String,
    /// The info-hash as 40 lowercase hex digits; empty when the `.torrent` is unparseable.
    pub info_hash: String,
    /// Path of the `.torrent` file.
    pub torrent_file: String,
    /// One of `checking`, `downloading`, `seeding`, `paused`, `error`.
    pub state: String,
    /// Fraction of the data present and verified, 0.0..=1.0.
    pub progress: f64,
    /// Total size of the data in bytes.
    pub size: u64,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// Current download rate in bytes per second.
    pub download_rate: u64,
    /// Current upload rate in bytes per second.
    pub upload_rate: u64,
    /// Connected peers (seeds included).
    pub peers: u32,
    /// Connected peers that have the whole torrent.
    pub seeds: u32,
    /// Connected peers whose handshake was encrypted (MSE/PE), with RC4 afterwards or not.
    #[serde(default)]
    pub peers_encrypted: u32,
    /// Of those, peers with RC4 on every byte.
    #[serde(default)]
    pub peers_rc4: u32,
    /// Connected peers with a plaintext handshake.
    #[serde(default)]
    pub peers_plaintext: u32,
    /// Why the torrent is in the `error` state, else `null`.
    pub error: Option<String>,
    /// Bytes uploaded over the torrent's whole life (persisted across restarts).
    #[serde(default)]
    pub lifetime_uploaded: u64,
    /// Bytes downloaded over the torrent's whole life (persisted across restarts).
    #[serde(default)]
    pub lifetime_downloaded: u64,
    /// Why the last announce failed (every tracker), else `null`; the torrent keeps trying.
    #[serde(default)]
    pub tracker_error: Option<String>,
    /// Its web seeds (BEP 19): in use, idle, backed off, dropped or banned, with the reason.
    #[serde(default)]
    pub web_seeds: Vec<WebSeedStatus>,
    /// Connected peers over TCP.
    #[serde(default)]
    pub peers_tcp: u32,
    /// Connected peers over uTP.
    #[serde(default)]
    pub peers_utp: u32,
}

/// One web seed of a torrent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebSeedStatus {
    /// The base URL.
    pub url: String,
    /// `active`, `idle`, `backoff`, `dropped` (404/410) or `banned` (bad pieces).
    pub state: String,
    /// Bytes received from it this session.
    pub downloaded: u64,
    /// Current rate from it in bytes per second.
    pub download_rate: u64,
    /// Its pieces that failed the hash check.
    pub hash_failures: u32,
    /// While backed off: seconds until it is tried again, else `null`.
    pub retry_in: Option<u64>,
    /// Its last failure, else `null`.
    pub error: Option<String>,
}

impl WebSeedStatus {
    /// True when it is dropped, banned or backed off.
    pub fn failing(&self) -> bool {
        matches!(self.state.as_str(), "dropped" | "banned" | "backoff")
    }
}

impl From<&engine::WebSeedStats> for WebSeedStatus {
    fn from(w: &engine::WebSeedStats) -> Self {
        Self {
            url: w.url.clone(),
            state: w.state.to_owned(),
            downloaded: w.downloaded,
            download_rate: w.download_rate,
            hash_failures: w.hash_failures,
            retry_in: w.retry_in.map(|d| d.as_secs()),
            error: w.error.clone(),
        }
    }
}

/// Sums over all torrents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Bytes uploaded this session (by the daemon: also by torrents removed since it started).
    pub uploaded: u64,
    /// Bytes downloaded this session (by the daemon: also by torrents removed since).
    pub downloaded: u64,
    /// Current upload rate in bytes per second.
    pub upload_rate: u64,
    /// Current download rate in bytes per second.
    pub download_rate: u64,
    /// Bytes uploaded over the whole life (the daemon's, kept across restarts).
    #[serde(default)]
    pub lifetime_uploaded: u64,
    /// Bytes downloaded over the whole life (the daemon's, kept across restarts).
    #[serde(default)]
    pub lifetime_downloaded: u64,
    /// Connected peers over TCP, all torrents.
    #[serde(default)]
    pub peers_tcp: u64,
    /// Connected peers over uTP, all torrents.
    #[serde(default)]
    pub peers_utp: u64,
}

impl Totals {
    /// The sums of `torrents`' counters and rates (saturating).
    pub fn sum(torrents: &[TorrentStatus]) -> Self {
        torrents.iter().fold(Self::default(), |t, s| Self {
            uploaded: t.uploaded.saturating_add(s.uploaded),
            downloaded: t.downloaded.saturating_add(s.downloaded),
            upload_rate: t.upload_rate.saturating_add(s.upload_rate),
            download_rate: t.download_rate.saturating_add(s.download_rate),
            lifetime_uploaded: t.lifetime_uploaded.saturating_add(s.lifetime_uploaded),
            lifetime_downloaded: t.lifetime_downloaded.saturating_add(s.lifetime_downloaded),
            peers_tcp: t.peers_tcp.saturating_add(u64::from(s.peers_tcp)),
            peers_utp: t.peers_utp.saturating_add(u64::from(s.peers_utp)),
        })
    }
}

impl TorrentStatus {
    /// The status of a running torrent from the engine's handle; `lifetime` is (uploaded,
    /// downloaded) before this run.
    pub fn from_handle(
        h: &engine::TorrentHandle,
        torrent_file: String,
        lifetime: (u64, u64),
    ) -> Self {
        let s = h.stats();
        let meta = h.metainfo();
        Self {
            name: meta.info.name.clone(),
            info_hash: meta.info_hash.to_hex(),
            torrent_file,
            state: s.state.as_str().to_owned(),
            progress: s.progress.clamp(0.0, 1.0),
            size: s.size,
            downloaded: s.downloaded,
            uploaded: s.uploaded,
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            peers: s.peers,
            seeds: s.seeds,
            peers_encrypted: s.peers_encrypted,
            peers_rc4: s.peers_rc4,
            peers_plaintext: s.peers_plaintext,
            error: s.error,
            lifetime_uploaded: lifetime.0.saturating_add(s.uploaded),
            lifetime_downloaded: lifetime.1.saturating_add(s.downloaded),
            tracker_error: s.tracker_error,
            web_seeds: s.web_seeds.iter().map(WebSeedStatus::from).collect(),
            peers_tcp: s.peers_tcp,
            peers_utp: s.peers_utp,
        }
    }

    /// Upload/download ratio over the torrent's life: uploaded bytes divided by the size
    /// (the data a seeder never downloaded still counts), `None` for an empty torrent.
    pub fn ratio(&self) -> Option<f64> {
        let up = self.lifetime_uploaded.max(self.uploaded);
        let base = self.lifetime_downloaded.max(self.downloaded).max(self.size);
        (base > 0).then(|| up as f64 / base as f64)
    }

    /// Estimated time until the download completes at the current rate; `None` when complete,
    /// stalled, or not downloading.
    pub fn eta(&self) -> Option<std::time::Duration> {
        if self.state != "downloading" || self.download_rate == 0 {
            return None;
        }
        let have = (self.progress.clamp(0.0, 1.0) * self.size as f64) as u64;
        let left = self.size.saturating_sub(have);
        (left > 0).then(|| std::time::Duration::from_secs(left.div_ceil(self.download_rate)))
    }
}

/// The states in display order.
pub const STATES: [&str; 6] = [
    "metadata",
    "checking",
    "downloading",
    "seeding",
    "paused",
    "error",
];

/// `2 seeding, 1 error`: how many torrents are in each state (states with none are left out;
/// unknown states are counted under their own name). `none` for an empty list.
pub fn state_counts(torrents: &[TorrentStatus]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for t in torrents {
        match parts.iter_mut().find(|(s, _)| *s == t.state) {
            Some((_, n)) => *n += 1,
            None => parts.push((t.state.clone(), 1)),
        }
    }
    parts.sort_by_key(|(s, _)| STATES.iter().position(|k| k == s).unwrap_or(STATES.len()));
    if parts.is_empty() {
        return "none".to_owned();
    }
    parts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
