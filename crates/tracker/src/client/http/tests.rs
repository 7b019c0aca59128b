//! Unit tests for HTTP query building and response parsing.

use std::net::SocketAddr;
use std::time::Duration;

use metainfo::{InfoHash, PeerId};

use super::*;

fn request() -> AnnounceRequest {
    let mut info_hash = [0u8; 20];
    info_hash[..6].copy_from_slice(&[0x00, b'a', b'~', b' ', 0xff, b'/']);
    AnnounceRequest {
        info_hash: InfoHash(info_hash),
        peer_id: PeerId(*b"-BM0100-abcdefghijkl"),
        port: 6881,
        uploaded: 1,
        downloaded: 2,
        left: 3,
        event: Event::Started,
        numwant: Some(50),
        key: 0xdead_beef,
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn query_encodes_binary_and_all_params() {
    let url = announce_url("http://t.example/announce", &request(), None);
    let expected = "http://t.example/announce?info_hash=%00a~%20%FF%2F%00%00%00%00%00%00%00%00%00%00%00%00%00%00\
        &peer_id=-BM0100-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=3&compact=1\
        &no_peer_id=1&key=deadbeef&event=started&numwant=50";
    assert_eq!(url, expected);
}

#[test]
fn query_appends_to_existing_query_and_sends_tracker_id() {
    let mut req = request();
    req.event = Event::None;
    req.numwant = None;
    let url = announce_url("http://t.example/announce?passkey=xyz", &req, Some(b"id 1"));
    assert!(
        url.starts_with("http://t.example/announce?passkey=xyz&info_hash="),
        "{url}"
    );
    assert!(!url.contains("event="), "{url}");
    assert!(!url.contains("numwant="), "{url}");
    assert!(url.ends_with("&trackerid=id%201"), "{url}");
    // A trailing `?` needs no extra separator.
    let url = announce_url("http://t.example/announce?", &req, None);
    assert!(
        url.starts_with("http://t.example/announce?info_hash="),
        "{url}"
    );
}

#[test]
fn event_names() {
    let mut req = request();
    for (event, name) in [
        (Event::Completed, "&event=completed"),
        (Event::Stopped, "&event=stopped"),
    ] {
        req.event = event;
        assert!(announce_url("http://t/a", &req, None).contains(name));
    }
}

#[test]
fn scrape_url_follows_convention() {
    let h = InfoHash([0x41; 20]);
    let q = "info_hash=AAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        scrape_url("http://t/announce", h).ok(),
        Some(format!("http://t/scrape?{q}"))
    );
    assert_eq!(
        scrape_url("http://t/x/announce.php?k=1", h).ok(),
        Some(format!("http://t/x/scrape.php?k=1&{q}"))
    );
    assert!(matches!(
        scrape_url("http://t/a", h),
        Err(Error::NoScrape(_))
    ));
    assert!(matches!(
        scrape_url("http://announce", h),
        Err(Error::NoScrape(_))
    ));
    assert!(matches!(
        scrape_url("http://t/announce/x", h),
        Err(Error::NoScrape(_))
    ));
}

#[test]
fn parses_compact_response() {
    let body = b"d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e\
        5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50\
        6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2\
        10:tracker id3:abc15:warning message4:caree";
    let (r, id) = parse_announce(body).expect("parses");
    assert_eq!(r.interval, Duration::from_secs(1800));
    assert_eq!(r.min_interval, Some(Duration::from_secs(60)));
    assert_eq!(r.seeders, Some(5));
    assert_eq!(r.leechers, Some(7));
    assert_eq!(r.warning.as_deref(), Some("care"));
    assert_eq!(id.as_deref(), Some(&b"abc"[..]));
    assert_eq!(
        r.peers,
        vec![sa("127.0.0.1:6881"), sa("10.0.0.2:80"), sa("[::1]:6882")]
    );
}

#[test]
fn parses_dict_peers_and_skips_unusable_entries() {
    let body = b"d8:intervali5e5:peersl\
        d2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881ee\
        d2:ip3:::14:porti1ee\
        d2:ip11:example.org4:porti1ee\
        d2:ip8:10.0.0.14:porti70000ee\
        d2:ip8:10.0.0.14:porti0ee\
        d4:porti1eeee";
    let (r, id) = parse_announce(body).expect("parses");
    assert_eq!(r.peers, vec![sa("127.0.0.1:6881"), sa("[::1]:1")]);
    // Below the floor: clamped up to 10 s.
    assert_eq!(r.interval, Duration::from_secs(10));
    assert_eq!(
        (r.seeders, r.leechers, r.min_interval, id),
        (None, None, None, None)
    );
}

#[test]
fn failure_reason_wins() {
    let body = b"d14:failure reason9:not today8:intervali1800ee";
    match parse_announce(body) {
        Err(Error::Failure(s)) => assert_eq!(s, "not today"),
        other => panic!("expected Failure, got {other:?}"),
    }
    match parse_scrape(body, InfoHash([0; 20])) {
        Err(Error::Failure(s)) => assert_eq!(s, "not today"),
        other => panic!("expected Failure, got {other:?}"),
    }
}

#[test]
fn rejects_bad_lengths_and_shapes() {
    let cases: &[&[u8]] = &[
        b"d8:intervali60e5:peers5:abcdee",
        b"d8:intervali60e5:peers7:abcdefgee",
        b"d8:intervali60e6:peers66:abcdefe",
        b"d8:intervali60e6:peers6i1ee",
        b"d8:intervali60e5:peersi3ee",
        b"d5:peers0:e",
        b"d8:intervali-5e5:peers0:e",
        b"li1ee",
        b"<html>nope</html>",
        b"",
    ];
    for body in cases {
        assert!(
            matches!(parse_announce(body), Err(Error::Malformed(_))),
            "accepted {:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn missing_peers_is_empty() {
    let (r, _) = parse_announce(b"d8:intervali60ee").expect("parses");
    assert!(r.peers.is_empty());
}

#[test]
fn compact_port_zero_is_skipped() {
    let mut out = Vec::new();
    crate::wire::compact::parse_v4(
        b"\x01\x02\x03\x04\x00\x00\x01\x02\x03\x04\x00\x01",
        &mut out,
    )
    .expect("parses");
    assert_eq!(out, vec![sa("1.2.3.4:1")]);
}

#[test]
fn parses_scrape() {
    let h = InfoHash([0x41; 20]);
    let body = b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei3e10:downloadedi9e10:incompletei4eeee";
    assert_eq!(
        parse_scrape(body, h).expect("parses"),
        ScrapeStats {
            complete: 3,
            incomplete: 4,
            downloaded: 9
        }
    );
    assert_eq!(
        parse_scrape(body, InfoHash([0x42; 20])).expect("parses"),
        ScrapeStats::default()
    );
    assert!(matches!(
        parse_scrape(b"d4:filei1ee", h),
        Err(Error::Malformed(_))
    ));
}
