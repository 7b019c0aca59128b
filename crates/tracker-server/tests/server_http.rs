//! HTTP announce and scrape round trips against a real server on 127.0.0.1.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

#[path = "server_support/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;
use tracker_server::ServerConfig;

const IH: [u8; 20] = [0xA1; 20];

#[tokio::test]
async fn compact_announce_and_scrape_round_trip() {
    let srv = start(config()).await;
    let mut c = Http::connect(srv.addr).await;
    // A seeder, then a leecher: the leecher is told about the seeder; the second seeder is
    // told only about the leecher (seeders are not sent to seeders).
    let r = c
        .get(&announce(
            &IH,
            &[1; 20],
            7001,
            0,
            "&compact=1&event=started",
        ))
        .await;
    assert_eq!(r.status, 200);
    let v = dict(&r.body);
    assert_eq!(int(&v, "interval"), 1800);
    assert_eq!(int(&v, "min interval"), 300);
    assert_eq!((int(&v, "complete"), int(&v, "incomplete")), (1, 0));
    assert!(compact_peers(&v).is_empty(), "nobody else yet");

    let r = c
        .get(&announce(
            &IH,
            &[2; 20],
            7002,
            500,
            "&compact=1&event=started",
        ))
        .await;
    let v = dict(&r.body);
    assert_eq!((int(&v, "complete"), int(&v, "incomplete")), (1, 1));
    let me = |port| SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(compact_peers(&v), vec![me(7001)]);

    let r = c.get(&announce(&IH, &[3; 20], 7003, 0, "&compact=1")).await;
    let v = dict(&r.body);
    assert_eq!(
        compact_peers(&v),
        vec![me(7002)],
        "a seeder gets only leechers"
    );

    // The leecher completes; downloaded counts once; scrape reports it.
    c.get(&announce(
        &IH,
        &[2; 20],
        7002,
        0,
        "&compact=1&event=completed",
    ))
    .await;
    let r = c.get(&format!("/scrape?info_hash={}", enc(&IH))).await;
    assert_eq!(scrape_entry(&r.body, &IH), Some((3, 1, 0)));

    // Stopped leaves the swarm.
    c.get(&announce(&IH, &[3; 20], 7003, 0, "&event=stopped"))
        .await;
    let r = c.get("/scrape").await;
    assert_eq!(
        scrape_entry(&r.body, &IH),
        Some((2, 1, 0)),
        "scrape without info_hash lists all"
    );
    srv.stop().await;
}

#[tokio::test]
async fn dictionary_peers_and_no_peer_id() {
    let srv = start(config()).await;
    let mut c = Http::connect(srv.addr).await;
    c.get(&announce(&IH, b"-AA0001-aaaaaaaaaaaa", 7001, 0, ""))
        .await;
    let r = c
        .get(&announce(
            &IH,
            b"-BB0001-bbbbbbbbbbbb",
            7002,
            5,
            "&compact=0",
        ))
        .await;
    let v = dict(&r.body);
    let peers = v
        .get(b"peers")
        .and_then(|p| p.as_list())
        .expect("a peer list");
    assert_eq!(peers.len(), 1);
    let p = &peers[0];
    assert_eq!(p.get(b"ip").and_then(|x| x.as_str()), Some("127.0.0.1"));
    assert_eq!(p.get(b"port").and_then(|x| x.as_int()), Some(7001));
    assert_eq!(
        p.get(b"peer id").and_then(|x| x.as_bytes()),
        Some(&b"-AA0001-aaaaaaaaaaaa"[..])
    );

    let r = c
        .get(&announce(
            &IH,
            b"-BB0001-bbbbbbbbbbbb",
            7002,
            5,
            "&no_peer_id=1",
        ))
        .await;
    let v = dict(&r.body);
    let peers = v
        .get(b"peers")
        .and_then(|p| p.as_list())
        .expect("a peer list");
    assert!(peers[0].get(b"peer id").is_none());
    assert_eq!(peers[0].get(b"port").and_then(|x| x.as_int()), Some(7001));
    srv.stop().await;
}

