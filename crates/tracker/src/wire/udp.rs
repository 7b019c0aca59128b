//! BEP 15 packet layouts, both directions: the client builds requests and validates replies,
//! the server parses requests and builds replies. Pure functions, no I/O. All integers are
//! big-endian.

use std::net::SocketAddr;

use metainfo::{InfoHash, PeerId};

use super::compact;
use crate::client::clamp_interval;
use crate::{AnnounceRequest, AnnounceResponse, Error, Event, ScrapeStats};

/// The `protocol_id` of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Action 0: connect.
pub const ACTION_CONNECT: u32 = 0;
/// Action 1: announce.
pub const ACTION_ANNOUNCE: u32 = 1;
/// Action 2: scrape.
pub const ACTION_SCRAPE: u32 = 2;
/// Action 3: error (replies only).
pub const ACTION_ERROR: u32 = 3;
/// Most info-hashes one scrape request may carry (BEP 15: about 74 fit a packet).
pub const MAX_SCRAPE_HASHES: usize = 74;
/// Length of an announce request without BEP 41 options.
pub const ANNOUNCE_REQUEST_LEN: usize = 98;

/// Reads a big-endian `u16` at `at`, if the input is long enough.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads a big-endian `u32` at `at`, if the input is long enough.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads a big-endian `u64` at `at`, if the input is long enough.
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads 20 bytes (an info-hash or peer id) at `at`.
fn twenty_at(b: &[u8], at: usize) -> Option<[u8; 20]> {
    b.get(at..at.checked_add(20)?)?.try_into().ok()
}

/// The BEP 15 code of an event.
fn event_code(event: Event) -> u32 {
    match event {
        Event::None => 0,
        Event::Completed => 1,
        Event::Started => 2,
        Event::Stopped => 3,
    }
}

/// The event of a BEP 15 code; unknown codes read as a regular announce.
fn event_of(code: u32) -> Event {
    match code {
        1 => Event::Completed,
        2 => Event::Started,
        3 => Event::Stopped,
        _ => Event::None,
    }
}

/// The transaction id of any reply (bytes 4..8); `None` for datagrams shorter than 8 bytes.
pub fn transaction_id(datagram: &[u8]) -> Option<u32> {
    u32_at(datagram, 4)
}

/// Turns an error reply (action 3: action, transaction id, message) into [`Error::Failure`].
pub fn check_error(reply: &[u8]) -> Result<(), Error> {
    if u32_at(reply, 0) == Some(ACTION_ERROR) {
        let text = reply.get(8..).unwrap_or_default();
        return Err(Error::Failure(String::from_utf8_lossy(text).into_owned()));
    }
    Ok(())
}

/// Checks the action of a reply already known to carry our transaction id.
fn expect_action(reply: &[u8], action: u32, min_len: usize, what: &str) -> Result<(), Error> {
    check_error(reply)?;
    if u32_at(reply, 0) != Some(action) {
        return Err(Error::Malformed(format!(
            "udp {what} reply has the wrong action"
        )));
    }
    if reply.len() < min_len {
        return Err(Error::Malformed(format!(
            "udp {what} reply of {} bytes, need {min_len}",
            reply.len()
        )));
    }
    Ok(())
}

/// Connect request: protocol id, action 0, transaction id.
pub fn connect_request(tid: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(16);
    p.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    p.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p
}

/// The connection id of a connect reply (16 bytes).
pub fn parse_connect(reply: &[u8]) -> Result<u64, Error> {
    expect_action(reply, ACTION_CONNECT, 16, "connect")?;
    u64_at(reply, 8).ok_or_else(|| Error::Malformed("udp connect reply too short".into()))
}

/// Announce request (98 bytes).
pub fn announce_request(conn: u64, tid: u32, req: &AnnounceRequest) -> Vec<u8> {
    let event = event_code(req.event);
    // -1 asks for the tracker's default.
    let numwant = req
        .numwant
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(-1);
    let mut p = Vec::with_capacity(ANNOUNCE_REQUEST_LEN);
    p.extend_from_slice(&conn.to_be_bytes());
    p.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p.extend_from_slice(&req.info_hash.0);
    p.extend_from_slice(&req.peer_id.0);
    p.extend_from_slice(&req.downloaded.to_be_bytes());
    p.extend_from_slice(&req.left.to_be_bytes());
    p.extend_from_slice(&req.uploaded.to_be_bytes());
    p.extend_from_slice(&event.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes()); // IP address: the sender's
    p.extend_from_slice(&req.key.to_be_bytes());
    p.extend_from_slice(&numwant.to_be_bytes());
    p.extend_from_slice(&req.port.to_be_bytes());
    p
}

