//! What the denial-of-service tests share: an engine session seeding a torrent from an
//! opentracker swarm on 127.0.0.1, a hostile host on 127.0.0.2 (so per-address limits tell it
//! from the real client on 127.0.0.1), a real client (python3-libtorrent) that must complete
//! with the right SHA-256 within a bound, and the process' resident memory from `/proc`.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use btmirror_e2e::{Libtorrent, Swarm, free_port};
use bytes::BytesMut;
use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{Metainfo, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::Encoder;
use tokio_util::sync::CancellationToken;
use wire::{Codec, Handshake, Message};

/// The hostile host's address.
pub const HOSTILE_IP: &str = "127.0.0.2";

/// A session seeding one torrent of a swarm.
pub struct Seeded {
    pub swarm: Swarm,
    pub session: Session,
    pub meta: Arc<Metainfo>,
}

impl Seeded {
    /// Seeds a `size`-byte single-file torrent in pieces of `piece_len` with `cfg` (its
    /// listen address is set to 127.0.0.1, any port).
    pub async fn start(test: &str, size: u64, piece_len: u32, cfg: SessionConfig) -> Seeded {
        let (swarm, seed_dir) = tokio::task::spawn_blocking({
            let test = test.to_string();
            move || {
                let swarm = Swarm::single_file(&test, size, piece_len);
                let dir = swarm.seed_dir("seed");
                (swarm, dir)
            }
        })
        .await
        .unwrap();
        let bytes = std::fs::read(&swarm.torrent.path).unwrap();
        let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap());
        let cfg = SessionConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..cfg
        };
        let session = Session::start(cfg, CancellationToken::new()).await.unwrap();
        let h = session
            .add_torrent(meta.clone(), seed_dir, AddOptions::default())
            .unwrap();
        let mut rx = h.subscribe();
        tokio::time::timeout(
            Duration::from_secs(60),
            rx.wait_for(|s| s.state == TorrentState::Seeding),
        )
        .await
        .unwrap()
        .unwrap();
        Seeded {
            swarm,
            session,
            meta,
        }
    }

    /// The seed's listen address.
    pub fn addr(&self) -> SocketAddr {
        self.session.listen_addr()
    }

    /// A hostile connection from [`HOSTILE_IP`] that has sent nothing yet.
    pub async fn raw_connect(&self) -> std::io::Result<TcpStream> {
        connect_from_hostile(self.addr()).await
    }

    /// A hostile connection that completed the handshake (ours advertises fast and BEP 10).
    pub async fn handshaken(&self, n: u8) -> std::io::Result<TcpStream> {
        let mut c = self.raw_connect().await?;
        let mut id = *b"-XX0001-hostile00000";
        id[19] = n;
        let hs = Handshake::new(self.meta.info_hash, PeerId(id));
        c.write_all(&hs.encode()).await?;
        let mut theirs = [0u8; 68];
        c.read_exact(&mut theirs).await?;
        Ok(c)
    }

    /// python3-libtorrent downloads the torrent on 127.0.0.1; panics unless it completes with
    /// the source's SHA-256 within `bound`. Returns how long it took.
    pub async fn real_client_completes(&self, name: &str, bound: Duration) -> Duration {
        let dir = self.swarm.empty_dir(name);
        let torrent = self.swarm.torrent.clone();
        let start = std::time::Instant::now();
        let d = dir.clone();
        let took = tokio::task::spawn_blocking(move || {
            let mut leech = Libtorrent::leech(&torrent, &d, free_port());
            leech.wait_done(bound);
            let took = start.elapsed();
            leech.terminate();
            took
        })
        .await
        .unwrap();
        self.swarm.assert_complete(&dir);
        took
    }
}

/// A connection from [`HOSTILE_IP`] to `target`.
pub async fn connect_from_hostile(target: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(HOSTILE_IP.parse::<IpAddr>().unwrap(), 0))?;
    sock.connect(target).await
}

/// Encodes one message as the wire carries it.
pub fn encode(m: Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    Codec::default().encode(m, &mut buf).unwrap();
    buf.to_vec()
}

/// Reads and discards whatever arrives until the connection closes or `cancel` fires.
pub async fn drain(mut c: TcpStream, cancel: CancellationToken) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = c.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

/// The process' resident set size in bytes (`VmRSS` in `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}
