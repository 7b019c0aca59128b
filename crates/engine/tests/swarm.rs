//! In-process swarms on 127.0.0.1: sessions of our own engine trading real data over TCP.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentState};
use metainfo::{CreateOptions, Metainfo};
use tokio_util::sync::CancellationToken;

fn write_random(path: &Path, len: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
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

async fn session() -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

/// A session seeding one generated file, `dir/seed/NAME`.
struct Seeded {
    session: Session,
    handle: TorrentHandle,
    meta: Arc<Metainfo>,
    file: PathBuf,
}

async fn seed_file(dir: &Path, name: &str, len: usize, piece: u32, rng_seed: u64) -> Seeded {
    let seed_dir = dir.join("seed");
    let file = seed_dir.join(name);
    write_random(&file, len, rng_seed);
    let meta = make_torrent(&file, piece);
    let session = session().await;
    let handle = session
        .add_torrent(meta.clone(), seed_dir, AddOptions::default())
        .unwrap();
    wait_state(&handle, TorrentState::Seeding, 20).await;
    Seeded {
        session,
        handle,
        meta,
        file,
    }
}

/// A leecher session for `meta` with its data in `data_dir`, told to dial `peer`.
async fn leech(
    meta: &Arc<Metainfo>,
    data_dir: PathBuf,
    peer: SocketAddr,
) -> (Session, TorrentHandle) {
    let session = session().await;
    let handle = session
        .add_torrent(meta.clone(), data_dir, AddOptions::default())
        .unwrap();
    wait_state(&handle, TorrentState::Downloading, 20).await;
    handle.add_peers(vec![peer]).await;
    (session, handle)
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

fn same_tree(a: &Path, b: &Path) {
    if a.is_file() {
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "{} differs",
            b.display()
        );
        return;
    }
    for entry in walk(a) {
        let rel = entry.strip_prefix(a).unwrap();
        let other = b.join(rel);
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            std::fs::read(&other).unwrap(),
            "{}",
            rel.display()
        );
    }
}

