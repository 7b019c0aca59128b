//! The swarm table: every tracked torrent's peers, seed/leech counts and completed downloads.
//!
//! One [`Swarms`] value lives behind a `std::sync::Mutex` in the server; every method is
//! synchronous and cheap (no I/O, no await), so the lock is held for microseconds. Time is
//! passed in as a `tokio::time::Instant`, which keeps expiry testable with paused time.
//!
//! Budgets ([`Limits`]), so that one host cannot fill the table:
//! - peers per swarm, and per IP address within a swarm: beyond either, an announce is answered
//!   but its peer is not stored (refused);
//! - peers per IP address across all swarms: the address's least recently announced peer is
//!   evicted to make room (an address only ever displaces itself);
//! - peers in total: beyond it, new peers are answered but not stored until others expire;
//! - swarms in total (open mode): a new torrent evicts the longest-idle swarm without peers,
//!   one whose completed count is not kept first; only when every swarm has peers is it refused.
//!
//! Completed counts are kept (past idleness, in the state file) only in allowed-dir mode or for
//! swarms that had peers from two IP addresses; other idle swarms are forgotten at the next
//! sweep. Every operation is a few hash or B-tree steps; only the periodic [`Swarms::sweep`]
//! walks the table.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metainfo::InfoHash;
use tokio::time::Instant;

pub(crate) use tracker::Event;
pub(crate) use tracker::wire::http::{PeerEntry, ScrapeFile};

use ip_index::IpIndex;
use peer_list::Peer;
pub(crate) use report::{Stats, TorrentStats, Totals};
use torrent::Swarm;

mod ip_index;
mod peer_list;
mod report;
#[cfg(test)]
mod tests;
mod torrent;

/// The swarm table's budgets (see the module documentation for what happens at each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open mode: most torrents tracked at once.
    pub max_torrents: usize,
    /// Most peers stored in all swarms together.
    pub max_peers: usize,
    /// Most peers stored in one swarm.
    pub max_peers_per_swarm: usize,
    /// Most peers one IP address has stored across all swarms (a seedbox announcing many
    /// torrents from one address needs one per torrent).
    pub max_peers_per_ip: usize,
    /// Most peers (ports) one IP address has stored in one swarm.
    pub max_peers_per_ip_in_swarm: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_torrents: 100_000,
            max_peers: 1_000_000,
            max_peers_per_swarm: 50_000,
            max_peers_per_ip: 20_000,
            max_peers_per_ip_in_swarm: 32,
        }
    }
}

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

/// Every tracked torrent, plus the allowed set when an allowed dir is configured.
#[derive(Debug)]
pub(crate) struct Swarms {
    torrents: HashMap<InfoHash, Swarm>,
    /// `Some` in allowed-dir mode: info-hash → torrent name.
    allowed: Option<HashMap<InfoHash, Arc<str>>>,
    /// Peers unseen for this long are dropped (two announce intervals).
    peer_timeout: Duration,
    limits: Limits,
    /// Stored peers per IP address, oldest first.
    ips: IpIndex,
    /// Swarms without peers whose completed count is not kept, longest idle first.
    idle: BTreeMap<u64, InfoHash>,
    /// Swarms without peers whose completed count is kept, longest idle first.
    idle_counted: BTreeMap<u64, InfoHash>,
    /// Orders announces and idleness (peer `seq`, idle keys).
    seq: u64,
    /// Set when a kept completed count changed since the last save.
    dirty: bool,
}

impl Swarms {
    /// An empty table. `allowed` is `Some` in allowed-dir mode.
    pub fn new(
        peer_timeout: Duration,
        limits: Limits,
        allowed: Option<HashMap<InfoHash, Arc<str>>>,
    ) -> Self {
        Swarms {
            torrents: HashMap::new(),
            allowed,
            peer_timeout,
            limits,
            ips: IpIndex::default(),
            idle: BTreeMap::new(),
            idle_counted: BTreeMap::new(),
            seq: 0,
            dirty: false,
        }
    }

