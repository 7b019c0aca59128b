//! The swarm table: every tracked torrent's peers, seed/leech counts and completed downloads.
//!
//! One [`Swarms`] value lives behind a `std::sync::Mutex` in the server; every method is
//! synchronous and cheap (no I/O, no await), so the lock is held for microseconds. Time is
//! passed in as a `tokio::time::Instant`, which keeps expiry testable with paused time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metainfo::InfoHash;
use serde::Serialize;
use tokio::time::Instant;

pub(crate) use tracker::Event;
pub(crate) use tracker::wire::http::{PeerEntry, ScrapeFile};

use peer_list::{Peer, PeerList};

mod peer_list;

/// Which address families a reply may carry (UDP replies carry only the socket's family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4 and IPv6 peers (HTTP: `peers` and `peers6`).
    Any,
    /// IPv4 peers only.
    V4,
    /// IPv6 peers only.
    V6,
}

impl Family {
    fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// One announce, already validated; `addr` is the connection's IP with the announced port.
#[derive(Debug, Clone)]
pub(crate) struct Announce {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    /// Bytes the client still needs; `0` means it is a seeder.
    pub left: u64,
    pub event: Event,
    /// How many peers to return, already capped by the server.
    pub numwant: usize,
    pub family: Family,
}

/// The answer to an [`Announce`].
#[derive(Debug, Default)]
pub(crate) struct AnnounceReply {
    /// Seeders in the swarm (after this announce).
    pub complete: u32,
    /// Leechers in the swarm (after this announce).
    pub incomplete: u32,
    pub peers: Vec<PeerEntry>,
}

/// Why an announce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An allowed dir is configured and this info-hash is not in it.
    NotAllowed,
    /// Open mode and the table already holds the maximum number of torrents.
    TooManyTorrents,
}

impl Refusal {
    /// The `failure reason` text.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "torrent not allowed on this tracker",
            Refusal::TooManyTorrents => "tracker is full",
        }
    }
}

/// One row of the statistics page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TorrentStats {
    #[serde(serialize_with = "hex")]
    pub info_hash: InfoHash,
    #[serde(serialize_with = "opt_str")]
    pub name: Option<Arc<str>>,
    pub seeders: u32,
    pub leechers: u32,
    pub completed: u64,
}

fn hex<S: serde::Serializer>(ih: &InfoHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ih.to_hex())
}

fn opt_str<S: serde::Serializer>(name: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(n) => s.serialize_some(&**n),
        None => s.serialize_none(),
    }
}

/// Sums over all rows of the statistics page.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Totals {
    pub torrents: usize,
    pub seeders: u64,
    pub leechers: u64,
    pub completed: u64,
}

/// The statistics page's data (also the `/stats.json` document).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stats {
    pub torrents: Vec<TorrentStats>,
    pub totals: Totals,
}

/// One torrent's swarm.
#[derive(Debug)]
struct Swarm {
    seeders: PeerList,
    leechers: PeerList,
    /// Completed downloads ever seen (persisted in the state file).
    downloaded: u64,
    /// When this swarm's peers were last checked for expiry.
    next_sweep: Instant,
}

impl Swarm {
    fn new(now: Instant) -> Self {
        Swarm {
            seeders: PeerList::default(),
            leechers: PeerList::default(),
            downloaded: 0,
            next_sweep: now,
        }
    }

    fn sweep_if_due(&mut self, now: Instant, timeout: Duration) {
        if now < self.next_sweep {
            return;
        }
        if let Some(cutoff) = now.checked_sub(timeout) {
            self.seeders.expire(cutoff);
            self.leechers.expire(cutoff);
        }
        self.next_sweep = now + timeout / 8;
    }

    fn counts(&self) -> ScrapeFile {
        ScrapeFile {
            complete: count(self.seeders.len()),
            incomplete: count(self.leechers.len()),
            downloaded: self.downloaded,
        }
    }

    fn is_empty(&self) -> bool {
        self.seeders.len() == 0 && self.leechers.len() == 0
    }