/// Announce reply: action, tid, interval, leechers, seeders, then 6-byte peers (18-byte when the
/// tracker was reached over IPv6).
pub fn parse_announce(reply: &[u8], ipv6: bool) -> Result<AnnounceResponse, Error> {
    expect_action(reply, ACTION_ANNOUNCE, 20, "announce")?;
    let field = |at| u32_at(reply, at).ok_or_else(|| Error::Malformed("short announce".into()));
    let interval = field(8)?;
    let leechers = field(12)?;
    let seeders = field(16)?;
    let peer_bytes = reply.get(20..).unwrap_or_default();
    let mut peers: Vec<SocketAddr> = Vec::new();
    if ipv6 {
        compact::parse_v6(peer_bytes, &mut peers)?;
    } else {
        compact::parse_v4(peer_bytes, &mut peers)?;
    }
    Ok(AnnounceResponse {
        interval: clamp_interval(u64::from(interval)),
        min_interval: None,
        peers,
        seeders: Some(seeders),
        leechers: Some(leechers),
        warning: None,
    })
}

/// Scrape request for one info-hash.
pub fn scrape_request(conn: u64, tid: u32, info_hash: InfoHash) -> Vec<u8> {
    let mut p = Vec::with_capacity(36);
    p.extend_from_slice(&conn.to_be_bytes());
    p.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p.extend_from_slice(&info_hash.0);
    p
}

/// Scrape reply for one info-hash: action, tid, seeders, completed, leechers.
pub fn parse_scrape(reply: &[u8]) -> Result<ScrapeStats, Error> {
    expect_action(reply, ACTION_SCRAPE, 20, "scrape")?;
    let field = |at| u32_at(reply, at).ok_or_else(|| Error::Malformed("short scrape".into()));
    Ok(ScrapeStats {
        complete: field(8)?,
        downloaded: field(12)?,
        incomplete: field(16)?,
    })
}

/// The fixed 16-byte head of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// [`PROTOCOL_ID`] for a connect, else the id the server issued.
    pub connection_id: u64,
    /// One of the `ACTION_*` codes (anything else is unknown).
    pub action: u32,
    /// Echoed in the reply.
    pub transaction_id: u32,
}

/// The head of a request; `None` when it is shorter than 16 bytes (no reply is possible).
pub fn parse_request_header(packet: &[u8]) -> Option<RequestHeader> {
    Some(RequestHeader {
        connection_id: u64_at(packet, 0)?,
        action: u32_at(packet, 8)?,
        transaction_id: u32_at(packet, 12)?,
    })
}

/// The fields of an announce request (the 98 bytes after which BEP 41 options may follow); the
/// IP field is not read (a server uses the sender's address). `None` when it is too short.
pub fn parse_announce_request(p: &[u8]) -> Option<AnnounceRequest> {
    // Offsets: info_hash 16, peer_id 36, downloaded 56, left 64, uploaded 72, event 80,
    // ip 84, key 88, num_want 92, port 96.
    let num_want = u32_at(p, 92)?;
    Some(AnnounceRequest {
        info_hash: InfoHash(twenty_at(p, 16)?),
        peer_id: PeerId(twenty_at(p, 36)?),
        downloaded: u64_at(p, 56)?,
        left: u64_at(p, 64)?,
        uploaded: u64_at(p, 72)?,
        event: event_of(u32_at(p, 80)?),
        key: u32_at(p, 88)?,
        // Negative as an i32 (-1: "the default") reads as not asked.
        numwant: (num_want <= i32::MAX.unsigned_abs()).then_some(num_want),
        port: u16_at(p, 96)?,
    })
}

/// The info-hashes of a scrape request: 1 to [`MAX_SCRAPE_HASHES`] after the header, else
/// `None`.
pub fn parse_scrape_request(p: &[u8]) -> Option<Vec<InfoHash>> {
    let body = p.get(16..).unwrap_or_default();
    if body.is_empty() || body.len() % 20 != 0 || body.len() / 20 > MAX_SCRAPE_HASHES {
        return None;
    }
    Some(
        body.chunks_exact(20)
            .filter_map(|c| c.try_into().ok().map(InfoHash))
            .collect(),
    )
}

