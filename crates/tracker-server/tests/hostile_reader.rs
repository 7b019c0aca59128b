//! Issue 17 ("smaller"): an HTTP client that sends requests but never reads the answers must
//! not hold a connection slot for minutes. With one slot, a real client is served once the
//! server gives up writing to the stuck one (the default write timeout, 10 s).
#![allow(clippy::unwrap_used)]

#[path = "server_support/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use metainfo::{InfoHash, PeerId};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tracker::{AnnounceRequest, Event};
use tracker_server::ServerConfig;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_frees_its_slot() {
    let srv = start(ServerConfig {
        max_connections: 1,
        ..config()
    })
    .await;
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(SocketAddr::new([127, 0, 0, 2].into(), 0))
        .unwrap();
    let stream = sock.connect(srv.addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let attack = tokio::spawn(async move {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(64);
        for _ in 0..10_000 {
            if writer.write_all(&req).await.is_err() {
                break;
            }
        }
    });
    // Let the answers pile up until the server's writes block.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = tracker::Client::new("btmirror-test")
        .unwrap()
        .with_http_timeout(Duration::from_secs(60));
    let req = AnnounceRequest {
        info_hash: InfoHash([0x42; 20]),
        peer_id: PeerId(*b"-BM0100-realclient01"),
        port: 7001,
        uploaded: 0,
        downloaded: 0,
        left: 10,
        event: Event::Started,
        numwant: None,
        key: 1,
    };
    let url = format!("http://127.0.0.1:{}/announce", srv.addr.port());
    let started = Instant::now();
    let r = client.announce(&url, &req).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "served after {:?}",
        started.elapsed()
    );
    drop(reader);
    attack.abort();
    srv.stop().await;
}
