//! The session: one listen port, the registry of torrents, and what they share (peer id,
//! tracker client, open-file cache, global limits).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use metainfo::{InfoHash, Metainfo, PeerId};
use storage::FdCache;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use wire::mse::req2;

use crate::addr_limit::{AddrGuard, AddrLimits, ConnPermit};
use crate::budget::ByteBudget;
use crate::ctx::{AddOptions, SessionConfig, SessionCtx};
use crate::encryption::{self, EncryptionCounters, Responding};
use crate::error::{AddError, SessionError};
use crate::ratelimit::RateLimiter;
use crate::read_cache::ReadCache;
use crate::spawn::spawn_in;
use crate::torrent::{self, Incoming, TorrentHandle};
use crate::transport::{Transport, TransportKind};
use crate::udp::UdpEndpoint;

/// A running session. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Session {
    ctx: Arc<SessionCtx>,
    torrents: Arc<Mutex<HashMap<InfoHash, TorrentHandle>>>,
    /// `HASH('req2', info_hash)` → info-hash of every torrent in `torrents`: how an incoming
    /// MSE connection finds its torrent in O(1). Updated with `torrents`, under its lock.
    skeys: Arc<RwLock<HashMap<[u8; 20], InfoHash>>>,
    /// The other 20-byte hash of every hybrid torrent (its truncated v2 info-hash, BEP 52) →
    /// its key in `torrents`: incoming peers of the v2 swarm find it too. Taken after
    /// `torrents`' lock, never before.
    aliases: Arc<Mutex<HashMap<InfoHash, InfoHash>>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Session {
    /// Binds the listen socket and starts accepting peers. Everything stops when `cancel` fires
    /// (see [`Session::shutdown`] for an orderly stop).
    pub async fn start(
        cfg: SessionConfig,
        cancel: CancellationToken,
    ) -> Result<Self, SessionError> {
        let (listener, udp) = bind_listen(cfg.listen, &cfg.utp).await?;
        let listen_addr = listener
            .local_addr()
            .map_err(|source| SessionError::Listen {
                addr: cfg.listen,
                source,
            })?;
        let upload_budget = Arc::new(ByteBudget::new(cfg.upload_memory));
        let dht = cfg.dht.then(|| {
            crate::dht_node::start(
                &udp,
                listen_addr,
                &cfg.dht_nodes,
                cfg.dht_external_ip,
                &cfg.dht_bootstrap,
                cancel.child_token(),
            )
        });
        let ctx = Arc::new(SessionCtx {
            peer_id: new_peer_id(),
            listen_addr,
            local_ips: Arc::new(local_ips(listen_addr.ip())),
            udp,
            dht,
            announce_port: cfg.announce_port.unwrap_or(listen_addr.port()),
            tracker: tracker::Client::new(crate::CLIENT_NAME)?,
            files: Arc::new(FdCache::new(cfg.max_open_files)),
            conn_limit: Arc::new(Semaphore::new(cfg.max_connections)),
            addr_limits: Arc::new(AddrLimits::new(
                cfg.max_connections_per_ip,
                cfg.max_half_open_per_ip,
            )),
            read_cache: Arc::new(ReadCache::new(cfg.read_cache_bytes, upload_budget.clone())),
            upload_budget,
            check_limit: Arc::new(Semaphore::new(cfg.check_concurrency.max(1))),
            verify_limit: Arc::new(Semaphore::new(cfg.verify_concurrency.max(1))),
            read_limit: Arc::new(Semaphore::new(cfg.max_disk_reads.max(1))),
            up: Arc::new(RateLimiter::new(cfg.max_upload_rate)),
            down: Arc::new(RateLimiter::new(cfg.max_download_rate)),
            web_http: web_client()?,
            web_seed_limit: Arc::new(Semaphore::new(cfg.max_web_seed_requests.max(1))),
            reported: Mutex::new(HashMap::new()),
            setups: Default::default(),
            cfg,
        });
        let session = Self {
            ctx,
            torrents: Arc::new(Mutex::new(HashMap::new())),
            skeys: Arc::new(RwLock::new(HashMap::new())),
            aliases: Arc::new(Mutex::new(HashMap::new())),
            cancel,
            tasks: TaskTracker::new(),
        };
        let s = session.clone();
        let span = tracing::info_span!("listener", addr = %listen_addr);
        spawn_in(&session.tasks, "accept loop", span, async move {
            s.accept_loop(listener).await;
        });
        let s = session.clone();
        let span = tracing::info_span!("utp listener", addr = %listen_addr);
        spawn_in(&session.tasks, "utp accept loop", span, async move {
            s.utp_accept_loop().await;
        });
        info!(addr = %listen_addr, "listening for peers");
        Ok(session)
    }

    /// The address peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.ctx.listen_addr
    }

    /// The shared UDP socket on the listen port: uTP runs on it; the DHT routes its KRPC
    /// datagrams from it ([`crate::udp::UdpEndpoint::route`]) and sends through its sender.
    pub fn udp(&self) -> &crate::udp::UdpEndpoint {
        &self.ctx.udp
    }

    /// The DHT node's counters, when the DHT is on.
    pub fn dht_stats(&self) -> Option<crate::DhtStats> {
        self.ctx.dht.as_ref().map(|d| d.stats())
    }

    /// What the DHT keeps across restarts: the good nodes of its routing tables, best first,
    /// and our public IP as the nodes report it (nothing when the DHT is off).
    pub async fn dht_saved(&self) -> crate::DhtSaved {
        match &self.ctx.dht {
            Some(d) => d.nodes().await,
            None => crate::DhtSaved::default(),
        }
    }

    /// The DHT node's id, when the DHT is on.
    pub fn dht_node_id(&self) -> Option<[u8; 20]> {
        self.ctx.dht.as_ref().map(|d| d.id.0)
    }

    /// Tells the DHT node of a node (a no-op when the DHT is off).
    pub fn dht_add_node(&self, addr: SocketAddr) {
        if let Some(d) = &self.ctx.dht {
            d.add_node(addr);
        }
    }

    /// Counts across the session by transport.
    pub fn transport_stats(&self) -> TransportStats {
        let mut t = TransportStats {
            utp_sockets: self.ctx.udp.utp_connections() as u64,
            utp: self.ctx.udp.utp_stats(),
            udp: self.ctx.udp.stats(),
            ..TransportStats::default()
        };
        for h in self.torrents() {
            let s = h.stats();
            t.peers_tcp += u64::from(s.peers_tcp);
            t.peers_utp += u64::from(s.peers_utp);
        }
        t
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.ctx.peer_id
    }

    /// The encryption policy of peer connections.
    pub fn encryption(&self) -> crate::EncryptionPolicy {
        self.ctx.cfg.encryption
    }

    /// How connection set-ups went so far: plaintext and MSE, in and out, refused, failed.
    pub fn encryption_counters(&self) -> EncryptionCounters {
        self.ctx.setups.snapshot()
    }

    /// Changes the global rate limits (bytes/s, 0 = unlimited).
    pub fn set_rate_limits(&self, upload: u64, download: u64) {
        self.ctx.up.set_rate(upload);
        self.ctx.down.set_rate(download);
    }

    /// Starts a torrent whose data lives under `data_dir` (files at `data_dir/<torrent paths>`).
    pub fn add_torrent(
        &self,
        meta: Arc<Metainfo>,
        data_dir: PathBuf,
        opts: AddOptions,
    ) -> Result<TorrentHandle, AddError> {
        if self.cancel.is_cancelled() {
            return Err(AddError::ShuttingDown);
        }
        let Ok(mut map) = self.torrents.lock() else {
            return Err(AddError::ShuttingDown);
        };
        let hashes = meta.swarm_hashes();
        let mut aliases = self.aliases.lock().map_err(|_| AddError::ShuttingDown)?;
        let running = |h: &InfoHash| {
            let key = aliases.get(h).unwrap_or(h);
            map.get(key).is_some_and(|t| !t.is_finished())
        };
        if let Some(dup) = hashes.iter().find(|h| running(h)) {
            return Err(AddError::Duplicate(*dup));
        }
        let handle = torrent::spawn(
            self.ctx.clone(),
            meta,
            data_dir,
            opts,
            self.cancel.child_token(),
            &self.tasks,
        );
        if let Ok(mut skeys) = self.skeys.write() {
            for h in &hashes {
                skeys.insert(req2(h), *h);
            }
        }
        for alias in hashes.iter().filter(|h| **h != handle.info_hash()) {
            aliases.insert(*alias, handle.info_hash());
        }
        map.insert(handle.info_hash(), handle.clone());
        Ok(handle)
    }

    /// Starts fetching the metadata of a magnet link (BEP 9) from its `x.pe` peers, its
    /// trackers and the peers later given to [`MetadataFetch::add_peers`]. The torrent itself
    /// is added with [`add_torrent`](Self::add_torrent) once [`MetadataFetch::wait`] returned
    /// its `.torrent`.
    pub fn fetch_metadata(
        &self,
        magnet: metainfo::magnet::Magnet,
    ) -> Result<crate::MetadataFetch, crate::FetchError> {
        if self.cancel.is_cancelled() {
            return Err(crate::FetchError::Stopped);
        }
        crate::magnet::spawn(
            self.ctx.clone(),
            magnet,
            self.cancel.child_token(),
            &self.tasks,
        )
    }

    /// Stops a torrent (announcing `stopped`) and forgets it; its data stays.
    pub async fn remove_torrent(&self, info_hash: InfoHash) {
        let handle = self.torrents.lock().ok().and_then(|mut m| {
            let mut gone = vec![info_hash];
            if let Ok(mut aliases) = self.aliases.lock() {
                aliases.retain(|alias, key| {
                    let keep = *key != info_hash;
                    if !keep {
                        gone.push(*alias);
                    }
                    keep
                });
            }
            if let Ok(mut skeys) = self.skeys.write() {
                for h in &gone {
                    skeys.remove(&req2(h));
                }
            }
            m.remove(&info_hash)
        });
        if let Some(h) = handle {
            h.stop().await;
        }
    }

    /// All torrents in the session.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        self.torrents
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The torrent with this info-hash (for a hybrid, either of its 20-byte hashes).
    pub fn torrent(&self, info_hash: &InfoHash) -> Option<TorrentHandle> {
        let map = self.torrents.lock().ok()?;
        if let Some(t) = map.get(info_hash) {
            return Some(t.clone());
        }
        let key = *self.aliases.lock().ok()?.get(info_hash)?;
        map.get(&key).cloned()
    }

    /// Orderly stop: every torrent announces `stopped` (concurrently) and ends; returns when all
    /// are done or `deadline` passed.
    pub async fn shutdown(&self, deadline: Duration) {
        let handles = self.torrents();
        let stops = handles.iter().map(|h| h.stop());
        let all = futures_util::future::join_all(stops);
        if tokio::time::timeout(deadline, all).await.is_err() {
            warn!("shutdown deadline passed with torrents still stopping");
        }
        self.cancel.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tasks.wait()).await;
    }

    async fn accept_loop(self, listener: TcpListener) {
        let mut backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = listener.accept() => r,
            };
            let (stream, addr) = match accepted {
                Ok((s, a)) => {
                    backoff = Duration::from_millis(10);
                    // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d: use a.b.c.d,
                    // so bans, PEX and duplicate checks see one address per peer.
                    (s, SocketAddr::new(a.ip().to_canonical(), a.port()))
                }
                Err(e) => {
                    // EMFILE and friends: wait rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            if !self.ctx.cfg.transports.tcp_in {
                debug!(%addr, "incoming TCP is turned off, dropping peer");
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.spawn_incoming(Box::new(stream), TransportKind::Tcp, addr);
        }
    }

    async fn utp_accept_loop(self) {
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.ctx.udp.accept_utp() => r,
            };
            let (stream, addr) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "uTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if !self.ctx.cfg.transports.utp_in {
                debug!(%addr, "incoming uTP is turned off, dropping peer");
                continue;
            }
            self.spawn_incoming(Box::new(stream), TransportKind::Utp, addr);
        }
    }

    /// Reads the handshake of an accepted connection (TCP or uTP) and hands it to its torrent.
    fn spawn_incoming(
        &self,
        stream: Box<dyn Transport>,
        transport: TransportKind,
        addr: SocketAddr,
    ) {
        // One address gets a few slots, before and after its handshake; the global slot is
        // taken only once the handshake head arrived, so sockets that say nothing cost no
        // one else a connection.
        let Some(slot) = self.ctx.addr_limits.try_open(addr.ip()) else {
            debug!(%addr, "per-address connection limit reached, dropping incoming peer");
            return;
        };
        let s = self.clone();
        let span = tracing::debug_span!("incoming", %addr, transport = transport.as_str());
        let timeout = self.ctx.cfg.handshake_timeout;
        spawn_in(&self.tasks, "incoming handshake", span, async move {
            match s
                .route_incoming(stream, transport, addr, slot, timeout)
                .await
            {
                Ok(()) => {}
                Err(e) => {
                    debug!(%addr, error = %crate::error_chain(&e), "incoming handshake failed")
                }
            }
        });
    }

    async fn route_incoming(
        &self,
        stream: Box<dyn Transport>,
        transport: TransportKind,
        addr: SocketAddr,
        slot: AddrGuard,
        timeout: Duration,
    ) -> Result<(), encryption::SetupError> {
        let how = Responding {
            policy: self.ctx.cfg.encryption,
            skeys: &self.skeys,
        };
        // The MSE handshake, if any, and the 48-byte head within one timeout.
        let mut mse = false;
        let accept = encryption::accept(stream, transport, how, &mut mse);
        let r = tokio::time::timeout(timeout, accept).await;
        let Ok(r) = r else {
            self.ctx.setups.count_incoming_timeout(mse);
            debug!(%addr, mse, "incoming handshake timed out");
            return Ok(());
        };
        self.ctx.setups.count_incoming(&r);
        let (_, (stream, reserved, info_hash)) = r?;
        let Some(t) = self.torrent(&info_hash) else {
            debug!(%addr, %info_hash, "incoming peer for an unknown torrent");
            return Ok(());
        };
        let Ok(global) = self.ctx.conn_limit.clone().try_acquire_owned() else {
            debug!(%addr, "connection limit reached, dropping incoming peer");
            return Ok(());
        };
        let permit = ConnPermit::incoming(global, slot);
        t.deliver_incoming(Incoming {
            stream,
            addr,
            reserved,
            info_hash,
            permit,
        })
        .await;
        Ok(())
    }
}