    /// Up to `n` peers other than `me`, starting at a random point of the seeders-then-leechers
    /// sequence (seeders are skipped when `me` is a seeder), ignoring peers older than `cutoff`.
    fn select(
        &self,
        me: SocketAddr,
        me_seeder: bool,
        n: usize,
        family: Family,
        cutoff: Instant,
    ) -> Vec<PeerEntry> {
        let seeders: &[Peer] = if me_seeder { &[] } else { &self.seeders.peers };
        let leechers: &[Peer] = &self.leechers.peers;
        let total = seeders.len() + leechers.len();
        let mut out = Vec::with_capacity(n.min(total));
        if n == 0 || total == 0 {
            return out;
        }
        let start = fastrand::usize(..total);
        for k in 0..total {
            if out.len() >= n {
                break;
            }
            let i = (start + k) % total;
            let peer = if i < seeders.len() {
                seeders.get(i)
            } else {
                leechers.get(i - seeders.len())
            };
            let Some(p) = peer else { continue };
            if p.addr != me && p.last_seen >= cutoff && family.admits(&p.addr) {
                out.push(PeerEntry {
                    addr: p.addr,
                    peer_id: p.peer_id,
                });
            }
        }
        out
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every tracked torrent, plus the allowed set when an allowed dir is configured.
#[derive(Debug)]
pub(crate) struct Swarms {
    torrents: HashMap<InfoHash, Swarm>,
    /// `Some` in allowed-dir mode: info-hash → torrent name.
    allowed: Option<HashMap<InfoHash, Arc<str>>>,
    /// Peers unseen for this long are dropped (two announce intervals).
    peer_timeout: Duration,
    /// Open mode's cap on the number of torrents.
    max_torrents: usize,
    /// Set when a completed count changed since the last save.
    dirty: bool,
}

impl Swarms {
    /// An empty table. `allowed` is `Some` in allowed-dir mode.
    pub fn new(
        peer_timeout: Duration,
        max_torrents: usize,
        allowed: Option<HashMap<InfoHash, Arc<str>>>,
    ) -> Self {
        Swarms {
            torrents: HashMap::new(),
            allowed,
            peer_timeout,
            max_torrents,
            dirty: false,
        }
    }

    /// Whether `info_hash` may be tracked.
    pub fn is_allowed(&self, info_hash: &InfoHash) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|a| a.contains_key(info_hash))
    }

    /// Replaces the allowed set (after a rescan); peers of torrents no longer allowed are dropped.
    pub fn set_allowed(&mut self, allowed: Option<HashMap<InfoHash, Arc<str>>>) {
        self.allowed = allowed;
        if let Some(a) = &self.allowed {
            for (ih, swarm) in &mut self.torrents {
                if !a.contains_key(ih) {
                    swarm.seeders = PeerList::default();
                    swarm.leechers = PeerList::default();
                }
            }
        }
    }

    /// Records an announce and picks peers for the reply.
    pub fn announce(&mut self, a: &Announce, now: Instant) -> Result<AnnounceReply, Refusal> {
        if !self.is_allowed(&a.info_hash) {
            return Err(Refusal::NotAllowed);
        }
        let timeout = self.peer_timeout;
        if !self.torrents.contains_key(&a.info_hash) {
            if a.event == Event::Stopped {
                return Ok(AnnounceReply::default());
            }
            if self.allowed.is_none() && self.torrents.len() >= self.max_torrents {
                return Err(Refusal::TooManyTorrents);
            }
        }
        let swarm = self
            .torrents
            .entry(a.info_hash)
            .or_insert_with(|| Swarm::new(now));
        swarm.sweep_if_due(now, timeout);

        let was_seeder = swarm.seeders.remove(&a.addr).is_some();
        swarm.leechers.remove(&a.addr);
        let seeder = a.left == 0;
        if a.event == Event::Completed && !was_seeder {
            swarm.downloaded = swarm.downloaded.saturating_add(1);
            self.dirty = true;
        }
        let mut reply = AnnounceReply::default();
        if a.event != Event::Stopped {
            let peer = Peer {
                addr: a.addr,
                peer_id: a.peer_id,
                last_seen: now,
            };
            if seeder {
                swarm.seeders.insert(peer);
            } else {
                swarm.leechers.insert(peer);
            }
            let cutoff = now.checked_sub(timeout).unwrap_or(now);
            reply.peers = swarm.select(a.addr, seeder, a.numwant, a.family, cutoff);
        }
        let c = swarm.counts();
        reply.complete = c.complete;
        reply.incomplete = c.incomplete;
        Ok(reply)
    }

    /// Scrape counters for `info_hash`; `None` when it is not allowed.
    pub fn scrape(&mut self, info_hash: &InfoHash, now: Instant) -> Option<ScrapeFile> {
        if !self.is_allowed(info_hash) {
            return None;
        }
        let timeout = self.peer_timeout;
        Some(match self.torrents.get_mut(info_hash) {
            Some(swarm) => {
                swarm.sweep_if_due(now, timeout);
                swarm.counts()
            }
            None => ScrapeFile::default(),
        })
    }

