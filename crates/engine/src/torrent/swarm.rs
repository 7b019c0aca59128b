//! The swarm of one torrent as pure state: the peer table, the connection candidates and the
//! dial queue, bans and hash-failure strikes, the duplicate-connection rule and the PEX delta.
//!
//! No I/O and no async: the torrent task owns it, feeds it what happened (with the time) and
//! carries out what it decides (dial, close, send). `L` is what the task keeps per connected
//! peer besides the swarm's own record (its command channel and counters); tests use `()`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use metainfo::PeerId;
use tokio::time::Instant;
use tracing::warn;

use crate::PeerKey;
use crate::error::PeerError;

/// Peer addresses that failed this often are forgotten.
pub(crate) const MAX_CONNECT_FAILURES: u32 = 5;
/// A peer whose data failed this many hash checks is banned (at once when it was the only source).
pub(crate) const MAX_STRIKES: u32 = 3;
/// A peer that disconnected is dialled again after this long at the earliest.
const RECONNECT_DELAY: Duration = Duration::from_secs(30);
/// At most this many added (and dropped) addresses go into one PEX message.
const PEX_MAX: usize = 50;
/// Addresses of peers one torrent remembers (connected, queued or backing off); beyond it the
/// oldest queued ones make room, so a flood of addresses costs a bounded table.
pub(crate) const MAX_CANDIDATES: usize = 2000;

/// How many of `max_peers` slots handshakes under way may hold before we dial no more: half
/// (at least one). Addresses someone handed us (PEX, a tracker) that hang until the connect
/// timeout (black holes, or closed TCP ports tried again over uTP) cannot fill every slot and
/// lock out the peers that connect to us.
pub(crate) fn dial_slots(max_peers: usize) -> usize {
    max_peers.div_ceil(2).max(1)
}

/// One connected peer as the swarm sees it.
#[derive(Debug)]
pub(crate) struct SwarmPeer<L> {
    /// Where the connection comes from.
    pub addr: SocketAddr,
    /// Its peer id from the handshake.
    pub peer_id: PeerId,
    /// The address we dialled (`None`: it connected to us).
    pub dial_addr: Option<SocketAddr>,
    /// Where the peer accepts connections (the dial address, or its BEP 10 `p` for inbound).
    pub listen_addr: Option<SocketAddr>,
    /// It speaks `ut_pex`.
    pub pex: bool,
    /// The addresses we last told it about.
    pex_sent: HashSet<SocketAddr>,
    /// What the torrent task keeps for it.
    pub link: L,
}

#[derive(Debug, Default)]
struct Candidate {
    failures: u32,
    next_try: Option<Instant>,
    connected: bool,
    is_seed: bool,
    /// It is in the dial queue (so it is never queued twice, without scanning the queue).
    queued: bool,
}

/// The verdict on a connection whose handshake completed.
#[derive(Debug)]
pub(crate) struct Admission {
    /// `Ok`: insert it; `Err`: drop it, saying why.
    pub verdict: Result<(), PeerError>,
    /// An older connection to the same peer that lost to this one: close it.
    pub close: Option<PeerKey>,
}

/// Peers, candidates and bans of one torrent.
#[derive(Debug)]
pub(crate) struct Swarm<L> {
    our_id: PeerId,
    listen: SocketAddr,
    announce_port: u16,
    peers: HashMap<PeerKey, SwarmPeer<L>>,
    next_key: PeerKey,
    candidates: HashMap<SocketAddr, Candidate>,
    queue: VecDeque<SocketAddr>,
    connecting: usize,
    banned_addrs: HashSet<SocketAddr>,
    banned_ids: HashSet<PeerId>,
    strikes: HashMap<PeerId, u32>,
}

impl<L> Swarm<L> {
    /// An empty swarm for a session with peer id `our_id`, listening on `listen` and
    /// announcing `announce_port`.
    pub(crate) fn new(our_id: PeerId, listen: SocketAddr, announce_port: u16) -> Self {
        Self {
            our_id,
            listen,
            announce_port,
            peers: HashMap::new(),
            next_key: 1,
            candidates: HashMap::new(),
            queue: VecDeque::new(),
            connecting: 0,
            banned_addrs: HashSet::new(),
            banned_ids: HashSet::new(),
            strikes: HashMap::new(),
        }
    }