/// A reply's head: action and transaction id.
fn reply_header(action: u32, tid: u32, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&action.to_be_bytes());
    out.extend_from_slice(&tid.to_be_bytes());
    out
}

/// Connect reply (16 bytes).
pub fn connect_reply(tid: u32, connection_id: u64) -> Vec<u8> {
    let mut out = reply_header(ACTION_CONNECT, tid, 16);
    out.extend_from_slice(&connection_id.to_be_bytes());
    out
}

/// Error reply: action 3, the transaction id, then the message.
pub fn error_reply(tid: u32, message: &str) -> Vec<u8> {
    let mut out = reply_header(ACTION_ERROR, tid, 8 + message.len());
    out.extend_from_slice(message.as_bytes());
    out
}

/// Announce reply: interval, leechers, seeders, then the peers in compact form (the caller
/// hands out only the family of the socket the request came on).
pub fn announce_reply(
    tid: u32,
    interval: u32,
    leechers: u32,
    seeders: u32,
    peers: impl ExactSizeIterator<Item = SocketAddr>,
) -> Vec<u8> {
    let mut out = reply_header(ACTION_ANNOUNCE, tid, 20 + peers.len() * compact::V6_LEN);
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(&leechers.to_be_bytes());
    out.extend_from_slice(&seeders.to_be_bytes());
    for p in peers {
        compact::push(&p, &mut out);
    }
    out
}

