//! A hostile UDP client for the attack tests: many announces from one IP address (several
//! sockets, each with its own connection id), pipelined, and RSS read from `/proc`.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use metainfo::{InfoHash, PeerId};
use tokio::net::UdpSocket;
use tracker::wire::udp;
use tracker::{AnnounceRequest, Event};

/// Datagrams in flight per socket.
const WINDOW: usize = 64;
/// A socket gets a fresh connection id after this many announces (ids live two minutes).
const RECONNECT_EVERY: usize = 20_000;

/// Builds the `i`-th announce of a flood.
pub type MakeAnnounce = Arc<dyn Fn(usize) -> AnnounceRequest + Send + Sync>;

/// An announce with everything but the varying parts fixed.
pub fn forged(info_hash: InfoHash, port: u16, left: u64, event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash,
        peer_id: PeerId([0x66; 20]),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: Some(0),
        key: 1,
    }
}

/// An info-hash made of `i`'s bytes (distinct for distinct `i`).
pub fn hash_of(i: usize, salt: u8) -> InfoHash {
    let mut h = [salt; 20];
    h[..8].copy_from_slice(&(i as u64).to_be_bytes());
    InfoHash(h)
}

async fn connect(sock: &UdpSocket) -> u64 {
    let tid = fastrand::u32(..);
    let mut buf = [0u8; 64];
    for _ in 0..5 {
        sock.send(&udp::connect_request(tid)).await.unwrap();
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await
            && udp::transaction_id(&buf[..n]) == Some(tid)
            && let Ok(id) = udp::parse_connect(&buf[..n])
        {
            return id;
        }
    }
    panic!("the tracker does not answer connects");
}

/// Sends `count` announces `make(offset..offset+count)` on one socket, `WINDOW` at a time,
/// and returns how many were answered.
async fn one_socket(sock: UdpSocket, make: MakeAnnounce, offset: usize, count: usize) -> usize {
    let mut answered = 0;
    let mut conn = connect(&sock).await;
    let mut buf = vec![0u8; 2048];
    let mut sent = 0;
    while sent < count {
        if sent > 0 && sent % RECONNECT_EVERY < WINDOW {
            conn = connect(&sock).await;
        }
        let batch = WINDOW.min(count - sent);
        for k in 0..batch {
            let req = make(offset + sent + k);
            let tid = u32::try_from(sent + k).unwrap_or(0);
            sock.send(&udp::announce_request(conn, tid, &req))
                .await
                .unwrap();
        }
        sent += batch;
        for _ in 0..batch {
            match tokio::time::timeout(Duration::from_millis(100), sock.recv(&mut buf)).await {
                Ok(Ok(_)) => answered += 1,
                _ => break,
            }
        }
    }
    answered
}

/// Sends `count` announces from `from` (an IP of 127.0.0.0/8) to `server` over `sockets`
/// sockets; returns how many were answered.
pub async fn flood(
    from: IpAddr,
    server: SocketAddr,
    sockets: usize,
    count: usize,
    make: MakeAnnounce,
) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    let per = count.div_ceil(sockets);
    for s in 0..sockets {
        let sock = UdpSocket::bind(SocketAddr::new(from, 0)).await.unwrap();
        sock.connect(server).await.unwrap();
        let n = per.min(count.saturating_sub(s * per));
        tasks.spawn(one_socket(sock, make.clone(), s * per, n));
    }
    let mut answered = 0;
    while let Some(r) = tasks.join_next().await {
        answered += r.unwrap();
    }
    answered
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A real client (ours) on 127.0.0.1 announcing `info_hash` over UDP: the answer or the error.
pub async fn real_udp_announce(
    server: SocketAddr,
    info_hash: InfoHash,
    port: u16,
) -> Result<tracker::AnnounceResponse, tracker::Error> {
    let client = tracker::Client::new("btmirror-test")
        .unwrap()
        .with_udp_timeout(Duration::from_secs(1))
        .with_udp_tries(3);
    let req = AnnounceRequest {
        info_hash,
        peer_id: PeerId(*b"-BM0100-realclient01"),
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event: Event::Started,
        numwant: None,
        key: 7,
    };
    client
        .announce(&format!("udp://127.0.0.1:{}/announce", server.port()), &req)
        .await
}
