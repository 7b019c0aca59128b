//! The UDP tracker protocol (BEP 15): connect, announce, scrape and error.
//!
//! [`handle_packet`] is a pure function of the packet, the sender and the time; [`serve`] is
//! the socket loop around it. Packets too short to carry a transaction id are dropped without
//! an answer. Before a connection id is verified the sender's address may be forged, so nothing
//! we send may be larger than what we got: a connect reply is 16 bytes like its request, and an
//! error packet (action 3, also for unknown connection ids) is sent only when it is no longer
//! than the request; otherwise the packet gets no answer. The server is no amplifier.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::swarm::{Announce, Event, Family};
use tracker::ScrapeStats;
use tracker::wire::udp;

/// Receives and answers packets until `token` is cancelled.
pub(crate) async fn serve(shared: Arc<Shared>, socket: Arc<UdpSocket>, token: CancellationToken) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = tokio::select! {
            () = token.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on some systems; keep serving.
                    tracing::debug!(error = %e, "udp receive failed");
                    continue;
                }
            },
        };
        let Some(packet) = buf.get(..n) else { continue };
        if let Some(reply) = handle_packet(&shared, packet, from, Instant::now())
            && let Err(e) = socket.send_to(&reply, from).await
        {
            tracing::debug!(error = %e, %from, "udp send failed");
        }
    }
}

