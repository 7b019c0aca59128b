//! BEP 15 packet layouts: building requests and validating replies. Pure functions, no I/O.
//! All integers are big-endian.

use std::net::SocketAddr;

use metainfo::InfoHash;

use super::super::http::{parse_compact_v4, parse_compact_v6};
use super::super::{AnnounceRequest, AnnounceResponse, Error, Event, ScrapeStats, clamp_interval};

/// The `protocol_id` of a connect request.
const PROTOCOL_ID: u64 = 0x0417_2710_1980;

const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_SCRAPE: u32 = 2;
const ACTION_ERROR: u32 = 3;

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

/// The transaction id of any reply (bytes 4..8); `None` for datagrams shorter than 8 bytes.
pub(super) fn transaction_id(datagram: &[u8]) -> Option<u32> {
    u32_at(datagram, 4)
}

/// Turns an error reply (action 3: action, transaction id, message) into [`Error::Failure`].
pub(super) fn check_error(reply: &[u8]) -> Result<(), Error> {
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
pub(super) fn connect_request(tid: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(16);
    p.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    p.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p
}

/// The connection id of a connect reply (16 bytes).
pub(super) fn parse_connect(reply: &[u8]) -> Result<u64, Error> {
    expect_action(reply, ACTION_CONNECT, 16, "connect")?;
    u64_at(reply, 8).ok_or_else(|| Error::Malformed("udp connect reply too short".into()))
}

/// Announce request (98 bytes).
pub(super) fn announce_request(conn: u64, tid: u32, req: &AnnounceRequest) -> Vec<u8> {
    let event: u32 = match req.event {
        Event::None => 0,
        Event::Completed => 1,
        Event::Started => 2,
        Event::Stopped => 3,
    };
    // -1 asks for the tracker's default.
    let numwant = req
        .numwant
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(-1);
    let mut p = Vec::with_capacity(98);
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
pub(super) fn parse_announce(reply: &[u8], ipv6: bool) -> Result<AnnounceResponse, Error> {
    expect_action(reply, ACTION_ANNOUNCE, 20, "announce")?;
    let field = |at| u32_at(reply, at).ok_or_else(|| Error::Malformed("short announce".into()));
    let interval = field(8)?;
    let leechers = field(12)?;
    let seeders = field(16)?;
    let compact = reply.get(20..).unwrap_or_default();
    let mut peers: Vec<SocketAddr> = Vec::new();
    if ipv6 {
        parse_compact_v6(compact, &mut peers)?;
    } else {
        parse_compact_v4(compact, &mut peers)?;
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
pub(super) fn scrape_request(conn: u64, tid: u32, info_hash: InfoHash) -> Vec<u8> {
    let mut p = Vec::with_capacity(36);
    p.extend_from_slice(&conn.to_be_bytes());
    p.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    p.extend_from_slice(&tid.to_be_bytes());
    p.extend_from_slice(&info_hash.0);
    p
}

/// Scrape reply for one info-hash: action, tid, seeders, completed, leechers.
pub(super) fn parse_scrape(reply: &[u8]) -> Result<ScrapeStats, Error> {
    expect_action(reply, ACTION_SCRAPE, 20, "scrape")?;
    let field = |at| u32_at(reply, at).ok_or_else(|| Error::Malformed("short scrape".into()));
    Ok(ScrapeStats {
        complete: field(8)?,
        downloaded: field(12)?,
        incomplete: field(16)?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metainfo::PeerId;

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
}
