//! Web seeds against a real nginx (and a hostile HTTP server): torrents whose only sources are
//! HTTP servers download completely and correctly; bad web seeds are banned, dropped or backed
//! off without stopping the download.

#![allow(clippy::unwrap_used)]

#[path = "webseed/hostile.rs"]
mod hostile;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentState, WebSeedStats};
use metainfo::{CreateOptions, Metainfo};
use tokio_util::sync::CancellationToken;

use self::hostile::Misbehaviour;
use btmirror_e2e::nginx::{self, Nginx};

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn make_torrent(path: &Path, piece: u32, web_seeds: Vec<String>) -> Arc<Metainfo> {
    let opts = CreateOptions {
        piece_length: Some(piece),
        web_seeds,
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(path, &opts, &|_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

async fn session(timeout: Duration) -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_seed_timeout: timeout,
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

/// Waits until the torrent seeds (download complete, verified, synced).
async fn wait_complete(h: &TorrentHandle, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let s = h.stats();
        if s.state == TorrentState::Seeding {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not complete after {secs} s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seed<'a>(stats: &'a [WebSeedStats], needle: &str) -> &'a WebSeedStats {
    stats.iter().find(|w| w.url.contains(needle)).unwrap()
}

/// Downloads `meta` into a fresh directory from web seeds only and checks every file.
async fn download(
    meta: &Arc<Metainfo>,
    source_root: &Path,
    extra: Vec<String>,
    timeout: Duration,
) -> (Session, TorrentHandle) {
    let out = tempfile::tempdir().unwrap();
    let s = session(timeout).await;
    let opts = AddOptions {
        extra_web_seeds: extra,
        ..AddOptions::default()
    };
    let h = s
        .add_torrent(meta.clone(), out.path().to_path_buf(), opts)
        .unwrap();
    wait_complete(&h, 60).await;
    for f in &meta.info.files {
        let got = std::fs::read(out.path().join(&f.path)).unwrap();
        let want = std::fs::read(source_root.join(&f.path)).unwrap();
        assert!(got == want, "{} differs", f.path.display());
    }
    let stats = h.stats();
    assert_eq!(stats.peers, 0, "no peer took part");
    assert!(stats.downloaded >= meta.info.total_length);
    (s, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_file_comes_from_its_url_list() {
    if !nginx::available() {
        return;
    }
    let www = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let good = www.path().join("pub");
    write(&good.join("disk image.iso"), &random(3 << 20 | 12345, 1));
    let server = Nginx::start(www.path(), conf.path()).unwrap();
    // A plain file URL in the torrent, a relative one (skipped), and a directory one of the
    // operator's (the name is appended, percent-encoded).
    let url = server.url("/pub/disk%20image.iso");
    let meta = make_torrent(
        &good.join("disk image.iso"),
        64 << 10,
        vec![url.clone(), "/download/item/disk image.iso".into()],
    );
    let (_s, h) = download(
        &meta,
        &good,
        vec![server.url("/pub/")],
        Duration::from_secs(30),
    )
    .await;
    let stats = h.stats();
    assert_eq!(stats.web_seeds.len(), 2, "{:?}", stats.web_seeds);
    let total: u64 = stats.web_seeds.iter().map(|w| w.downloaded).sum();
    assert!(total >= meta.info.total_length);
    assert!(
        stats.web_seeds.iter().all(|w| w.error.is_none()),
        "{:?}",
        stats.web_seeds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_file_torrent_with_pad_free_files_maps_ranges_onto_files() {
    if !nginx::available() {
        return;
    }
    let www = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let root = www.path().join("mirror");
    let tree = root.join("my tree");
    write(&tree.join("a/first.bin"), &random(700_001, 2));
    write(&tree.join("a/empty"), b"");
    write(&tree.join("b & c.bin"), &random(1_300_007, 3));
    write(&tree.join("z/last.bin"), &random(99, 4));
    let server = Nginx::start(www.path(), conf.path()).unwrap();
    let meta = make_torrent(&tree, 32 << 10, vec![server.url("/mirror")]);
    assert!(meta.info.multi_file);
    download(&meta, &root, Vec::new(), Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_missing_and_closed_web_seeds_do_not_stop_a_download() {
    if !nginx::available() {
        return;
    }
    let www = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = random(16 << 20, 5);
    write(&www.path().join("good/f.bin"), &data);
    let mut bad = data.clone();
    for b in bad.iter_mut().step_by(4096) {
        *b ^= 0xff;
    }
    write(&www.path().join("corrupt/f.bin"), &bad);
    let server = Nginx::start(www.path(), conf.path()).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let meta = make_torrent(&www.path().join("good/f.bin"), 512 << 10, Vec::new());
    let extra = vec![
        server.url("/corrupt/"),
        server.url("/missing/"),
        format!("http://127.0.0.1:{closed_port}/"),
        server.url("/good/"),
    ];
    let (_s, h) = download(
        &meta,
        &www.path().join("good"),
        extra,
        Duration::from_secs(30),
    )
    .await;
    let stats = h.stats();
    let w = &stats.web_seeds;
    assert_eq!(seed(w, "/corrupt/").state, "banned", "{w:?}");
    assert!(stats.hash_failures >= 3);
    assert_eq!(seed(w, "/missing/").state, "dropped", "{w:?}");
    assert!(
        seed(w, "/missing/")
            .error
            .as_deref()
            .unwrap()
            .contains("404")
    );
    let closed = seed(w, &format!(":{closed_port}/"));
    assert_eq!(closed.state, "backoff", "{w:?}");
    assert!(closed.retry_in.is_some());
    assert!(seed(w, "/good/").downloaded >= meta.info.total_length / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longer_bodies_wrong_ranges_and_stalls_fail_cleanly() {
    if !nginx::available() {
        return;
    }
    let www = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let data = Arc::new(random(4 << 20, 6));
    write(&www.path().join("good/f.bin"), &data);
    let server = Nginx::start(www.path(), conf.path()).unwrap();
    let meta = make_torrent(&www.path().join("good/f.bin"), 256 << 10, Vec::new());
    let hostile = |how| {
        format!(
            "http://127.0.0.1:{}/f.bin",
            hostile::start(data.clone(), how)
        )
    };
    let long = hostile(Misbehaviour::LongerBody);
    let range = hostile(Misbehaviour::WrongContentRange);
    let stall = hostile(Misbehaviour::Stall);
    let extra = vec![
        long.clone(),
        range.clone(),
        stall.clone(),
        server.url("/good/"),
    ];
    let (_s, h) = download(
        &meta,
        &www.path().join("good"),
        extra,
        Duration::from_secs(2),
    )
    .await;
    let stats = h.stats();
    let w = &stats.web_seeds;
    let error = |url: &str| seed(w, url).error.clone().unwrap_or_default();
    assert!(error(&long).contains("bytes where"), "{w:?}");
    assert!(error(&range).contains("Content-Range"), "{w:?}");
    assert_eq!(
        stats.hash_failures, 0,
        "bad answers never reach the hash check"
    );
    // The stalled one may still be waiting when the good one finished.
    let s = seed(w, &stall);
    assert!(
        s.state == "active" || error(&stall).contains("no data"),
        "{w:?}"
    );
}
