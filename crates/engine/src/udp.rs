//! The shared UDP socket: one per listen address, on the TCP port. uTP (BEP 29) runs on it
//! through `utp`'s tokio driver; every datagram that is not uTP comes back here and is routed by
//! its first bytes to whoever asked for that kind: KRPC (the DHT, BEP 5) or UDP tracker replies
//! (BEP 15). A kind nobody asked for is counted and dropped.
//!
//! Adding a consumer takes a few lines: `let rx = udp.route(DatagramKind::Krpc, 256);` to receive,
//! `udp.sender()` (cheap to clone) to send from the same port.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use utp::tokio_socket::{UtpSocket, UtpStream};

/// What a datagram is, judged by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatagramKind {
    /// A uTP packet (version 1, a known type, a known extension).
    Utp,
    /// A KRPC message: a bencoded dictionary (`d1:...e`).
    Krpc,
    /// A UDP tracker reply: action 0-3 as a big-endian u32, then a transaction id.
    TrackerReply,
    /// Anything else.
    Other,
}

impl DatagramKind {
    const ROUTED: [DatagramKind; 2] = [DatagramKind::Krpc, DatagramKind::TrackerReply];

    fn slot(self) -> Option<usize> {
        Self::ROUTED.iter().position(|k| *k == self)
    }
}

/// Tells uTP, KRPC and UDP tracker replies apart. They cannot collide: uTP's first byte is
/// `type << 4 | 1`, a tracker reply's is 0 (the top byte of a small action), KRPC's is `d`.
pub fn classify(datagram: &[u8]) -> DatagramKind {
    if utp::is_utp_packet(datagram) {
        DatagramKind::Utp
    } else if dht::is_dht_packet(datagram) {
        DatagramKind::Krpc
    } else if is_tracker_reply(datagram) {
        DatagramKind::TrackerReply
    } else {
        DatagramKind::Other
    }
}

/// BEP 15 replies: connect (16 bytes), announce (20 + 6n or 18n), scrape (8 + 12n), error (8+).
fn is_tracker_reply(d: &[u8]) -> bool {
    d.len() >= 8 && d[..3] == [0, 0, 0] && d[3] <= 3
}

/// One received datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Who sent it (IPv4 peers on a dual-stack socket shown as plain IPv4).
    pub from: SocketAddr,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// Counters of the router (uTP's own are in [`UdpEndpoint::utp_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// KRPC datagrams handed to the DHT's channel.
    pub krpc: u64,
    /// UDP tracker replies handed to the tracker channel.
    pub tracker_replies: u64,
    /// Datagrams of a kind nobody listens for, or of no known kind.
    pub unrouted: u64,
    /// Datagrams dropped because their consumer's channel was full.
    pub overflow: u64,
}

#[derive(Default)]
struct Counters {
    routed: [AtomicU64; 2],
    unrouted: AtomicU64,
    overflow: AtomicU64,
}

#[derive(Default)]
struct Routes {
    sinks: [Mutex<Option<mpsc::Sender<Datagram>>>; 2],
    counters: Counters,
}

