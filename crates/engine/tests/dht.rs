//! The session's DHT on 127.0.0.1 only: a session with the default (empty) bootstrap list sends
//! no KRPC datagram until it is told of a node; a trackerless torrent is found through a
//! private DHT of three sessions; private torrents stay out of it.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{CreateOptions, Metainfo};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

async fn session(bootstrap: Vec<String>) -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        dht_bootstrap: bootstrap,
        ..SessionConfig::default()
    };
    assert!(cfg.dht, "the DHT is on by default");
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

/// A trackerless torrent of `size` random bytes in `dir`.
fn trackerless(dir: &Path, size: usize, private: bool) -> Arc<Metainfo> {
    let file = dir.join("data.bin");
    let mut rng = fastrand::Rng::with_seed(size as u64);
    let data: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
    std::fs::write(&file, data).unwrap();
    let opts = CreateOptions {
        announce: String::new(),
        piece_length: Some(16 * 1024),
        private,
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(&file, &opts, &|_, _| {}).unwrap();
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert!(meta.tracker_tiers().is_empty(), "no tracker at all");
    Arc::new(meta)
}

#[test]
fn the_default_config_has_no_bootstrap_node() {
    let cfg = SessionConfig::default();
    assert!(cfg.dht_bootstrap.is_empty() && cfg.dht_nodes.is_empty());
}

#[tokio::test]
async fn an_empty_bootstrap_list_sends_nothing_until_told_of_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let meta = trackerless(dir.path(), 64 * 1024, false);
    let s = session(Vec::new()).await;
    let h = s
        .add_torrent(meta, dir.path().to_path_buf(), AddOptions::default())
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    // a public torrent wants a lookup at once; with nobody to ask, nothing goes out
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = s.dht_stats().unwrap();
    assert_eq!(st.sent, 0, "{st:?}");
    assert_eq!(st.state(), "bootstrapping");
    assert_eq!(s.transport_stats().udp.krpc, 0);

    // told of a (loopback) node, it asks that node
    let node = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.dht_add_node(node.local_addr().unwrap());
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), node.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(dht::is_dht_packet(&buf[..n]), "a KRPC query");
    assert_eq!(from.port(), s.listen_addr().port(), "from the shared port");
    assert!(s.dht_stats().unwrap().sent >= 1);
    s.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_dht_can_be_turned_off() {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        dht: false,
        ..SessionConfig::default()
    };
    let s = Session::start(cfg, CancellationToken::new()).await.unwrap();
    assert!(s.dht_stats().is_none());
    assert!(s.dht_saved().await.nodes.is_empty());
}

/// The public address saved at the last run (BEP 42) gives the node an id valid for it from
/// the start; no datagram is sent (no bootstrap node).
#[tokio::test]
async fn a_saved_external_address_gives_a_bep42_node_id() {
    let ip: std::net::IpAddr = "203.0.113.7".parse().unwrap();
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        dht_external_ip: Some(ip),
        ..SessionConfig::default()
    };
    let s = Session::start(cfg, CancellationToken::new()).await.unwrap();
    let id = dht::NodeId(s.dht_node_id().expect("the DHT is on"));
    assert!(dht::bep42_valid(&id, ip), "a BEP 42 id for {ip}");
    s.shutdown(Duration::from_secs(5)).await;
}

/// A session that only routes (no torrent), the bootstrap node of the others.
async fn router() -> (Session, String) {
    let r = session(Vec::new()).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], r.listen_addr().port()));
    (r, addr.to_string())
}