    /// Every info-hash a scrape without `info_hash` reports, at most `cap`, sorted.
    pub fn scrape_all_keys(&self, cap: usize) -> Vec<InfoHash> {
        let mut keys: Vec<InfoHash> = match &self.allowed {
            Some(a) => a.keys().copied().collect(),
            None => self.torrents.keys().copied().collect(),
        };
        keys.sort_unstable_by_key(|ih| ih.0);
        keys.truncate(cap);
        keys
    }

    /// Drops expired peers everywhere and forgets swarms with neither peers nor completed downloads.
    pub fn sweep(&mut self, now: Instant) {
        let timeout = self.peer_timeout;
        for swarm in self.torrents.values_mut() {
            swarm.next_sweep = now;
            swarm.sweep_if_due(now, timeout);
        }
        self.torrents
            .retain(|_, s| !s.is_empty() || s.downloaded > 0);
    }

    /// Seeds the completed counts from the state file.
    pub fn load_downloaded(
        &mut self,
        counts: impl IntoIterator<Item = (InfoHash, u64)>,
        now: Instant,
    ) {
        for (ih, n) in counts {
            if n > 0 {
                self.torrents
                    .entry(ih)
                    .or_insert_with(|| Swarm::new(now))
                    .downloaded = n;
            }
        }
    }

    /// The completed counts to persist, and whether they changed since the last call.
    pub fn take_downloaded(&mut self) -> (Vec<(InfoHash, u64)>, bool) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut v: Vec<(InfoHash, u64)> = self
            .torrents
            .iter()
            .filter(|(_, s)| s.downloaded > 0)
            .map(|(ih, s)| (*ih, s.downloaded))
            .collect();
        v.sort_unstable_by_key(|(ih, _)| ih.0);
        (v, dirty)
    }

    /// Marks the counts as unsaved again (after a failed save).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The statistics page's rows (unsorted) and totals. Cheap: no sorting or formatting
    /// while the table is locked.
    pub fn stats(&self) -> Stats {
        let mut rows: Vec<TorrentStats> = Vec::with_capacity(self.torrents.len());
        let row = |ih: &InfoHash, name: Option<Arc<str>>, c: ScrapeFile| TorrentStats {
            info_hash: *ih,
            name,
            seeders: c.complete,
            leechers: c.incomplete,
            completed: c.downloaded,
        };
        match &self.allowed {
            Some(allowed) => {
                for (ih, name) in allowed {
                    let c = self.torrents.get(ih).map(Swarm::counts).unwrap_or_default();
                    rows.push(row(ih, Some(name.clone()), c));
                }
            }
            None => rows.extend(
                self.torrents
                    .iter()
                    .map(|(ih, swarm)| row(ih, None, swarm.counts())),
            ),
        }
        let totals = Totals {
            torrents: rows.len(),
            seeders: rows.iter().map(|r| u64::from(r.seeders)).sum(),
            leechers: rows.iter().map(|r| u64::from(r.leechers)).sum(),
            completed: rows.iter().map(|r| r.completed).sum(),
        };
        Stats {
            torrents: rows,
            totals,
        }
    }
}