/// Binds TCP and UDP on the same port. `::` is dual stack (IPv6 and IPv4); on a host with IPv6
/// turned off, IPv4 alone. With port 0, a port free for both is looked for.
async fn bind_listen(
    want: SocketAddr,
    utp: &utp::Config,
) -> Result<(TcpListener, UdpEndpoint), SessionError> {
    let mut tries = if want.port() == 0 { 16 } else { 1 };
    loop {
        tries -= 1;
        let listener = bind_tcp(want).await?;
        let addr = listener
            .local_addr()
            .map_err(|source| SessionError::Listen { addr: want, source })?;
        match UdpEndpoint::bind(addr, utp.clone()).await {
            Ok(udp) => return Ok((listener, udp)),
            Err(e) if tries > 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                debug!(%addr, "UDP port taken, trying another pair");
            }
            Err(source) => return Err(SessionError::Udp { addr, source }),
        }
    }
}

async fn bind_tcp(want: SocketAddr) -> Result<TcpListener, SessionError> {
    match TcpListener::bind(want).await {
        Ok(l) => Ok(l),
        Err(e)
            if want.ip() == std::net::Ipv6Addr::UNSPECIFIED
                && (matches!(
                    e.kind(),
                    std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::Unsupported
                ) || e.raw_os_error() == Some(97 /* EAFNOSUPPORT */)) =>
        {
            let v4 = SocketAddr::from(([0, 0, 0, 0], want.port()));
            info!(error = %e, "no IPv6 here, listening on IPv4 only");
            TcpListener::bind(v4)
                .await
                .map_err(|source| SessionError::Listen { addr: v4, source })
        }
        Err(source) => Err(SessionError::Listen { addr: want, source }),
    }
}