    /// Connected peers.
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Connected peers and handshakes under way.
    pub(crate) fn open(&self) -> usize {
        self.peers.len() + self.connecting
    }

    /// No peers, no handshakes, nothing queued to dial.
    pub(crate) fn is_quiet(&self) -> bool {
        self.peers.is_empty() && self.connecting == 0 && self.queue.is_empty()
    }

    /// The connected peers.
    pub(crate) fn peers(&self) -> impl Iterator<Item = (&PeerKey, &SwarmPeer<L>)> {
        self.peers.iter()
    }

    /// The connected peers, mutably.
    pub(crate) fn peers_mut(&mut self) -> impl Iterator<Item = (&PeerKey, &mut SwarmPeer<L>)> {
        self.peers.iter_mut()
    }

    /// One connected peer.
    pub(crate) fn get(&self, key: PeerKey) -> Option<&SwarmPeer<L>> {
        self.peers.get(&key)
    }

    /// One connected peer, mutably.
    pub(crate) fn get_mut(&mut self, key: PeerKey) -> Option<&mut SwarmPeer<L>> {
        self.peers.get_mut(&key)
    }

    /// Forgets every peer (the torrent stopped).
    pub(crate) fn clear_peers(&mut self) {
        self.peers.clear();
    }

    /// Our own listen address as trackers hand it back. Other addresses of ours (a public IP)
    /// are caught after the handshake by our peer id, and never dialled again.
    fn is_self(&self, addr: SocketAddr) -> bool {
        (addr.port() == self.listen.port() || addr.port() == self.announce_port)
            && (addr.ip().is_loopback() || addr.ip() == self.listen.ip())
    }

    /// Whether a connected peer listens at `addr` (an inbound peer told us its port): dialling
    /// it would only make a duplicate connection.
    fn is_connected_to(&self, addr: SocketAddr) -> bool {
        self.peers.values().any(|p| p.listen_addr == Some(addr))
    }

    /// Remembers addresses from trackers, PEX or the user; new ones are queued for dialling.
    /// Each costs O(1); at most [`MAX_CANDIDATES`] are kept, the oldest queued ones giving
    /// way, and one batch never brings more than that.
    pub(crate) fn add_candidates(&mut self, addrs: Vec<SocketAddr>) {
        let connected: HashSet<SocketAddr> =
            self.peers.values().filter_map(|p| p.listen_addr).collect();
        for addr in addrs.into_iter().take(MAX_CANDIDATES) {
            if self.is_self(addr)
                || self.banned_addrs.contains(&addr)
                || addr.port() == 0
                || connected.contains(&addr)
            {
                continue;
            }
            if !self.candidates.contains_key(&addr)
                && self.candidates.len() >= MAX_CANDIDATES
                && !self.evict_one()
            {
                continue; // every slot is connected or backing off: keep those
            }
            let c = self.candidates.entry(addr).or_default();
            if !c.connected && c.next_try.is_none() && !c.queued {
                c.queued = true;
                self.queue.push_back(addr);
            }
        }
    }

    /// Forgets the oldest queued candidate that is not connected; false when there is none.
    /// Amortised O(1): entries popped here are never looked at again.
    fn evict_one(&mut self) -> bool {
        while let Some(addr) = self.queue.pop_front() {
            let Some(c) = self.candidates.get_mut(&addr) else {
                continue;
            };
            c.queued = false;
            if c.connected {
                continue;
            }
            self.candidates.remove(&addr);
            return true;
        }
        false
    }

    /// Queues the candidates whose back-off has expired.
    pub(crate) fn retry_due(&mut self, now: Instant) {
        for (addr, c) in self.candidates.iter_mut() {
            if !c.connected && !c.queued && c.next_try.is_some_and(|t| t <= now) {
                c.next_try = None;
                c.queued = true;
                self.queue.push_back(*addr);
            }
        }
    }