impl Routes {
    fn deliver(&self, payload: &[u8], from: SocketAddr) {
        let Some(slot) = classify(payload).slot() else {
            self.counters.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let sink = self.sinks[slot]
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        let sent = sink.map(|tx| {
            tx.try_send(Datagram {
                from: canonical(from),
                payload: payload.to_vec(),
            })
        });
        match sent {
            Some(Ok(())) => {
                self.counters.routed[slot].fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                self.counters.overflow.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(mpsc::error::TrySendError::Closed(_))) | None => {
                self.counters.unrouted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Sends datagrams from the shared socket (and so from the listen port). Cheap to clone.
#[derive(Clone, Debug)]
pub struct UdpSender {
    socket: Arc<UdpSocket>,
    v6: bool,
}

impl UdpSender {
    /// Sends one datagram; IPv4 destinations work on a dual-stack socket too.
    pub async fn send_to(&self, payload: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(payload, map_for(self.v6, to)).await
    }
}

/// The shared UDP socket of one listen address. Cheap to clone; the socket closes when the
/// last clone and the last uTP stream are gone.
#[derive(Clone)]
pub struct UdpEndpoint {
    utp: UtpSocket,
    sender: UdpSender,
    routes: Arc<Routes>,
}

impl std::fmt::Debug for UdpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpEndpoint")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl UdpEndpoint {
    /// Binds `addr` and starts the uTP driver and the router (needs a tokio runtime).
    pub async fn bind(addr: SocketAddr, config: utp::Config) -> io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        Self::from_socket(socket, config)
    }

    /// Runs over an already bound socket.
    pub fn from_socket(socket: Arc<UdpSocket>, config: utp::Config) -> io::Result<Self> {
        let v6 = socket.local_addr()?.is_ipv6();
        let routes = Arc::new(Routes::default());
        let r = routes.clone();
        // Routed on the uTP driver's task as they arrive: one hand-over to the consumer's
        // channel, no task in between.
        let sink: utp::tokio_socket::OtherDatagrams =
            Box::new(move |payload: &[u8], from| r.deliver(payload, from));
        let utp = UtpSocket::from_socket(socket.clone(), config, Some(sink))?;
        Ok(Self {
            utp,
            sender: UdpSender { socket, v6 },
            routes,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.utp.local_addr()
    }

    /// A handle for sending from this socket.
    pub fn sender(&self) -> UdpSender {
        self.sender.clone()
    }

    /// Routes datagrams of `kind` (KRPC or tracker replies) to the returned channel, replacing
    /// an earlier route for that kind. Returns None for kinds that cannot be routed (uTP is
    /// taken by the endpoint itself).
    pub fn route(&self, kind: DatagramKind, capacity: usize) -> Option<mpsc::Receiver<Datagram>> {
        let slot = kind.slot()?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let mut sink = self.routes.sinks[slot]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *sink = Some(tx);
        Some(rx)
    }

    /// The router's counters.
    pub fn stats(&self) -> UdpStats {
        let c = &self.routes.counters;
        UdpStats {
            krpc: c.routed[0].load(Ordering::Relaxed),
            tracker_replies: c.routed[1].load(Ordering::Relaxed),
            unrouted: c.unrouted.load(Ordering::Relaxed),
            overflow: c.overflow.load(Ordering::Relaxed),
        }
    }

    /// The uTP endpoint's counters (SYNs, RESETs, malformed packets, ...).
    pub fn utp_stats(&self) -> utp::EndpointStats {
        self.utp.stats()
    }

    /// Opens a uTP connection to `addr`.
    pub async fn connect_utp(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        self.utp.connect(map_for(self.sender.v6, addr)).await
    }

    /// The next incoming uTP connection and its peer (canonical address).
    pub async fn accept_utp(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let (stream, addr) = self.utp.accept().await?;
        Ok((stream, canonical(addr)))
    }

    /// How many uTP connections the endpoint holds now (any state).
    pub fn utp_connections(&self) -> usize {
        self.utp.connections().len()
    }
}

/// An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`: use `a.b.c.d`.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// An IPv6 socket sends to IPv4 peers through their mapped address.
fn map_for(v6_socket: bool, a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if v6_socket => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn kinds_are_told_apart_by_their_first_bytes() {
        // a uTP SYN header: type 4, version 1, no extension
        let mut syn = vec![0x41, 0, 0x12, 0x34];
        syn.resize(20, 0);
        assert_eq!(classify(&syn), DatagramKind::Utp);
        assert_eq!(
            classify(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"),
            DatagramKind::Krpc
        );
        let connect_reply = [0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(classify(&connect_reply), DatagramKind::TrackerReply);
        assert_eq!(
            classify(&[0, 0, 0, 3, 1, 2, 3, 4, b'n', b'o']),
            DatagramKind::TrackerReply
        );
        assert_eq!(classify(&[0, 0, 0, 4, 1, 2, 3, 4]), DatagramKind::Other);
        assert_eq!(classify(b""), DatagramKind::Other);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), DatagramKind::Other);
    }

    #[test]
    fn ipv4_peers_are_mapped_on_v6_sockets_only() {
        let v4: SocketAddr = "10.1.2.3:6881".parse().unwrap();
        assert_eq!(map_for(false, v4), v4);
        let mapped = map_for(true, v4);
        assert_eq!(mapped, "[::ffff:10.1.2.3]:6881".parse().unwrap());
        assert_eq!(canonical(mapped), v4);
    }

    #[tokio::test]
    async fn krpc_and_tracker_replies_reach_their_routes_and_the_rest_is_counted() {
        let ep = UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), utp::Config::default())
            .await
            .unwrap();
        let mut krpc = ep.route(DatagramKind::Krpc, 8).unwrap();
        let mut replies = ep.route(DatagramKind::TrackerReply, 8).unwrap();
        assert!(ep.route(DatagramKind::Utp, 8).is_none());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = ep.local_addr();
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe".to_vec();
        let reply = vec![0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9];
        peer.send_to(b"junk junk", to).await.unwrap();
        peer.send_to(&ping, to).await.unwrap();
        peer.send_to(&reply, to).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), krpc.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.payload, ping);
        assert_eq!(got.from, peer.local_addr().unwrap());
        let got = tokio::time::timeout(Duration::from_secs(5), replies.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.payload, reply);
        // the sender answers from the shared port
        ep.sender().send_to(b"pong", got.from).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], to));
        let s = ep.stats();
        assert_eq!(
            (s.krpc, s.tracker_replies, s.unrouted, s.overflow),
            (1, 1, 1, 0)
        );
    }

    #[tokio::test]
    async fn utp_streams_run_next_to_the_routes_on_a_dual_stack_socket() {
        let Ok(a) = UdpEndpoint::bind("[::]:0".parse().unwrap(), utp::Config::default()).await
        else {
            eprintln!("no IPv6 here: skipping the dual-stack check");
            return;
        };
        let b = UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), utp::Config::default())
            .await
            .unwrap();
        let a_v4: SocketAddr = SocketAddr::from(([127, 0, 0, 1], a.local_addr().port()));
        let accept = tokio::spawn({
            let a = a.clone();
            async move {
                let (mut s, from) = a.accept_utp().await.unwrap();
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).await.unwrap();
                s.write_all(b"world").await.unwrap();
                (buf, from)
            }
        });
        let mut s = tokio::time::timeout(Duration::from_secs(10), b.connect_utp(a_v4))
            .await
            .unwrap()
            .unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"world");
        let (got, from) = accept.await.unwrap();
        assert_eq!(&got, b"hello");
        assert_eq!(from, b.local_addr());
    }
}