fn walk(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        out.extend(walk(&e.unwrap().path()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_file_seed_to_leecher() {
    let dir = tempfile::tempdir().unwrap();
    let leech_dir = dir.path().join("leech");
    let Seeded {
        session: a,
        handle: seed,
        meta,
        file,
    } = seed_file(
        dir.path(),
        "data.bin",
        3 * 1024 * 1024 + 12345,
        64 * 1024,
        1,
    )
    .await;
    let (b, leech) = leech(&meta, leech_dir.clone(), a.listen_addr()).await;
    wait_state(&leech, TorrentState::Seeding, 60).await;
    same_tree(&file, &leech_dir.join("data.bin"));
    assert!(seed.transferred().0 >= meta.info.total_length);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    assert!(seed.is_finished() && leech.is_finished());
}

/// A v1 torrent of `data` in pieces of `piece` bytes, bencoded by hand (`btmirror make` only
/// writes powers of two; old clients wrote any length).
fn odd_piece_torrent(name: &str, data: &[u8], piece: usize) -> Arc<Metainfo> {
    use sha1::Digest as _;
    let announce = "http://127.0.0.1:1/announce";
    let mut pieces = Vec::new();
    for chunk in data.chunks(piece) {
        pieces.extend_from_slice(&sha1::Sha1::digest(chunk));
    }
    let mut b = format!(
        "d8:announce{}:{announce}4:infod6:lengthi{}e4:name{}:{name}12:piece lengthi{piece}e6:pieces{}:",
        announce.len(),
        data.len(),
        name.len(),
        pieces.len()
    )
    .into_bytes();
    b.extend_from_slice(&pieces);
    b.extend_from_slice(b"ee");
    Arc::new(Metainfo::from_bytes(&b).unwrap())
}

/// Pieces that are no power of two and no multiple of the 16 KiB block (every piece ends in a
/// short block) are checked, served and downloaded like any others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piece_length_that_is_no_power_of_two_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed").join("odd.bin");
    write_random(&file, 2_000_003, 7);
    let data = std::fs::read(&file).unwrap();
    let meta = odd_piece_torrent("odd.bin", &data, 3 * 16384 + 5);
    assert_eq!(meta.info.piece_length, 49_157);
    let a = session().await;
    let seed = a
        .add_torrent(meta.clone(), dir.path().join("seed"), AddOptions::default())
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;
    let leech_dir = dir.path().join("leech");
    let (b, leech) = leech(&meta, leech_dir.clone(), a.listen_addr()).await;
    wait_state(&leech, TorrentState::Seeding, 60).await;
    same_tree(&file, &leech_dir.join("odd.bin"));
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_file_to_three_leechers_that_trade() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let root = seed_dir.join("tree");
    let sizes = [
        1usize,
        0,
        100_000,
        3 * 1024 * 1024 + 17,
        32 * 1024,
        5,
        777_777,
    ];
    for (i, len) in sizes.iter().enumerate() {
        write_random(&root.join(format!("d{}/f{i}", i % 3)), *len, i as u64 + 10);
    }
    let meta = make_torrent(&root, 32 * 1024);
    let a = session().await;
    let seed = a
        .add_torrent(meta.clone(), seed_dir.clone(), AddOptions::default())
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;

    let mut leechers = Vec::new();
    for i in 0..3 {
        let s = session().await;
        let d = dir.path().join(format!("leech{i}"));
        let h = s
            .add_torrent(meta.clone(), d.clone(), AddOptions::default())
            .unwrap();
        leechers.push((s, h, d));
    }
    let addrs: Vec<_> = std::iter::once(a.listen_addr())
        .chain(leechers.iter().map(|(s, _, _)| s.listen_addr()))
        .collect();
    for (_, h, _) in &leechers {
        wait_state(h, TorrentState::Downloading, 20).await;
        h.add_peers(addrs.clone()).await;
    }
    for (_, h, d) in &leechers {
        wait_state(h, TorrentState::Seeding, 90).await;
        same_tree(&root, &d.join("tree"));
    }
    for (s, _, _) in &leechers {
        s.shutdown(Duration::from_secs(5)).await;
    }
    a.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_data_is_completed_and_nothing_good_is_downloaded_again() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let leech_dir = dir.path().join("leech");
    let file = seed_dir.join("p.bin");
    write_random(&file, 2 * 1024 * 1024, 5);
    let meta = make_torrent(&file, 256 * 1024);
    // The leecher already has the first half.
    let data = std::fs::read(&file).unwrap();
    std::fs::create_dir_all(&leech_dir).unwrap();
    let mut half = data.clone();
    for b in &mut half[1024 * 1024..] {
        *b = 0;
    }
    std::fs::write(leech_dir.join("p.bin"), &half).unwrap();

    let a = session().await;
    let b = session().await;
    let seed = a
        .add_torrent(meta.clone(), seed_dir, AddOptions::default())
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;
    let leech = b
        .add_torrent(meta.clone(), leech_dir.clone(), AddOptions::default())
        .unwrap();
    wait_state(&leech, TorrentState::Downloading, 20).await;
    assert_eq!(leech.stats().pieces_have, 4);
    leech.add_peers(vec![a.listen_addr()]).await;
    wait_state(&leech, TorrentState::Seeding, 60).await;
    assert_eq!(std::fs::read(leech_dir.join("p.bin")).unwrap(), data);
    let got = leech.stats().downloaded;
    assert!(
        got <= 1024 * 1024 + 256 * 1024,
        "downloaded {got} bytes for a 1 MiB gap"
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_torrent_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let leech_dir = dir.path().join("leech");
    let Seeded {
        session: a, meta, ..
    } = seed_file(dir.path(), "big.bin", 1024 * 1024, 64 * 1024, 8).await;
    // The leecher's data file is /dev/full: every write fails with ENOSPC.
    std::fs::create_dir_all(&leech_dir).unwrap();
    std::os::unix::fs::symlink("/dev/full", leech_dir.join("big.bin")).unwrap();
    let (b, leech) = leech(&meta, leech_dir, a.listen_addr()).await;
    wait_state(&leech, TorrentState::Error, 30).await;
    let err = leech.stats().error.unwrap_or_default();
    assert!(
        err.contains("space"),
        "error should say the disk is full: {err:?}"
    );
    assert_eq!(
        leech.have().count(),
        0,
        "no piece counts as present after a failed write"
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

async fn session_with_pex(interval: Duration) -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        pex_interval: interval,
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

/// A seeds; B and C only know A. Returns how many peers B and C end up with.
async fn pex_swarm(private: bool) -> (u32, u32) {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let file = seed_dir.join("pex.bin");
    write_random(&file, 4 * 1024 * 1024, 11);
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(64 * 1024),
        private,
        ..CreateOptions::default()
    };
    let meta = Arc::new(
        Metainfo::from_bytes(&metainfo::create_torrent(&file, &opts, &|_, _| {}).unwrap()).unwrap(),
    );
    let a = session_with_pex(Duration::from_secs(1)).await;
    // A slow seed, so the leechers are still downloading when PEX runs.
    let seed = a
        .add_torrent(
            meta.clone(),
            seed_dir,
            AddOptions {
                max_upload_rate: 256 * 1024,
                ..AddOptions::default()
            },
        )
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;
    let b = session_with_pex(Duration::from_secs(1)).await;
    let c = session_with_pex(Duration::from_secs(1)).await;
    let hb = b
        .add_torrent(meta.clone(), dir.path().join("b"), AddOptions::default())
        .unwrap();
    let hc = c
        .add_torrent(meta.clone(), dir.path().join("c"), AddOptions::default())
        .unwrap();
    for h in [&hb, &hc] {
        wait_state(h, TorrentState::Downloading, 20).await;
        h.add_peers(vec![a.listen_addr()]).await;
    }
    // Stats are published once a second; B and C must each see two peers at some point.
    let mut peers = (0, 0);
    for (h, n) in [(&hb, &mut peers.0), (&hc, &mut peers.1)] {
        let mut rx = h.subscribe();
        let r = tokio::time::timeout(Duration::from_secs(6), rx.wait_for(|s| s.peers >= 2)).await;
        *n = if r.is_ok() { 2 } else { h.stats().peers };
    }
    for s in [&a, &b, &c] {
        s.shutdown(Duration::from_secs(5)).await;
    }
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_exchange_introduces_leechers_to_each_other() {
    if std::env::var_os("ENGINE_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    let (b, c) = pex_swarm(false).await;
    assert_eq!((b, c), (2, 2), "B and C learn of each other through A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_torrents_do_not_exchange_peers() {
    let (b, c) = pex_swarm(true).await;
    assert_eq!((b, c), (1, 1), "BEP 27: peers only from the tracker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_seed_serves_ipv4_and_ipv6_peers() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let file = seed_dir.join("ds.bin");
    write_random(&file, 1024 * 1024, 21);
    let meta = make_torrent(&file, 64 * 1024);
    let cfg = SessionConfig {
        listen: "[::]:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    let a = Session::start(cfg, CancellationToken::new()).await.unwrap();
    let seed = a
        .add_torrent(meta.clone(), seed_dir, AddOptions::default())
        .unwrap();
    wait_state(&seed, TorrentState::Seeding, 20).await;
    let port = a.listen_addr().port();
    let ipv6 = a.listen_addr().is_ipv6();
    let mut targets = vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))];
    if ipv6 {
        targets.push(std::net::SocketAddr::from((
            std::net::Ipv6Addr::LOCALHOST,
            port,
        )));
    } else {
        eprintln!("no IPv6 on this machine: only the IPv4 half is tested");
    }
    for (i, target) in targets.into_iter().enumerate() {
        let b = session().await;
        let d = dir.path().join(format!("leech{i}"));
        let h = b
            .add_torrent(meta.clone(), d.clone(), AddOptions::default())
            .unwrap();
        wait_state(&h, TorrentState::Downloading, 20).await;
        h.add_peers(vec![target]).await;
        wait_state(&h, TorrentState::Seeding, 60).await;
        same_tree(&file, &d.join("ds.bin"));
        b.shutdown(Duration::from_secs(5)).await;
    }
    a.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_whose_data_vanishes_stops_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let Seeded {
        session: a,
        handle: seed,
        meta,
        file,
    } = seed_file(dir.path(), "gone.bin", 1024 * 1024, 64 * 1024, 31).await;
    // Someone truncates the file after the check.
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let (b, _leech) = leech(&meta, dir.path().join("leech"), a.listen_addr()).await;
    wait_state(&seed, TorrentState::Error, 30).await;
    let err = seed.stats().error.unwrap_or_default();
    assert!(
        err.contains("gone.bin"),
        "the error names the file: {err:?}"
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
