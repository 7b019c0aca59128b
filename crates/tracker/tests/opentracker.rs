//! The client against a real opentracker (HTTP and UDP): peers see each other, `stopped` removes
//! a peer, scrape counts, and an info-hash outside the whitelist is refused.

#[path = "support/opentracker.rs"]
mod opentracker;

use std::net::SocketAddr;
use std::time::Duration;

use metainfo::{InfoHash, PeerId};
use opentracker::OpenTracker;
use tracker::{AnnounceRequest, Client, Error, Event, ScrapeStats, Tiers};

fn request(info_hash: InfoHash, who: u8, port: u16, left: u64, event: Event) -> AnnounceRequest {
    let mut peer_id = *b"-BM0100-000000000000";
    peer_id[19] = who;
    AnnounceRequest {
        info_hash,
        peer_id: PeerId(peer_id),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: Some(50),
        key: u32::from(who),
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The full swarm story against one announce URL.
async fn swarm_story(client: &Client, url: &str, info_hash: InfoHash) {
    let (seed_port, leech_port) = (40_001, 40_002);
    let seed = client
        .announce(url, &request(info_hash, b'a', seed_port, 0, Event::Started))
        .await
        .expect("seeder announce");
    assert!(seed.interval >= Duration::from_secs(10));

    let leech = client
        .announce(
            url,
            &request(info_hash, b'b', leech_port, 1000, Event::Started),
        )
        .await
        .expect("leecher announce");
    assert!(
        leech.peers.contains(&addr(seed_port)),
        "leecher did not get the seeder: {:?}",
        leech.peers
    );
    assert_eq!((leech.seeders, leech.leechers), (Some(1), Some(1)));

    let stats = client.scrape(url, info_hash).await.expect("scrape");
    assert_eq!(
        stats,
        ScrapeStats {
            complete: 1,
            incomplete: 1,
            downloaded: 0
        }
    );

    client
        .announce(url, &request(info_hash, b'a', seed_port, 0, Event::Stopped))
        .await
        .expect("seeder stops");
    let again = client
        .announce(
            url,
            &request(info_hash, b'b', leech_port, 1000, Event::None),
        )
        .await
        .expect("leecher re-announce");
    assert!(
        !again.peers.contains(&addr(seed_port)),
        "stopped seeder still listed: {:?}",
        again.peers
    );
    assert_eq!(again.seeders, Some(0));
    let stats = client.scrape(url, info_hash).await.expect("scrape");
    assert_eq!((stats.complete, stats.incomplete), (0, 1));
}

fn client() -> Client {
    Client::new("btmirror-test/0")
        .expect("client")
        .with_http_timeout(Duration::from_secs(5))
        .with_udp_timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn http_swarm_against_opentracker() {
    let hash = InfoHash([0x5a; 20]);
    let Some(ot) = OpenTracker::start(&[hash]) else {
        return;
    };
    swarm_story(&client(), &ot.http_url(), hash).await;
}

#[tokio::test]
async fn udp_swarm_against_opentracker() {
    let hash = InfoHash([0xa5; 20]);
    let Some(ot) = OpenTracker::start(&[hash]) else {
        return;
    };
    swarm_story(&client(), &ot.udp_url(), hash).await;
}

#[tokio::test]
async fn unlisted_info_hash_is_refused() {
    let listed = InfoHash([0x01; 20]);
    let Some(ot) = OpenTracker::start(&[listed]) else {
        return;
    };
    let req = request(InfoHash([0x02; 20]), b'a', 40_003, 0, Event::Started);
    match client().announce(&ot.http_url(), &req).await {
        Err(Error::Failure(reason)) => assert!(reason.contains("not authorized"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn tiers_fall_back_to_a_working_tracker() {
    let hash = InfoHash([0x77; 20]);
    let Some(ot) = OpenTracker::start(&[hash]) else {
        return;
    };
    // A first tier nobody answers (a closed TCP port and a silent UDP port), then opentracker.
    let dead_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead_tcp.local_addr().expect("addr").port();
    drop(dead_tcp);
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("udp://{}", silent.local_addr().expect("addr"));
    let client = client().with_udp_timeout(Duration::from_millis(50));
    let mut tiers = Tiers::new(vec![
        vec![format!("http://127.0.0.1:{dead_port}/announce"), silent_url],
        vec![ot.udp_url(), ot.http_url()],
    ]);
    let req = request(hash, b'c', 40_004, 0, Event::Started);
    let (used, resp) = tiers.announce(&client, &req).await.expect("falls back");
    assert!(used == ot.udp_url() || used == ot.http_url(), "{used}");
    assert!(resp.peers.contains(&addr(40_004)), "{:?}", resp.peers);
    // The tracker that answered is now first in its tier (after the dead first tier).
    let order: Vec<&str> = tiers.urls().collect();
    assert_eq!(order.get(2).copied(), Some(used.as_str()));
}