/// The answer to one datagram from `from`, or `None` to stay silent.
pub(crate) fn handle_packet(
    shared: &Shared,
    packet: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<Vec<u8>> {
    let head = udp::parse_request_header(packet)?;
    let tid = head.transaction_id;
    // Connection ids are bound to the canonical address (an IPv4 client on a dual-stack
    // socket shows up as ::ffff:a.b.c.d).
    let peer = SocketAddr::new(from.ip().to_canonical(), from.port());
    if head.action == udp::ACTION_CONNECT {
        if head.connection_id != udp::PROTOCOL_ID {
            return None;
        }
        let id = shared.conn_ids.issue(&peer, now);
        return Some(udp::connect_reply(tid, id));
    }
    let reply = if !shared.conn_ids.verify(&peer, head.connection_id, now) {
        tracing::debug!(%from, action = head.action, "udp: invalid connection id");
        udp::error_reply(tid, "invalid connection id")
    } else {
        match head.action {
            udp::ACTION_ANNOUNCE => announce(shared, packet, peer, tid, now),
            udp::ACTION_SCRAPE => scrape(shared, packet, tid, now),
            _ => udp::error_reply(tid, "unknown action"),
        }
    };
    no_amplifier(packet, reply)
}

/// Drops an error reply longer than its request (announce and scrape answers go only to
/// verified addresses and pass).
fn no_amplifier(request: &[u8], reply: Vec<u8>) -> Option<Vec<u8>> {
    let is_error = reply.get(..4) == Some(&udp::ACTION_ERROR.to_be_bytes()[..]);
    (!is_error || reply.len() <= request.len()).then_some(reply)
}

fn announce(shared: &Shared, p: &[u8], peer: SocketAddr, tid: u32, now: Instant) -> Vec<u8> {
    let Some(req) = udp::parse_announce_request(p) else {
        return udp::error_reply(tid, "malformed announce");
    };
    if req.port == 0 {
        return udp::error_reply(tid, "invalid port");
    }
    let family = if peer.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    // Keep answers within one 1280-byte (IPv6 minimum MTU) datagram: 20 + 200 × 6 or 20 + 66 × 18.
    let fits = if family == Family::V4 { 200 } else { 66 };
    let numwant = if req.event == Event::Stopped {
        0
    } else {
        shared.numwant(req.numwant).min(fits)
    };
    let a = Announce {
        info_hash: req.info_hash,
        peer_id: req.peer_id.0,
        addr: SocketAddr::new(peer.ip(), req.port),
        left: req.left,
        event: req.event,
        numwant,
        family,
    };
    let reply = match shared.announce(&a, now) {
        Ok(r) => r,
        Err(refusal) => return udp::error_reply(tid, refusal.reason()),
    };
    let (interval, _) = shared.interval_secs();
    let peers = reply.peers.iter().map(|p| p.addr);
    udp::announce_reply(tid, interval, reply.incomplete, reply.complete, peers)
}

fn scrape(shared: &Shared, p: &[u8], tid: u32, now: Instant) -> Vec<u8> {
    let Some(hashes) = udp::parse_scrape_request(p) else {
        return udp::error_reply(tid, "malformed scrape");
    };
    let stats: Vec<ScrapeStats> = hashes
        .iter()
        .map(|ih| {
            // Positional answer: torrents we do not track (or may not) read as all zeros.
            let s = shared.scrape_one(ih, now).unwrap_or_default();
            ScrapeStats {
                complete: s.complete,
                incomplete: s.incomplete,
                downloaded: u32::try_from(s.downloaded).unwrap_or(u32::MAX),
            }
        })
        .collect();
    udp::scrape_reply(tid, &stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use udp::{ACTION_ANNOUNCE as ANNOUNCE, ACTION_CONNECT as CONNECT, ACTION_ERROR as ERROR};
    use udp::{ACTION_SCRAPE as SCRAPE, PROTOCOL_ID};

    fn be_u32(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }

    fn be_u64(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    }

    fn shared() -> Shared {
        Shared::for_tests()
    }

    fn connect(s: &Shared, from: SocketAddr, now: Instant) -> u64 {
        let mut req = PROTOCOL_ID.to_be_bytes().to_vec();
        req.extend_from_slice(&0u32.to_be_bytes());
        req.extend_from_slice(&77u32.to_be_bytes());
        let out = handle_packet(s, &req, from, now).unwrap();
        assert_eq!(out.len(), 16);
        assert_eq!(be_u32(&out, 0), Some(CONNECT));
        assert_eq!(be_u32(&out, 4), Some(77));
        be_u64(&out, 8).unwrap()
    }

    fn announce_req(conn: u64, ih: u8, left: u64, port: u16) -> Vec<u8> {
        let mut r = conn.to_be_bytes().to_vec();
        r.extend_from_slice(&ANNOUNCE.to_be_bytes());
        r.extend_from_slice(&5u32.to_be_bytes());
        r.extend_from_slice(&[ih; 20]);
        r.extend_from_slice(&[port as u8; 20]);
        r.extend_from_slice(&0u64.to_be_bytes());
        r.extend_from_slice(&left.to_be_bytes());
        r.extend_from_slice(&0u64.to_be_bytes());
        r.extend_from_slice(&2u32.to_be_bytes());
        r.extend_from_slice(&[0; 8]);
        r.extend_from_slice(&(-1i32).to_be_bytes());
        r.extend_from_slice(&port.to_be_bytes());
        assert_eq!(r.len(), 98);
        r
    }

    #[tokio::test(start_paused = true)]
    async fn connect_announce_scrape() {
        let s = shared();
        let now = Instant::now();
        let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
        let b = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 4001);
        let ca = connect(&s, a, now);
        let cb = connect(&s, b, now);
        let out = handle_packet(&s, &announce_req(ca, 9, 0, 6000), a, now).unwrap();
        assert_eq!(be_u32(&out, 0), Some(ANNOUNCE));
        assert_eq!((be_u32(&out, 12), be_u32(&out, 16)), (Some(0), Some(1)));
        assert_eq!(out.len(), 20);
        let out = handle_packet(&s, &announce_req(cb, 9, 10, 6001), b, now).unwrap();
        assert_eq!(out.get(20..), Some(&[127, 0, 0, 1, 0x17, 0x70][..]));
        let mut scrape = cb.to_be_bytes().to_vec();
        scrape.extend_from_slice(&SCRAPE.to_be_bytes());
        scrape.extend_from_slice(&6u32.to_be_bytes());
        scrape.extend_from_slice(&[9; 20]);
        scrape.extend_from_slice(&[8; 20]);
        let out = handle_packet(&s, &scrape, b, now).unwrap();
        let words: Vec<u32> = (0..8).map(|i| be_u32(&out, i * 4).unwrap()).collect();
        assert_eq!(words, vec![SCRAPE, 6, 1, 0, 1, 0, 0, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn forged_or_foreign_ids_are_rejected() {
        let s = shared();
        let now = Instant::now();
        let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
        let b = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 4000);
        let ca = connect(&s, a, now);
        for (id, from) in [(ca ^ 0x100, a), (ca, b), (0x1234_5678, a)] {
            let out = handle_packet(&s, &announce_req(id, 1, 0, 1), from, now).unwrap();
            assert_eq!(be_u32(&out, 0), Some(ERROR));
            assert_eq!(out.get(8..), Some(&b"invalid connection id"[..]));
        }
        assert!(handle_packet(&s, &[0; 15], a, now).is_none());
        let out = handle_packet(&s, &announce_req(ca, 1, 0, 1)[..50], a, now).unwrap();
        assert_eq!(out.get(8..), Some(&b"malformed announce"[..]));
        // Too short to carry the error without amplifying it: no answer.
        let mut short = 0x1234_5678u64.to_be_bytes().to_vec();
        short.extend_from_slice(&ANNOUNCE.to_be_bytes());
        short.extend_from_slice(&7u32.to_be_bytes());
        assert!(handle_packet(&s, &short, a, now).is_none());
        short.extend_from_slice(&[0; 13]);
        let out = handle_packet(&s, &short, a, now).unwrap();
        assert_eq!(out.len(), short.len());
    }

    #[tokio::test(start_paused = true)]
    async fn random_packets_never_panic() {
        let s = shared();
        let now = Instant::now();
        let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
        let id = connect(&s, a, now);
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let mut p = announce_req(id, rng.u8(..), rng.u64(..), rng.u16(..));
            if rng.bool() {
                p.truncate(rng.usize(..p.len()));
            }
            if let Some(b) = p.get_mut(8..12) {
                b.copy_from_slice(&rng.u32(..4).to_be_bytes());
            }
            for _ in 0..rng.usize(..4) {
                let i = rng.usize(..p.len().max(1));
                if let Some(b) = p.get_mut(i) {
                    *b = rng.u8(..);
                }
            }
            let _ = handle_packet(&s, &p, a, now);
        }
    }
}