#[tokio::test]
async fn numwant_is_capped_and_ip_param_ignored() {
    let srv = start(ServerConfig {
        max_numwant: 10,
        ..config()
    })
    .await;
    let mut c = Http::connect(srv.addr).await;
    for port in 1..=30u16 {
        // A hostile `ip` would point the swarm at a third party: it must be ignored.
        c.get(&announce(
            &IH,
            &[port as u8; 20],
            10_000 + port,
            1,
            "&ip=192.0.2.7&compact=1",
        ))
        .await;
    }
    let r = c
        .get(&announce(
            &IH,
            &[99; 20],
            9999,
            1,
            "&compact=1&numwant=1000",
        ))
        .await;
    let peers = compact_peers(&dict(&r.body));
    assert_eq!(peers.len(), 10);
    assert!(peers.iter().all(|p| p.ip().is_loopback()));
    let r = c
        .get(&announce(&IH, &[99; 20], 9999, 1, "&compact=1&numwant=3"))
        .await;
    assert_eq!(compact_peers(&dict(&r.body)).len(), 3);
    let r = c
        .get(&announce(&IH, &[99; 20], 9999, 1, "&compact=1"))
        .await;
    assert_eq!(
        compact_peers(&dict(&r.body)).len(),
        10,
        "default 50, capped at 10"
    );
    srv.stop().await;
}

#[tokio::test]
async fn peers_expire_after_two_intervals() {
    let srv = start(ServerConfig {
        interval: Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut c = Http::connect(srv.addr).await;
    c.get(&announce(&IH, &[1; 20], 7001, 0, "&compact=1")).await;
    let r = c.get(&announce(&IH, &[2; 20], 7002, 1, "&compact=1")).await;
    assert_eq!(compact_peers(&dict(&r.body)).len(), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = c.get(&announce(&IH, &[2; 20], 7002, 1, "&compact=1")).await;
    let v = dict(&r.body);
    assert!(compact_peers(&v).is_empty(), "the silent seeder expired");
    assert_eq!((int(&v, "complete"), int(&v, "incomplete")), (0, 1));
    srv.stop().await;
}

#[tokio::test]
async fn malformed_queries_get_failure_reason() {
    let srv = start(config()).await;
    let mut c = Http::connect(srv.addr).await;
    let long = format!(
        "{}&x={}",
        announce(&IH, &[1; 20], 1, 0, ""),
        "a".repeat(9000)
    );
    let cases = [
        (
            "/announce?info_hash=abc&peer_id=aaaaaaaaaaaaaaaaaaaa&port=1",
            "info_hash must be 20 bytes",
        ),
        (
            &*format!(
                "/announce?info_hash={}&peer_id=aaaaaaaaaaaaaaaaaaaa",
                enc(&IH)
            ),
            "missing port",
        ),
        (
            &*format!("/announce?info_hash={}%G1&port=1", enc(&IH)),
            "invalid percent-encoding",
        ),
        (
            &*announce(&IH, &[1; 20], 1, 0, "&numwant=ten"),
            "invalid numwant",
        ),
        (&*long, "request too long"),
        ("/scrape?info_hash=%00", "info_hash must be 20 bytes"),
    ];
    for (target, reason) in cases {
        let r = c.get(target).await;
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(failure(&r.body).as_deref(), Some(reason), "{target}");
    }
    // Still serving on the same keep-alive connection.
    let r = c.get(&announce(&IH, &[1; 20], 1, 0, "")).await;
    assert!(failure(&r.body).is_none());
    let r = c.get("/nope").await;
    assert_eq!(r.status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn oversize_heads_are_refused_cleanly() {
    let srv = start(config()).await;
    let mut c = Http::connect(srv.addr).await;
    let huge = format!("/announce?x={}", "a".repeat(40_000));
    // hyper answers 431 and closes (or just closes if it is still sending).
    if let Ok(Some(r)) = c.get_raw(huge.as_bytes()).await {
        assert_eq!(r.status, 431);
        assert!(
            matches!(c.get_raw(b"/").await, Ok(None) | Err(_)),
            "closed after 431"
        );
    }
    let r = get(srv.addr, &announce(&IH, &[1; 20], 1, 0, "")).await;
    assert_eq!(r.status, 200);
    srv.stop().await;
}