    /// Candidates remembered.
    #[cfg(test)]
    pub(crate) fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// The next queued address worth dialling while fewer than `max_peers` are open and
    /// handshakes under way hold at most half of them ([`dial_slots`]); seeds are skipped while
    /// we seed. The caller dials it ([`Swarm::dialing`]) or puts it back ([`Swarm::requeue`]).
    pub(crate) fn next_dial(&mut self, seeding: bool, max_peers: usize) -> Option<SocketAddr> {
        while self.open() < max_peers && self.connecting < dial_slots(max_peers) {
            let addr = self.queue.pop_front()?;
            let Some(c) = self.candidates.get_mut(&addr) else {
                continue;
            };
            c.queued = false;
            if c.connected || (seeding && c.is_seed) || self.is_connected_to(addr) {
                continue;
            }
            return Some(addr);
        }
        None
    }

    /// `addr` could not be dialled now (no connection slot): first in the queue again.
    pub(crate) fn requeue(&mut self, addr: SocketAddr) {
        if let Some(c) = self.candidates.get_mut(&addr)
            && !c.queued
        {
            c.queued = true;
            self.queue.push_front(addr);
        }
    }

    /// A dial to `addr` started.
    pub(crate) fn dialing(&mut self, addr: SocketAddr) {
        self.connecting += 1;
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.connected = true;
        }
    }

    /// Whether an incoming connection from `addr` may proceed to its handshake (then it counts
    /// as connecting).
    pub(crate) fn accept_incoming(&mut self, addr: SocketAddr, max_peers: usize) -> bool {
        if self.open() >= max_peers || self.banned_addrs.contains(&addr) {
            return false;
        }
        self.connecting += 1;
        true
    }

    /// A dial or an incoming handshake failed; a dialled address backs off, and is forgotten
    /// after [`MAX_CONNECT_FAILURES`].
    pub(crate) fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        self.connecting = self.connecting.saturating_sub(1);
        let Some(c) = self.candidates.get_mut(&addr) else {
            return;
        };
        c.connected = false;
        c.failures += 1;
        if c.failures >= MAX_CONNECT_FAILURES {
            self.candidates.remove(&addr);
        } else {
            c.next_try = Some(now + Duration::from_secs(15 * u64::from(c.failures)));
        }
    }

    /// Decides on a connection whose handshake completed (it no longer counts as connecting).
    pub(crate) fn admit(
        &mut self,
        peer_id: PeerId,
        addr: SocketAddr,
        outgoing: bool,
        accepting: bool,
    ) -> Admission {
        self.connecting = self.connecting.saturating_sub(1);
        let mut close = None;
        let verdict = if peer_id == self.our_id {
            Err(PeerError::ConnectedToSelf)
        } else if self.banned_ids.contains(&peer_id) || self.banned_addrs.contains(&addr) {
            Err(PeerError::Banned)
        } else {
            match self.keep_if_duplicate(peer_id, outgoing) {
                Duplicate::No => Ok(()),
                Duplicate::KeepNew(old) => {
                    close = Some(old);
                    Ok(())
                }
                Duplicate::KeepOld => Err(PeerError::AlreadyConnected),
            }
        };
        let verdict = verdict.and_then(|()| {
            if accepting {
                Ok(())
            } else {
                Err(PeerError::NotAccepting)
            }
        });
        if let Err(why) = &verdict
            && let Some(c) = outgoing
                .then_some(addr)
                .and_then(|a| self.candidates.get_mut(&a))
        {
            c.connected = false;
            if matches!(why, PeerError::ConnectedToSelf) {
                c.failures = MAX_CONNECT_FAILURES;
            }
        }
        Admission { verdict, close }
    }

    /// When both sides dialled each other at once (after PEX, say), both keep the connection
    /// opened by the side with the smaller peer id, so exactly one survives.
    fn keep_if_duplicate(&self, peer_id: PeerId, outgoing: bool) -> Duplicate {
        let Some((key, existing)) = self.peers.iter().find(|(_, p)| p.peer_id == peer_id) else {
            return Duplicate::No;
        };
        if existing.dial_addr.is_some() == outgoing {
            return Duplicate::KeepOld;
        }
        let we_are_smaller = self.our_id.0 < peer_id.0;
        if outgoing == we_are_smaller {
            Duplicate::KeepNew(*key)
        } else {
            Duplicate::KeepOld
        }
    }

    /// Adds an admitted peer; returns its key.
    pub(crate) fn insert(
        &mut self,
        addr: SocketAddr,
        peer_id: PeerId,
        outgoing: bool,
        link: L,
    ) -> PeerKey {
        let key = self.next_key;
        self.next_key += 1;
        let dial_addr = outgoing.then_some(addr);
        self.peers.insert(
            key,
            SwarmPeer {
                addr,
                peer_id,
                dial_addr,
                listen_addr: dial_addr,
                pex: false,
                pex_sent: HashSet::new(),
                link,
            },
        );
        key
    }

    /// A connection ended: the peer leaves the table, and its address (when we dialled it) may
    /// be tried again after a while, unless it is a seed and we seed. `is_seed` reads that
    /// from the task's record.
    pub(crate) fn remove(
        &mut self,
        key: PeerKey,
        now: Instant,
        is_seed: impl FnOnce(&L) -> bool,
    ) -> Option<SwarmPeer<L>> {
        let p = self.peers.remove(&key)?;
        if let Some(c) = p.dial_addr.and_then(|a| self.candidates.get_mut(&a)) {
            c.connected = false;
            c.is_seed = is_seed(&p.link);
            c.next_try = Some(now + RECONNECT_DELAY);
        }
        Some(p)
    }

    /// The peer's extension handshake: whether it speaks PEX, and (for an inbound peer) the
    /// port it listens on.
    pub(crate) fn set_extensions(&mut self, key: PeerKey, listen_port: Option<u16>, pex: bool) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.pex = pex;
            if p.dial_addr.is_none() {
                p.listen_addr = listen_port.map(|port| SocketAddr::new(p.addr.ip(), port));
            }
        }
    }

    /// A piece from `contributors` failed its hash check: each gets a strike, and is banned
    /// (returned, to be closed) when it was the only source or has [`MAX_STRIKES`].
    pub(crate) fn strike(&mut self, index: u32, contributors: &[PeerKey]) -> Vec<PeerKey> {
        let sole = contributors.len() == 1;
        let mut banned = Vec::new();
        for key in contributors {
            let Some(p) = self.peers.get(key) else {
                continue;
            };
            let strikes = self.strikes.entry(p.peer_id).or_insert(0);
            *strikes += 1;
            warn!(addr = %p.addr, piece = index, strikes = *strikes, "piece failed its hash check");
            if sole || *strikes >= MAX_STRIKES {
                warn!(addr = %p.addr, "banned peer after hash failures");
                self.banned_ids.insert(p.peer_id);
                if let Some(a) = p.dial_addr {
                    self.banned_addrs.insert(a);
                }
                banned.push(*key);
            }
        }
        banned
    }

    /// BEP 11: for every `ut_pex` peer, which of our peers it has not heard about from us and
    /// which are gone (at most 50 of each); what is returned counts as sent.
    pub(crate) fn pex_deltas(&mut self) -> Vec<(PeerKey, wire::PexMessage)> {
        let current: HashSet<SocketAddr> =
            self.peers.values().filter_map(|p| p.listen_addr).collect();
        let mut out = Vec::new();
        for (key, p) in self.peers.iter_mut().filter(|(_, p)| p.pex) {
            let added: Vec<SocketAddr> = current
                .iter()
                .filter(|a| !p.pex_sent.contains(*a) && Some(**a) != p.listen_addr)
                .take(PEX_MAX)
                .copied()
                .collect();
            let dropped: Vec<SocketAddr> = p
                .pex_sent
                .iter()
                .filter(|a| !current.contains(*a))
                .take(PEX_MAX)
                .copied()
                .collect();
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            for a in &added {
                p.pex_sent.insert(*a);
            }
            for a in &dropped {
                p.pex_sent.remove(a);
            }
            out.push((*key, wire::PexMessage { added, dropped }));
        }
        out
    }
}

/// What [`Swarm::keep_if_duplicate`] found.
enum Duplicate {
    /// No other connection to this peer.
    No,
    /// Keep the new connection and close this older one.
    KeepNew(PeerKey),
    /// Keep the older connection, drop the new one.
    KeepOld,
}

#[cfg(test)]
mod tests;
