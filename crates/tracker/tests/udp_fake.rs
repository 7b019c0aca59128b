//! The UDP client against scripted fake trackers: stray and foreign datagrams are ignored,
//! connection ids are cached, concurrent requests are demultiplexed, errors and silence surface.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metainfo::{InfoHash, PeerId};
use tokio::net::UdpSocket;
use tracker::{AnnounceRequest, Client, Error, Event};

const CONN_ID: u64 = 0x1122_3344_5566_7788;

fn request(port: u16) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0x42; 20]),
        peer_id: PeerId(*b"-BM0100-abcdefghijkl"),
        port,
        uploaded: 0,
        downloaded: 0,
        left: 5,
        event: Event::Started,
        numwant: Some(10),
        key: 7,
    }
}

fn client() -> Client {
    Client::new("btmirror-test/0")
        .expect("client")
        .with_udp_timeout(Duration::from_millis(100))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A received request: its action and transaction id.
struct Req {
    action: u32,
    tid: u32,
    from: SocketAddr,
    data: Vec<u8>,
}

async fn recv(sock: &UdpSocket) -> Req {
    let mut buf = vec![0u8; 2048];
    let (n, from) = sock.recv_from(&mut buf).await.expect("recv");
    buf.truncate(n);
    Req {
        action: be32(&buf, 8),
        tid: be32(&buf, 12),
        from,
        data: buf,
    }
}

fn connect_reply(tid: u32) -> Vec<u8> {
    let mut r = 0u32.to_be_bytes().to_vec();
    r.extend_from_slice(&tid.to_be_bytes());
    r.extend_from_slice(&CONN_ID.to_be_bytes());
    r
}

/// An announce reply listing one peer: 127.0.0.1:`peer_port`.
fn announce_reply(tid: u32, peer_port: u16) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [1u32, tid, 1800, 1, 2] {
        r.extend_from_slice(&v.to_be_bytes());
    }
    r.extend_from_slice(&[127, 0, 0, 1]);
    r.extend_from_slice(&peer_port.to_be_bytes());
    r
}

async fn bind() -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("udp://{}/announce", sock.local_addr().expect("addr"));
    (sock, url)
}

#[tokio::test]
async fn foreign_transaction_ids_and_sources_are_ignored() {
    let (sock, url) = bind().await;
    let intruder = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let server = tokio::spawn(async move {
        let c = recv(&sock).await;
        assert_eq!(c.action, 0);
        assert_eq!(&c.data[..8], &0x0417_2710_1980u64.to_be_bytes());
        // Wrong transaction id, then a short datagram, then the right one.
        sock.send_to(&connect_reply(c.tid ^ 1), c.from)
            .await
            .expect("send");
        sock.send_to(b"abc", c.from).await.expect("send");
        sock.send_to(&connect_reply(c.tid), c.from)
            .await
            .expect("send");
        let a = recv(&sock).await;
        assert_eq!(a.action, 1);
        assert_eq!(&a.data[..8], &CONN_ID.to_be_bytes());
        assert_eq!(a.data.len(), 98);
        // Right transaction id from the wrong address, then a wrong id, then the answer.
        intruder
            .send_to(&announce_reply(a.tid, 1), a.from)
            .await
            .expect("send");
        sock.send_to(&announce_reply(a.tid.wrapping_add(1), 2), a.from)
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(20)).await;
        sock.send_to(&announce_reply(a.tid, 3), a.from)
            .await
            .expect("send");
    });
    let r = client()
        .announce(&url, &request(1))
        .await
        .expect("announce");
    assert_eq!(r.peers, vec![SocketAddr::from(([127, 0, 0, 1], 3))]);
    assert_eq!((r.leechers, r.seeders), (Some(1), Some(2)));
    assert_eq!(r.interval, Duration::from_secs(1800));
    server.await.expect("server");
}