/// Peer and uTP counts of a session by transport (for `status --json` and metrics).
#[derive(Clone, Debug, Default)]
pub struct TransportStats {
    /// Connected TCP peers across torrents.
    pub peers_tcp: u64,
    /// Connected uTP peers across torrents.
    pub peers_utp: u64,
    /// uTP connections the endpoint holds (any state, handshaking and closing included).
    pub utp_sockets: u64,
    /// The uTP endpoint's counters.
    pub utp: utp::EndpointStats,
    /// The UDP router's counters.
    pub udp: crate::udp::UdpStats,
}

/// A fresh BEP 20 peer id: `-BM` + version digits + `-` + 12 random bytes.
fn new_peer_id() -> PeerId {
    use ring::rand::SecureRandom;
    let mut id = *b"-BM0100-000000000000";
    let v: Vec<u8> = env!("CARGO_PKG_VERSION")
        .bytes()
        .filter(u8::is_ascii_digit)
        .take(4)
        .collect();
    for (i, d) in v.iter().enumerate() {
        id[3 + i] = *d;
    }
    let mut rnd = [0u8; 12];
    if ring::rand::SystemRandom::new().fill(&mut rnd).is_err() {
        rnd = fastrand::u128(..).to_le_bytes()[..12]
            .try_into()
            .unwrap_or([7; 12]);
    }
    id[8..].copy_from_slice(&rnd);
    PeerId(id)
}