    /// Whether `info_hash` may be tracked.
    pub fn is_allowed(&self, info_hash: &InfoHash) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|a| a.contains_key(info_hash))
    }

    /// Whether `swarm`'s completed count outlives its peers (and is saved).
    fn keeps_count(&self, swarm: &Swarm) -> bool {
        swarm.downloaded > 0 && (self.allowed.is_some() || swarm.real)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Replaces the allowed set (after a rescan); peers of torrents no longer allowed are dropped.
    pub fn set_allowed(&mut self, allowed: Option<HashMap<InfoHash, Arc<str>>>) {
        self.allowed = allowed;
        let Some(a) = &self.allowed else { return };
        let gone: Vec<InfoHash> = self
            .torrents
            .keys()
            .filter(|ih| !a.contains_key(*ih))
            .copied()
            .collect();
        for ih in gone {
            if let Some(swarm) = self.torrents.get_mut(&ih) {
                let ips = &mut self.ips;
                swarm.clear(|p| ips.remove(&p.addr.ip(), p.seq));
            }
            self.refresh_idle(&ih);
        }
    }

    /// Puts a swarm without peers at the young end of its idle queue, or takes a swarm with
    /// peers out of it.
    fn refresh_idle(&mut self, ih: &InfoHash) {
        let seq = self.next_seq();
        let Some(swarm) = self.torrents.get(ih) else {
            return;
        };
        let counted = self.keeps_count(swarm);
        let empty = swarm.is_empty();
        let old = swarm.idle_key;
        if let Some((k, c)) = old {
            if c {
                &mut self.idle_counted
            } else {
                &mut self.idle
            }
            .remove(&k);
        }
        let key = empty.then_some((seq, counted));
        if let Some((k, c)) = key {
            if c {
                &mut self.idle_counted
            } else {
                &mut self.idle
            }
            .insert(k, *ih);
        }
        if let Some(swarm) = self.torrents.get_mut(ih) {
            swarm.idle_key = key;
            swarm.release_if_empty();
        }
    }

    /// Forgets the longest-idle swarm (one without a kept count first); `false` when every
    /// swarm has peers.
    fn evict_idle(&mut self) -> bool {
        let (victim, counted) = match self.idle.pop_first() {
            Some((_, ih)) => (ih, false),
            None => match self.idle_counted.pop_first() {
                Some((_, ih)) => (ih, true),
                None => return false,
            },
        };
        self.torrents.remove(&victim);
        if counted {
            self.dirty = true;
        }
        true
    }

    /// Expires `ih`'s silent peers when its check is due.
    fn sweep_one(&mut self, ih: &InfoHash, now: Instant) {
        let timeout = self.peer_timeout;
        let Some(swarm) = self.torrents.get_mut(ih) else {
            return;
        };
        let ips = &mut self.ips;
        swarm.sweep_if_due(now, timeout, |p| ips.remove(&p.addr.ip(), p.seq));
    }

    /// Removes the peer at `addr` from `ih`'s swarm: whether it was a seeder.
    fn remove_peer(&mut self, ih: &InfoHash, addr: &SocketAddr) -> Option<bool> {
        let (peer, seeder) = self.torrents.get_mut(ih)?.remove(addr)?;
        self.ips.remove(&addr.ip(), peer.seq);
        Some(seeder)
    }

    /// Stores `peer` in `ih`'s swarm within the budgets; `false` when it was refused.
    fn store_peer(
        &mut self,
        ih: &InfoHash,
        addr: SocketAddr,
        peer_id: [u8; 20],
        seeder: bool,
        now: Instant,
    ) -> bool {
        let ip = addr.ip();
        let lim = self.limits;
        match self.torrents.get(ih) {
            Some(s)
                if s.len() < lim.max_peers_per_swarm
                    && s.count_of(&ip) < lim.max_peers_per_ip_in_swarm => {}
            _ => return false,
        }
        // The address pays for its own room: its least recently announced peer goes.
        while self.ips.count(&ip) >= lim.max_peers_per_ip.max(1) {
            let Some((seq, old_ih, old_addr)) = self.ips.oldest(&ip) else {
                break;
            };
            if self.remove_peer(&old_ih, &old_addr).is_none() {
                self.ips.remove(&ip, seq);
            }
            if old_ih != *ih {
                self.refresh_idle(&old_ih);
            }
        }
        if self.ips.total() >= lim.max_peers {
            return false;
        }
        let seq = self.next_seq();
        let Some(swarm) = self.torrents.get_mut(ih) else {
            return false;
        };
        let became_real = swarm.insert(
            Peer {
                addr,
                peer_id,
                last_seen: now,
                seq,
            },
            seeder,
        );
        // A count kept from now on is a count to save.
        self.dirty |= became_real && swarm.downloaded > 0;
        self.ips.insert(seq, *ih, addr);
        true
    }

    /// Records an announce and picks peers for the reply.
    pub fn announce(&mut self, a: &Announce, now: Instant) -> Result<AnnounceReply, Refusal> {
        if !self.is_allowed(&a.info_hash) {
            return Err(Refusal::NotAllowed);
        }
        if !self.torrents.contains_key(&a.info_hash) {
            if a.event == Event::Stopped {
                return Ok(AnnounceReply::default());
            }
            if self.allowed.is_none()
                && self.torrents.len() >= self.limits.max_torrents
                && !self.evict_idle()
            {
                return Err(Refusal::TooManyTorrents);
            }
            self.torrents.insert(a.info_hash, Swarm::new(now));
        }
        let ih = a.info_hash;
        self.sweep_one(&ih, now);
        let was_seeder = self.remove_peer(&ih, &a.addr) == Some(true);
        let seeder = a.left == 0;
        let mut reply = AnnounceReply::default();
        if a.event != Event::Stopped {
            self.store_peer(&ih, a.addr, a.peer_id, seeder, now);
        }
        let cutoff = now.checked_sub(self.peer_timeout).unwrap_or(now);
        let allowed_mode = self.allowed.is_some();
        if let Some(swarm) = self.torrents.get_mut(&ih) {
            if a.event == Event::Completed && !was_seeder {
                swarm.downloaded = swarm.downloaded.saturating_add(1);
                self.dirty |= allowed_mode || swarm.real;
            }
            if a.event != Event::Stopped {
                reply.peers = swarm.select(a.addr, seeder, a.numwant, a.family, cutoff);
            }
            let c = swarm.counts();
            reply.complete = c.complete;
            reply.incomplete = c.incomplete;
        }
        self.refresh_idle(&ih);
        Ok(reply)
    }

    /// Scrape counters for `info_hash`; `None` when it is not allowed.
    pub fn scrape(&mut self, info_hash: &InfoHash, now: Instant) -> Option<ScrapeFile> {
        if !self.is_allowed(info_hash) {
            return None;
        }
        if !self.torrents.contains_key(info_hash) {
            return Some(ScrapeFile::default());
        }
        self.sweep_one(info_hash, now);
        self.refresh_idle(info_hash);
        self.torrents.get(info_hash).map(Swarm::counts)
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

    /// Drops expired peers everywhere and forgets swarms without peers, unless their completed
    /// count is kept.
    pub fn sweep(&mut self, now: Instant) {
        let timeout = self.peer_timeout;
        let ips = &mut self.ips;
        for swarm in self.torrents.values_mut() {
            swarm.next_sweep = now;
            swarm.sweep_if_due(now, timeout, |p| ips.remove(&p.addr.ip(), p.seq));
        }
        let allowed_mode = self.allowed.is_some();
        let (idle, idle_counted) = (&mut self.idle, &mut self.idle_counted);
        let mut now_idle = Vec::new();
        self.torrents.retain(|ih, s| {
            if !s.is_empty() {
                return true;
            }
            let kept = s.downloaded > 0 && (allowed_mode || s.real);
            if kept {
                if s.idle_key.is_none() {
                    now_idle.push(*ih);
                }
                return true;
            }
            if let Some((k, c)) = s.idle_key {
                if c { &mut *idle_counted } else { &mut *idle }.remove(&k);
            }
            false
        });
        for ih in now_idle {
            self.refresh_idle(&ih);
        }
    }

    /// Seeds the completed counts from the state file (in open mode, at most the torrent cap).
    pub fn load_downloaded(
        &mut self,
        counts: impl IntoIterator<Item = (InfoHash, u64)>,
        now: Instant,
    ) {
        for (ih, n) in counts {
            if n == 0 || !self.is_allowed(&ih) {
                continue;
            }
            if self.allowed.is_none() && self.torrents.len() >= self.limits.max_torrents {
                break;
            }
            let swarm = self.torrents.entry(ih).or_insert_with(|| Swarm::new(now));
            swarm.downloaded = n;
            // Only kept counts are saved: they came from a swarm with real peers.
            swarm.real = true;
            self.refresh_idle(&ih);
        }
    }

    /// The kept completed counts to persist, and whether they changed since the last call.
    pub fn take_downloaded(&mut self) -> (Vec<(InfoHash, u64)>, bool) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut v: Vec<(InfoHash, u64)> = self
            .torrents
            .iter()
            .filter(|(_, s)| self.keeps_count(s))
            .map(|(ih, s)| (*ih, s.downloaded))
            .collect();
        v.sort_unstable_by_key(|(ih, _)| ih.0);
        (v, dirty)
    }

    /// Marks the counts as unsaved again (after a failed save).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Torrents and stored peers, for tests and the statistics.
    #[cfg(test)]
    pub fn sizes(&self) -> (usize, usize) {
        (self.torrents.len(), self.ips.total())
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
