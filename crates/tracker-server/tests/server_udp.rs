//! The UDP tracker protocol (BEP 15) over a real socket on 127.0.0.1, on the HTTP port number.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

#[path = "server_support/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use support::*;

const PROTOCOL_ID: u64 = 0x0417_2710_1980;

async fn exchange(sock: &UdpSocket, to: SocketAddr, req: &[u8]) -> Vec<u8> {
    sock.send_to(req, to).await.unwrap();
    let mut buf = vec![0; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("reply")
        .unwrap();
    assert_eq!(from, to);
    buf.truncate(n);
    buf
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

async fn connect(sock: &UdpSocket, to: SocketAddr) -> u64 {
    let mut req = PROTOCOL_ID.to_be_bytes().to_vec();
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    let r = exchange(sock, to, &req).await;
    assert_eq!(r.len(), 16);
    assert_eq!((u32_at(&r, 0), u32_at(&r, 4)), (0, 0xdead_beef));
    u64::from_be_bytes(r[8..16].try_into().unwrap())
}

fn announce_packet(
    conn: u64,
    tid: u32,
    ih: &[u8; 20],
    left: u64,
    event: u32,
    port: u16,
) -> Vec<u8> {
    let mut r = conn.to_be_bytes().to_vec();
    r.extend_from_slice(&1u32.to_be_bytes());
    r.extend_from_slice(&tid.to_be_bytes());
    r.extend_from_slice(ih);
    r.extend_from_slice(&[port as u8; 20]);
    r.extend_from_slice(&0u64.to_be_bytes());
    r.extend_from_slice(&left.to_be_bytes());
    r.extend_from_slice(&0u64.to_be_bytes());
    r.extend_from_slice(&event.to_be_bytes());
    r.extend_from_slice(&0u32.to_be_bytes());
    r.extend_from_slice(&0u32.to_be_bytes());
    r.extend_from_slice(&(-1i32).to_be_bytes());
    r.extend_from_slice(&port.to_be_bytes());
    r
}

#[tokio::test]
async fn connect_announce_scrape_and_http_agree() {
    let srv = start(config()).await;
    let ih = [0x42; 20];
    let seeder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let leecher = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cs = connect(&seeder, srv.addr).await;
    let cl = connect(&leecher, srv.addr).await;
    assert_eq!(
        cs, cl,
        "ids are per client IP (libtorrent shares them between its sessions)"
    );

    let r = exchange(&seeder, srv.addr, &announce_packet(cs, 1, &ih, 0, 2, 7001)).await;
    assert_eq!((u32_at(&r, 0), u32_at(&r, 4)), (1, 1));
    assert_eq!(u32_at(&r, 8), 1800, "interval");
    assert_eq!(
        (u32_at(&r, 12), u32_at(&r, 16)),
        (0, 1),
        "leechers, seeders"
    );
    assert_eq!(r.len(), 20);

    let r = exchange(&leecher, srv.addr, &announce_packet(cl, 2, &ih, 9, 2, 7002)).await;
    assert_eq!(
        &r[20..],
        &[127, 0, 0, 1, 0x1b, 0x59],
        "the seeder at 127.0.0.1:7001"
    );
    let r = exchange(&leecher, srv.addr, &announce_packet(cl, 3, &ih, 0, 1, 7002)).await;
    assert_eq!((u32_at(&r, 12), u32_at(&r, 16)), (0, 2));

    let mut scrape = cl.to_be_bytes().to_vec();
    scrape.extend_from_slice(&2u32.to_be_bytes());
    scrape.extend_from_slice(&4u32.to_be_bytes());
    scrape.extend_from_slice(&ih);
    let r = exchange(&leecher, srv.addr, &scrape).await;
    let words: Vec<u32> = (0..5).map(|i| u32_at(&r, i * 4)).collect();
    assert_eq!(
        words,
        vec![2, 4, 2, 1, 0],
        "seeders 2, completed 1, leechers 0"
    );

    // The same swarm over HTTP.
    let h = get(srv.addr, &format!("/scrape?info_hash={}", enc(&ih))).await;
    assert_eq!(scrape_entry(&h.body, &ih), Some((2, 1, 0)));
    srv.stop().await;
}

#[tokio::test]
async fn forged_connection_ids_get_error_action() {
    let srv = start(config()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let real = connect(&sock, srv.addr).await;
    for forged in [
        0u64,
        PROTOCOL_ID,
        real.wrapping_add(1),
        real ^ (1 << 63),
        fastrand::u64(..),
    ] {
        let r = exchange(
            &sock,
            srv.addr,
            &announce_packet(forged, 77, &[1; 20], 0, 2, 7001),
        )
        .await;
        assert_eq!(
            (u32_at(&r, 0), u32_at(&r, 4)),
            (3, 77),
            "error action for {forged:x}"
        );
        assert_eq!(&r[8..], b"invalid connection id");
    }
    // Nothing was recorded by the forged announces.
    let h = get(srv.addr, &format!("/scrape?info_hash={}", enc(&[1; 20]))).await;
    assert_eq!(scrape_entry(&h.body, &[1; 20]), Some((0, 0, 0)));
    // The genuine id still works.
    let r = exchange(
        &sock,
        srv.addr,
        &announce_packet(real, 78, &[1; 20], 0, 2, 7001),
    )
    .await;
    assert_eq!(u32_at(&r, 0), 1);
    srv.stop().await;
}

/// Issue 17 ("smaller"): a packet with a forged source and an unknown connection id must not
/// draw a reply larger than itself (the tracker would amplify an attack on that source).
#[tokio::test]
async fn unknown_connection_ids_get_no_larger_reply() {
    let srv = start(config()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let full = announce_packet(0x1234_5678_9abc_def0, 5, &[1; 20], 0, 2, 7001);
    let mut buf = vec![0; 2048];
    for len in [16, 20, 28, 29, 36, 60, 98] {
        let mut p = full[..len].to_vec();
        // Scrape (2) and unknown (9) actions as well as announces.
        for action in [1u32, 2, 9] {
            p[8..12].copy_from_slice(&action.to_be_bytes());
            sock.send_to(&p, srv.addr).await.unwrap();
            match tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await {
                Ok(r) => {
                    let (n, _) = r.unwrap();
                    assert!(n <= len, "{n}-byte reply to a {len}-byte packet");
                    assert_eq!(u32_at(&buf, 0), 3, "an error");
                }
                Err(_) => assert!(len < 29, "a full-size error fits a {len}-byte request"),
            }
        }
    }
    srv.stop().await;
}