impl Stats {
    /// Sorts the rows by name, then info-hash, and keeps the first `cap`.
    pub fn sort_and_cap(&mut self, cap: usize) {
        self.torrents.sort_unstable_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| a.info_hash.0.cmp(&b.info_hash.0))
        });
        self.torrents.truncate(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn addr(last: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), port)
    }

    fn ann(ih: u8, addr: SocketAddr, left: u64, event: Event) -> Announce {
        Announce {
            info_hash: InfoHash([ih; 20]),
            peer_id: [addr.port() as u8; 20],
            addr,
            left,
            event,
            numwant: 50,
            family: Family::Any,
        }
    }

    fn swarms() -> Swarms {
        Swarms::new(Duration::from_secs(60), 10, None)
    }

    #[tokio::test(start_paused = true)]
    async fn seeders_get_only_leechers() {
        let mut s = swarms();
        let now = Instant::now();
        s.announce(&ann(1, addr(1, 1000), 0, Event::Started), now)
            .unwrap();
        s.announce(&ann(1, addr(2, 1000), 0, Event::Started), now)
            .unwrap();
        s.announce(&ann(1, addr(3, 1000), 5, Event::Started), now)
            .unwrap();
        let r = s
            .announce(&ann(1, addr(1, 1000), 0, Event::None), now)
            .unwrap();
        assert_eq!(r.peers.len(), 1);
        assert_eq!(r.peers[0].addr, addr(3, 1000));
        assert_eq!((r.complete, r.incomplete), (2, 1));
        let r = s
            .announce(&ann(1, addr(3, 1000), 5, Event::None), now)
            .unwrap();
        assert_eq!(r.peers.len(), 2);
        assert!(r.peers.iter().all(|p| p.addr != addr(3, 1000)));
    }

    #[tokio::test(start_paused = true)]
    async fn completed_counted_once_and_stopped_leaves() {
        let mut s = swarms();
        let now = Instant::now();
        s.announce(&ann(1, addr(1, 1), 10, Event::Started), now)
            .unwrap();
        let r = s
            .announce(&ann(1, addr(1, 1), 0, Event::Completed), now)
            .unwrap();
        assert_eq!((r.complete, r.incomplete), (1, 0));
        s.announce(&ann(1, addr(1, 1), 0, Event::Completed), now)
            .unwrap();
        assert_eq!(s.scrape(&InfoHash([1; 20]), now).unwrap().downloaded, 1);
        let r = s
            .announce(&ann(1, addr(1, 1), 0, Event::Stopped), now)
            .unwrap();
        assert_eq!((r.complete, r.incomplete), (0, 0));
        assert!(r.peers.is_empty());
        let (counts, dirty) = s.take_downloaded();
        assert!(dirty);
        assert_eq!(counts, vec![(InfoHash([1; 20]), 1)]);
        assert!(!s.take_downloaded().1);
    }

    #[tokio::test(start_paused = true)]
    async fn peers_expire_after_timeout() {
        let mut s = swarms();
        let t0 = Instant::now();
        s.announce(&ann(1, addr(1, 1), 10, Event::Started), t0)
            .unwrap();
        let t1 = t0 + Duration::from_secs(59);
        let r = s
            .announce(&ann(1, addr(2, 1), 10, Event::Started), t1)
            .unwrap();
        assert_eq!(r.peers.len(), 1);
        let t2 = t0 + Duration::from_secs(61);
        let r = s
            .announce(&ann(1, addr(3, 1), 10, Event::Started), t2)
            .unwrap();
        assert_eq!(
            r.peers.iter().map(|p| p.addr).collect::<Vec<_>>(),
            vec![addr(2, 1)]
        );
        s.sweep(t2);
        assert_eq!(s.scrape(&InfoHash([1; 20]), t2).unwrap().incomplete, 2);
        s.sweep(t2 + Duration::from_secs(200));
        assert!(
            s.torrents.is_empty(),
            "empty swarm without downloads is forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn allowed_set_and_caps() {
        let now = Instant::now();
        let mut allowed = HashMap::new();
        allowed.insert(InfoHash([1; 20]), Arc::<str>::from("one"));
        let mut s = Swarms::new(Duration::from_secs(60), 1, Some(allowed));
        assert_eq!(
            s.announce(&ann(2, addr(1, 1), 1, Event::None), now)
                .unwrap_err(),
            Refusal::NotAllowed
        );
        assert!(s.scrape(&InfoHash([2; 20]), now).is_none());
        s.announce(&ann(1, addr(1, 1), 1, Event::None), now)
            .unwrap();
        let st = s.stats();
        assert_eq!(st.torrents.len(), 1);
        assert_eq!(st.torrents[0].name.as_deref(), Some("one"));
        s.set_allowed(None);
        assert_eq!(
            s.announce(&ann(3, addr(1, 1), 1, Event::None), now)
                .unwrap_err(),
            Refusal::TooManyTorrents
        );
    }

    #[tokio::test(start_paused = true)]
    async fn numwant_and_family() {
        let mut s = swarms();
        let now = Instant::now();
        for i in 1..=20 {
            s.announce(&ann(1, addr(i, 1), 1, Event::None), now)
                .unwrap();
        }
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 7);
        s.announce(&ann(1, v6, 1, Event::None), now).unwrap();
        let mut a = ann(1, addr(99, 1), 1, Event::None);
        a.numwant = 5;
        assert_eq!(s.announce(&a, now).unwrap().peers.len(), 5);
        a.numwant = 100;
        a.family = Family::V6;
        let r = s.announce(&a, now).unwrap();
        assert_eq!(r.peers.iter().map(|p| p.addr).collect::<Vec<_>>(), vec![v6]);
        a.family = Family::V4;
        assert_eq!(s.announce(&a, now).unwrap().peers.len(), 20);
    }
}
