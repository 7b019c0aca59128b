//! The UDP tracker protocol (BEP 15): connect, announce, scrape and error.
//!
//! [`handle_packet`] is a pure function of the packet, the sender and the time; [`serve`] is
//! the socket loop around it. Packets too short to carry a transaction id are dropped without
//! an answer; everything else malformed gets an error packet (action 3), which is never longer
//! than the request plus a short message, so the server is no amplifier.

use std::net::SocketAddr;
use std::sync::Arc;

use metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::swarm::{Announce, Event, Family};

/// The magic `connection_id` of a connect request.
const PROTOCOL_ID: u64 = 0x0417_2710_1980;
const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;
/// Most info-hashes one scrape may carry (BEP 15: about 74 fit a packet).
const MAX_SCRAPE: usize = 74;

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

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn twenty(b: &[u8], at: usize) -> Option<[u8; 20]> {
    b.get(at..at.checked_add(20)?)?.try_into().ok()
}

fn header(action: u32, tid: u32, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&action.to_be_bytes());
    out.extend_from_slice(&tid.to_be_bytes());
    out
}

fn error(tid: u32, message: &str) -> Vec<u8> {
    let mut out = header(ERROR, tid, 8 + message.len());
    out.extend_from_slice(message.as_bytes());
    out
}

/// The answer to one datagram from `from`, or `None` to stay silent.
pub(crate) fn handle_packet(
    shared: &Shared,
    packet: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<Vec<u8>> {
    let conn_id = be_u64(packet, 0)?;
    let action = be_u32(packet, 8)?;
    let tid = be_u32(packet, 12)?;
    // Connection ids are bound to the canonical address (an IPv4 client on a dual-stack
    // socket shows up as ::ffff:a.b.c.d).
    let peer = SocketAddr::new(from.ip().to_canonical(), from.port());
    if action == CONNECT {
        if conn_id != PROTOCOL_ID {
            return None;
        }
        let mut out = header(CONNECT, tid, 16);
        out.extend_from_slice(&shared.conn_ids.issue(&peer, now).to_be_bytes());
        return Some(out);
    }
    if !shared.conn_ids.verify(&peer, conn_id, now) {
        tracing::debug!(%from, action, "udp: invalid connection id");
        return Some(error(tid, "invalid connection id"));
    }
    match action {
        ANNOUNCE => Some(announce(shared, packet, peer, tid, now)),
        SCRAPE => Some(scrape(shared, packet, tid, now)),
        _ => Some(error(tid, "unknown action")),
    }
}

fn announce(shared: &Shared, p: &[u8], peer: SocketAddr, tid: u32, now: Instant) -> Vec<u8> {
    // Offsets per BEP 15: info_hash 16, peer_id 36, downloaded 56, left 64, uploaded 72,
    // event 80, ip 84 (ignored), key 88, num_want 92, port 96.
    let parsed = (|| {
        Some((
            twenty(p, 16)?,
            twenty(p, 36)?,
            be_u64(p, 64)?,
            be_u32(p, 80)?,
            be_i32(p, 92)?,
            be_u16(p, 96)?,
        ))
    })();
    let Some((info_hash, peer_id, left, event, num_want, port)) = parsed else {
        return error(tid, "malformed announce");
    };
    if port == 0 {
        return error(tid, "invalid port");
    }
    let event = match event {
        1 => Event::Completed,
        2 => Event::Started,
        3 => Event::Stopped,
        _ => Event::None,
    };
    let wanted = u32::try_from(num_want).ok();
    let family = if peer.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    // Keep answers within one 1280-byte (IPv6 minimum MTU) datagram: 20 + 200 × 6 or 20 + 66 × 18.
    let fits = if family == Family::V4 { 200 } else { 66 };
    let numwant = if event == Event::Stopped {
        0
    } else {
        shared.numwant(wanted).min(fits)
    };
    let a = Announce {
        info_hash: InfoHash(info_hash),
        peer_id,
        addr: SocketAddr::new(peer.ip(), port),
        left,
        event,
        numwant,
        family,
    };
    let reply = match shared.announce(&a, now) {
        Ok(r) => r,
        Err(refusal) => return error(tid, refusal.reason()),
    };
    let (interval, _) = shared.interval_secs();
    let mut out = header(ANNOUNCE, tid, 20 + reply.peers.len() * 18);
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(&reply.incomplete.to_be_bytes());
    out.extend_from_slice(&reply.complete.to_be_bytes());
    for p in &reply.peers {
        match p.addr {
            SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
            SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
        }
        out.extend_from_slice(&p.addr.port().to_be_bytes());
    }
    out
}

fn scrape(shared: &Shared, p: &[u8], tid: u32, now: Instant) -> Vec<u8> {
    let body = p.get(16..).unwrap_or_default();
    if body.is_empty() || body.len() % 20 != 0 || body.len() / 20 > MAX_SCRAPE {
        return error(tid, "malformed scrape");
    }
    let hashes: Vec<InfoHash> = body
        .chunks_exact(20)
        .filter_map(|c| c.try_into().ok().map(InfoHash))
        .collect();
    let mut out = header(SCRAPE, tid, 8 + hashes.len() * 12);
    for ih in &hashes {
        // Positional answer: torrents we do not track (or may not) read as all zeros.
        let s = shared.scrape_one(ih, now).unwrap_or_default();
        out.extend_from_slice(&s.complete.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(s.downloaded)
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&s.incomplete.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

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