#[tokio::test]
async fn a_trackerless_torrent_is_downloaded_through_the_dht() {
    let (router, boot) = router().await;
    let seed_dir = tempfile::tempdir().unwrap();
    let meta = trackerless(seed_dir.path(), 300 * 1024, false);
    let seed = session(vec![boot.clone()]).await;
    let h = seed
        .add_torrent(
            meta.clone(),
            seed_dir.path().to_path_buf(),
            AddOptions::default(),
        )
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    // the seed's announce reaches the router
    let mut stored = false;
    for _ in 0..200 {
        if router.dht_stats().unwrap().stored.1 >= 1 {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "router: {:?}", router.dht_stats());

    let leech_dir = tempfile::tempdir().unwrap();
    let leech = session(vec![boot]).await;
    let h = leech
        .add_torrent(
            meta.clone(),
            leech_dir.path().to_path_buf(),
            AddOptions::default(),
        )
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap_or_else(|_| panic!("leech: {:?}, dht {:?}", h.stats(), leech.dht_stats()))
    .unwrap();
    assert_eq!(
        std::fs::read(seed_dir.path().join("data.bin")).unwrap(),
        std::fs::read(leech_dir.path().join("data.bin")).unwrap()
    );
    assert!(leech.dht_stats().unwrap().peers_found >= 1);
    // the table's good nodes are there to be saved
    let nodes = leech.dht_saved().await.nodes;
    assert!(!nodes.is_empty() && nodes.iter().all(|a| a.ip().is_loopback()));
    for s in [leech, seed, router] {
        s.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn private_torrents_never_touch_the_dht() {
    let (router, boot) = router().await;
    let dir = tempfile::tempdir().unwrap();
    let meta = trackerless(dir.path(), 64 * 1024, true);
    let seed = session(vec![boot]).await;
    let h = seed
        .add_torrent(meta, dir.path().to_path_buf(), AddOptions::default())
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    // the node bootstraps (it knows the router) but announces nothing
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(seed.dht_stats().unwrap().nodes_v4 >= 1);
    assert_eq!(router.dht_stats().unwrap().stored, (0, 0));
    assert_eq!(seed.dht_stats().unwrap().lookups, 0);
}

/// Seeds `meta` from `dir` in one session and downloads it in another, the leecher told of the
/// seed directly; returns both sessions once the download is complete.
async fn transfer(meta: Arc<Metainfo>, dir: &Path) -> (Session, Session) {
    let seed = session(Vec::new()).await;
    let h = seed
        .add_torrent(meta.clone(), dir.to_path_buf(), AddOptions::default())
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    let leech_dir = tempfile::tempdir().unwrap();
    let leech = session(Vec::new()).await;
    let h = leech
        .add_torrent(meta, leech_dir.path().to_path_buf(), AddOptions::default())
        .unwrap();
    let seed_addr = SocketAddr::from(([127, 0, 0, 1], seed.listen_addr().port()));
    h.add_peers(vec![seed_addr]).await;
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    (seed, leech)
}

#[tokio::test]
async fn peers_tell_each_other_their_dht_port_on_public_torrents_only() {
    // BEP 5: both set the DHT bit, send `port`, and put the other's node into their table
    let dir = tempfile::tempdir().unwrap();
    let (seed, leech) = transfer(trackerless(dir.path(), 128 * 1024, false), dir.path()).await;
    let mut both = false;
    for _ in 0..100 {
        let (a, b) = (seed.dht_stats().unwrap(), leech.dht_stats().unwrap());
        if a.nodes_v4 >= 1 && b.nodes_v4 >= 1 {
            both = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(both, "{:?} {:?}", seed.dht_stats(), leech.dht_stats());

    // BEP 27: a private torrent's peers learn no DHT node from each other
    let dir = tempfile::tempdir().unwrap();
    let (seed, leech) = transfer(trackerless(dir.path(), 128 * 1024, true), dir.path()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for s in [&seed, &leech] {
        let st = s.dht_stats().unwrap();
        assert_eq!((st.nodes_v4, st.sent), (0, 0), "{st:?}");
    }
}

#[tokio::test]
async fn a_leecher_started_before_its_seed_looks_again_and_finds_it() {
    let (router, boot) = router().await;
    let seed_dir = tempfile::tempdir().unwrap();
    let meta = trackerless(seed_dir.path(), 200 * 1024, false);
    let leech_dir = tempfile::tempdir().unwrap();
    let leech = session(vec![boot.clone()]).await;
    let lh = leech
        .add_torrent(
            meta.clone(),
            leech_dir.path().to_path_buf(),
            AddOptions::default(),
        )
        .unwrap();
    // its first lookup finds nobody and announces it to the router
    let mut announced = false;
    for _ in 0..200 {
        if router.dht_stats().unwrap().stored.1 >= 1 {
            announced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(announced, "router: {:?}", router.dht_stats());
    assert_eq!(leech.dht_stats().unwrap().peers_found, 0);

    let seed = session(vec![boot]).await;
    seed.add_torrent(meta, seed_dir.path().to_path_buf(), AddOptions::default())
        .unwrap();
    let mut rx = lh.subscribe();
    tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|st| st.state == TorrentState::Seeding),
    )
    .await
    .unwrap_or_else(|_| panic!("leech: {:?}, dht {:?}", lh.stats(), leech.dht_stats()))
    .unwrap();
    // a starving download looks again after 20 s: that lookup finds the seed
    let mut found = false;
    for _ in 0..600 {
        if leech.dht_stats().unwrap().peers_found >= 1 {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "leech: {:?}", leech.dht_stats());
}
