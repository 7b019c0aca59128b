//! In-process swarms over uTP: sessions of our own engine on 127.0.0.1 with TCP turned off on
//! one or both sides.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentState, Transports};
use metainfo::{CreateOptions, Metainfo};
use tokio_util::sync::CancellationToken;

fn write_random(path: &Path, len: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn make_torrent(path: &Path, piece: u32) -> Arc<Metainfo> {
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(piece),
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(path, &opts, &|_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

async fn session(transports: Transports) -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        transports,
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

async fn wait_state(h: &TorrentHandle, want: TorrentState, secs: u64) {
    let mut rx = h.subscribe();
    let r = tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| s.state == want)).await;
    assert!(
        r.is_ok(),
        "timed out waiting for {want:?}; stats now {:?}",
        h.stats()
    );
}

/// Seeds a 3 MiB file from a session with `seed_t`, downloads it into a session with
/// `leech_t`, checks the bytes and returns both sessions' transport counts (the leecher's as last seen with a peer).
async fn transfer(
    seed_t: Transports,
    leech_t: Transports,
) -> (engine::TransportStats, engine::TransportStats) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed").join("data.bin");
    write_random(&file, 3 * 1024 * 1024 + 1234, 11);
    let meta = make_torrent(&file, 64 * 1024);
    let seeder = session(seed_t).await;
    let seed = seeder
        .add_torrent(meta.clone(), dir.path().join("seed"), AddOptions::default())
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;
    // 1 MiB/s: the download takes ~3 s, so the once-a-second stats show the peer, and the
    // limit is seen to hold for uTP peers as for TCP ones
    seeder.set_rate_limits(1 << 20, 0);
    let leecher = session(leech_t).await;
    let leech = leecher
        .add_torrent(
            meta.clone(),
            dir.path().join("leech"),
            AddOptions::default(),
        )
        .unwrap();
    wait_state(&leech, TorrentState::Downloading, 20).await;
    leech.add_peers(vec![seeder.listen_addr()]).await;
    let started = tokio::time::Instant::now();
    // peers part once both are seeds: record what was seen during the download
    let mut seen = (leecher.transport_stats(), seeder.transport_stats());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while leech.stats().state != TorrentState::Seeding {
        assert!(
            tokio::time::Instant::now() < deadline,
            "download stalled: {:?}",
            leech.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = (leecher.transport_stats(), seeder.transport_stats());
        if now.0.peers_tcp + now.0.peers_utp > 0 {
            seen.0 = now.0;
        }
        seen.1 = now.1;
    }
    let counts = seen;
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(1500),
        "the upload limit did not hold: {took:?}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(dir.path().join("leech").join("data.bin")).unwrap()
    );
    seeder.shutdown(Duration::from_secs(2)).await;
    leecher.shutdown(Duration::from_secs(2)).await;
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utp_only_seed_to_utp_only_leecher() {
    let (leech, seed) = transfer(Transports::UTP_ONLY, Transports::UTP_ONLY).await;
    assert_eq!((leech.peers_tcp, leech.peers_utp), (0, 1), "{leech:?}");
    assert!(seed.utp.syns_accepted >= 1, "{seed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_leecher_falls_back_to_utp_when_tcp_fails() {
    // the seed's TCP port is open but it drops TCP peers, like a client that only wants uTP
    let (leech, _) = transfer(Transports::UTP_ONLY, Transports::default()).await;
    assert_eq!((leech.peers_tcp, leech.peers_utp), (0, 1), "{leech:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_leecher_uses_tcp_when_it_works() {
    let (leech, seed) = transfer(Transports::default(), Transports::default()).await;
    assert_eq!((leech.peers_tcp, leech.peers_utp), (1, 0), "{leech:?}");
    assert_eq!(seed.utp.syns_accepted, 0, "{seed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_only_leecher_cannot_reach_a_utp_only_seed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed").join("data.bin");
    write_random(&file, 100_000, 3);
    let meta = make_torrent(&file, 16 * 1024);
    let seeder = session(Transports::UTP_ONLY).await;
    let seed = seeder
        .add_torrent(meta.clone(), dir.path().join("seed"), AddOptions::default())
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;
    let leecher = session(Transports::TCP_ONLY).await;
    let leech = leecher
        .add_torrent(meta, dir.path().join("leech"), AddOptions::default())
        .unwrap();
    wait_state(&leech, TorrentState::Downloading, 20).await;
    leech.add_peers(vec![seeder.listen_addr()]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(leech.stats().pieces_have, 0);
    assert_eq!(seeder.transport_stats().utp.syns_accepted, 0);
}