#[tokio::test]
async fn connection_id_is_cached_and_requests_are_demultiplexed() {
    let (sock, url) = bind().await;
    let connects = Arc::new(AtomicUsize::new(0));
    let counted = connects.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let r = recv(&sock).await;
            match r.action {
                0 => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    sock.send_to(&connect_reply(r.tid), r.from)
                        .await
                        .expect("send");
                }
                1 => {
                    // Answer announces in pairs, in reverse order, each echoing its port.
                    let port = u16::from_be_bytes([r.data[96], r.data[97]]);
                    held.push((r.tid, r.from, port));
                    if held.len() == 2 {
                        while let Some((tid, from, port)) = held.pop() {
                            sock.send_to(&announce_reply(tid, port), from)
                                .await
                                .expect("send");
                        }
                    }
                }
                other => panic!("unexpected action {other}"),
            }
        }
    });
    let client = client();
    let (r1, r2, r3, r4) = (request(1001), request(1002), request(1003), request(1004));
    let (a, b) = tokio::join!(client.announce(&url, &r1), client.announce(&url, &r2));
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a.peers, vec![SocketAddr::from(([127, 0, 0, 1], 1001))]);
    assert_eq!(b.peers, vec![SocketAddr::from(([127, 0, 0, 1], 1002))]);
    let after_first = connects.load(Ordering::SeqCst);
    assert!((1..=2).contains(&after_first), "{after_first} connects");
    let clone = client.clone();
    let (c, d) = tokio::join!(clone.announce(&url, &r3), client.announce(&url, &r4));
    assert_eq!(
        c.expect("c").peers,
        vec![SocketAddr::from(([127, 0, 0, 1], 1003))]
    );
    assert_eq!(
        d.expect("d").peers,
        vec![SocketAddr::from(([127, 0, 0, 1], 1004))]
    );
    assert_eq!(
        connects.load(Ordering::SeqCst),
        after_first,
        "connection id reused"
    );
}

#[tokio::test]
async fn error_action_is_a_failure() {
    let (sock, url) = bind().await;
    tokio::spawn(async move {
        let c = recv(&sock).await;
        sock.send_to(&connect_reply(c.tid), c.from)
            .await
            .expect("send");
        let a = recv(&sock).await;
        let mut r = 3u32.to_be_bytes().to_vec();
        r.extend_from_slice(&a.tid.to_be_bytes());
        r.extend_from_slice(b"torrent not registered");
        sock.send_to(&r, a.from).await.expect("send");
    });
    match client().announce(&url, &request(1)).await {
        Err(Error::Failure(s)) => assert_eq!(s, "torrent not registered"),
        other => panic!("expected Failure, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_peer_length_is_malformed() {
    let (sock, url) = bind().await;
    tokio::spawn(async move {
        let c = recv(&sock).await;
        sock.send_to(&connect_reply(c.tid), c.from)
            .await
            .expect("send");
        let a = recv(&sock).await;
        let mut r = announce_reply(a.tid, 1);
        r.push(0);
        sock.send_to(&r, a.from).await.expect("send");
    });
    let r = client().announce(&url, &request(1)).await;
    assert!(matches!(r, Err(Error::Malformed(_))), "{r:?}");
}

#[tokio::test]
async fn silence_times_out_after_the_configured_tries() {
    let (sock, url) = bind().await;
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    tokio::spawn(async move {
        loop {
            let r = recv(&sock).await;
            assert_eq!(r.action, 0, "only connects can arrive");
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let client = Client::new("t")
        .expect("client")
        .with_udp_timeout(Duration::from_millis(50))
        .with_udp_tries(3);
    let start = std::time::Instant::now();
    let r = client.announce(&url, &request(1)).await;
    let took = start.elapsed();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // 50 + 100 + 200 ms.
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn udp_scrape() {
    let (sock, url) = bind().await;
    tokio::spawn(async move {
        let c = recv(&sock).await;
        sock.send_to(&connect_reply(c.tid), c.from)
            .await
            .expect("send");
        let s = recv(&sock).await;
        assert_eq!(s.action, 2);
        assert_eq!(&s.data[16..36], &[0x42; 20]);
        let mut r = Vec::new();
        for v in [2u32, s.tid, 4, 9, 6] {
            r.extend_from_slice(&v.to_be_bytes());
        }
        sock.send_to(&r, s.from).await.expect("send");
    });
    let s = client()
        .scrape(&url, InfoHash([0x42; 20]))
        .await
        .expect("scrape");
    assert_eq!((s.complete, s.downloaded, s.incomplete), (4, 9, 6));
}