/// The web seeds' HTTP client (through [`tracker::http_client`]): no
/// compression, a few redirects, idle connections kept for the next range request.
fn web_client() -> Result<reqwest::Client, SessionError> {
    let builder = || {
        reqwest::Client::builder()
            .user_agent(crate::CLIENT_NAME)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_idle_timeout(Duration::from_secs(60))
    };
    tracker::http_client(builder, None).map_err(SessionError::WebSeedClient)
}

/// Our own addresses for a listener on `listen`: that address, or every interface's address
/// when it is unspecified (`::` or `0.0.0.0`); IPv4 ones also as IPv4-mapped IPv6.
fn local_ips(listen: std::net::IpAddr) -> std::collections::HashSet<std::net::IpAddr> {
    let mut ips = std::collections::HashSet::from([listen.to_canonical()]);
    if listen.is_unspecified()
        && let Ok(addrs) = nix::ifaddrs::getifaddrs()
    {
        for a in addrs {
            let Some(addr) = a.address else { continue };
            if let Some(v4) = addr.as_sockaddr_in() {
                ips.insert(std::net::IpAddr::V4(v4.ip()));
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                ips.insert(std::net::IpAddr::V6(v6.ip()).to_canonical());
            }
        }
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_every_interface_knows_their_addresses() {
        let any = local_ips("::".parse().unwrap());
        assert!(any.contains(&"127.0.0.1".parse().unwrap()), "{any:?}");
        let one: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(local_ips(one), [one].into());
    }

    #[tokio::test]
    async fn the_same_failure_is_reported_once_across_torrents() {
        let cfg = SessionConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..SessionConfig::default()
        };
        let s = Session::start(cfg, CancellationToken::new()).await.unwrap();
        assert!(s.ctx.first_report("http://t/announce: connection refused"));
        assert!(!s.ctx.first_report("http://t/announce: connection refused"));
        assert!(s.ctx.first_report("http://u/announce: timed out"));
    }
}