/// Scrape reply: seeders, completed, leechers for each requested info-hash, in order.
pub fn scrape_reply(tid: u32, stats: &[ScrapeStats]) -> Vec<u8> {
    let mut out = reply_header(ACTION_SCRAPE, tid, 8 + stats.len() * 12);
    for s in stats {
        out.extend_from_slice(&s.complete.to_be_bytes());
        out.extend_from_slice(&s.downloaded.to_be_bytes());
        out.extend_from_slice(&s.incomplete.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn reply(action: u32, tid: u32, rest: &[u8]) -> Vec<u8> {
        let mut r = action.to_be_bytes().to_vec();
        r.extend_from_slice(&tid.to_be_bytes());
        r.extend_from_slice(rest);
        r
    }

    #[test]
    fn connect_roundtrip() {
        let p = connect_request(0x0102_0304);
        assert_eq!(
            p,
            b"\x00\x00\x04\x17\x27\x10\x19\x80\0\0\0\0\x01\x02\x03\x04"
        );
        let r = reply(0, 7, &0xaabb_ccdd_eeff_0011u64.to_be_bytes());
        assert_eq!(transaction_id(&r), Some(7));
        assert_eq!(parse_connect(&r).ok(), Some(0xaabb_ccdd_eeff_0011));
        assert!(matches!(parse_connect(&r[..15]), Err(Error::Malformed(_))));
        assert!(matches!(
            parse_connect(&reply(1, 7, &[0; 8])),
            Err(Error::Malformed(_))
        ));
        assert_eq!(transaction_id(&r[..7]), None);
    }

    #[test]
    fn announce_layout() {
        let req = AnnounceRequest {
            info_hash: InfoHash([0x11; 20]),
            peer_id: PeerId([0x22; 20]),
            port: 0x1ae1,
            uploaded: 3,
            downloaded: 1,
            left: 2,
            event: Event::Started,
            numwant: None,
            key: 0x0a0b_0c0d,
        };
        let p = announce_request(9, 5, &req);
        assert_eq!(p.len(), 98);
        assert_eq!(u64_at(&p, 0), Some(9));
        assert_eq!(u32_at(&p, 8), Some(1));
        assert_eq!(u32_at(&p, 12), Some(5));
        assert_eq!(&p[16..36], &[0x11; 20]);
        assert_eq!(&p[36..56], &[0x22; 20]);
        assert_eq!(
            (u64_at(&p, 56), u64_at(&p, 64), u64_at(&p, 72)),
            (Some(1), Some(2), Some(3))
        );
        assert_eq!(u32_at(&p, 80), Some(2));
        assert_eq!(u32_at(&p, 84), Some(0));
        assert_eq!(u32_at(&p, 88), Some(0x0a0b_0c0d));
        assert_eq!(u32_at(&p, 92), Some(u32::MAX));
        assert_eq!(&p[96..], &[0x1a, 0xe1]);
    }

    #[test]
    fn announce_reply_v4_and_v6() {
        let mut rest = Vec::new();
        for v in [1800u32, 4, 5] {
            rest.extend_from_slice(&v.to_be_bytes());
        }
        let mut v4 = rest.clone();
        v4.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
        let r = parse_announce(&reply(1, 1, &v4), false).expect("v4");
        assert_eq!(r.interval, Duration::from_secs(1800));
        assert_eq!((r.leechers, r.seeders), (Some(4), Some(5)));
        assert_eq!(r.peers, vec!["127.0.0.1:6881".parse().expect("addr")]);
        let mut v6 = rest.clone();
        v6.extend_from_slice(&[0; 15]);
        v6.extend_from_slice(&[1, 0x1a, 0xe1]);
        let r = parse_announce(&reply(1, 1, &v6), true).expect("v6");
        assert_eq!(r.peers, vec!["[::1]:6881".parse().expect("addr")]);
        // The same 18 bytes read from an IPv4 tracker are three IPv4 peers.
        assert!(parse_announce(&reply(1, 1, &v6), false).is_ok());
        let mut bad = rest.clone();
        bad.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert!(matches!(
            parse_announce(&reply(1, 1, &bad), false),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            parse_announce(&reply(1, 1, &rest[..8]), false),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            parse_announce(&reply(2, 1, &rest), false),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn error_reply_is_failure() {
        match parse_announce(&reply(3, 1, b"go away"), false) {
            Err(Error::Failure(s)) => assert_eq!(s, "go away"),
            other => panic!("expected Failure, got {other:?}"),
        }
        assert!(matches!(
            check_error(&reply(3, 1, b"")),
            Err(Error::Failure(_))
        ));
        assert!(check_error(&reply(1, 1, b"")).is_ok());
    }

    #[test]
    fn scrape_layout_and_reply() {
        let p = scrape_request(9, 5, InfoHash([0x33; 20]));
        assert_eq!(p.len(), 36);
        assert_eq!(u32_at(&p, 8), Some(2));
        let mut rest = Vec::new();
        for v in [3u32, 9, 4] {
            rest.extend_from_slice(&v.to_be_bytes());
        }
        let s = parse_scrape(&reply(2, 5, &rest)).expect("scrape");
        assert_eq!((s.complete, s.downloaded, s.incomplete), (3, 9, 4));
        assert!(matches!(
            parse_scrape(&reply(2, 5, &rest[..11])),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn server_side_reads_what_the_client_writes() {
        let req = AnnounceRequest {
            info_hash: InfoHash([0x11; 20]),
            peer_id: PeerId([0x22; 20]),
            port: 6881,
            uploaded: 3,
            downloaded: 1,
            left: 2,
            event: Event::Completed,
            numwant: Some(30),
            key: 9,
        };
        let p = announce_request(9, 5, &req);
        let h = parse_request_header(&p).expect("header");
        assert_eq!(
            (h.connection_id, h.action, h.transaction_id),
            (9, ACTION_ANNOUNCE, 5)
        );
        assert_eq!(parse_announce_request(&p), Some(req.clone()));
        let default_numwant = AnnounceRequest {
            numwant: None,
            ..req
        };
        let p = announce_request(9, 5, &default_numwant);
        assert_eq!(parse_announce_request(&p), Some(default_numwant));
        assert_eq!(parse_announce_request(&p[..97]), None);
        let p = scrape_request(1, 2, InfoHash([3; 20]));
        assert_eq!(parse_scrape_request(&p), Some(vec![InfoHash([3; 20])]));
        assert_eq!(parse_scrape_request(&p[..16]), None);
        assert_eq!(parse_connect(&connect_reply(4, 77)).ok(), Some(77));
        let peers: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().expect("addr")];
        let r = parse_announce(&announce_reply(4, 60, 1, 2, peers.iter().copied()), false)
            .expect("reply");
        assert_eq!((r.peers, r.leechers, r.seeders), (peers, Some(1), Some(2)));
        let s = ScrapeStats {
            complete: 1,
            incomplete: 2,
            downloaded: 3,
        };
        assert_eq!(parse_scrape(&scrape_reply(4, &[s])).ok(), Some(s));
        assert!(matches!(
            check_error(&error_reply(4, "no")),
            Err(Error::Failure(m)) if m == "no"
        ));
    }
}
