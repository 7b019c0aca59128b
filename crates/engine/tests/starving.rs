//! A download with too few peers asks its tracker again soon: a leecher that announced before
//! its seed existed still finds it quickly instead of waiting the tracker's 30-minute interval.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{CreateOptions, Metainfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// An HTTP tracker that only ever lists seeds (`left=0`), with a 30-minute interval and no
/// `min interval`; it counts the announces of leechers.
async fn seeds_only_tracker() -> (String, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let seeds: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let leecher_announces: Arc<Mutex<u32>> = Arc::default();
    let count = leecher_announces.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let query = req.split_whitespace().nth(1).unwrap_or("").to_owned();
            let param = |k: &str| {
                query
                    .split(['?', '&'])
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .map(str::to_owned)
            };
            let port: u16 = param("port").and_then(|p| p.parse().ok()).unwrap_or(0);
            let left: u64 = param("left").and_then(|p| p.parse().ok()).unwrap_or(1);
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut peers = Vec::new();
            {
                let mut seeds = seeds.lock().unwrap();
                if left == 0 {
                    if !seeds.contains(&addr) {
                        seeds.push(addr);
                    }
                } else {
                    *count.lock().unwrap() += 1;
                    for a in seeds.iter() {
                        if let SocketAddr::V4(v4) = a {
                            peers.extend_from_slice(&v4.ip().octets());
                            peers.extend_from_slice(&v4.port().to_be_bytes());
                        }
                    }
                }
            }
            let mut body = format!("d8:intervali1800e5:peers{}:", peers.len()).into_bytes();
            body.extend_from_slice(&peers);
            body.push(b'e');
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        }
    });
    (url, leecher_announces)
}

async fn session() -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        starving_reannounce: Duration::from_secs(1),
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leecher_that_announced_before_its_seed_finds_it_soon() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let file = seed_dir.join("data.bin");
    let mut rng = fastrand::Rng::with_seed(3);
    let data: Vec<u8> = (0..1_000_000).map(|_| rng.u8(..)).collect();
    std::fs::write(&file, &data).unwrap();
    let (url, leecher_announces) = seeds_only_tracker().await;
    let opts = CreateOptions {
        announce: url,
        ..CreateOptions::default()
    };
    let meta = Arc::new(
        Metainfo::from_bytes(&metainfo::create_torrent(&file, &opts, &|_, _| {}).unwrap()).unwrap(),
    );

    // The leecher first: its `started` announce finds nobody.
    let leech_dir = dir.path().join("leech");
    let leecher = session().await;
    let lh = leecher
        .add_torrent(meta.clone(), leech_dir.clone(), AddOptions::default())
        .unwrap();
    let mut rx = lh.subscribe();
    tokio::time::timeout(Duration::from_secs(20), async {
        while *leecher_announces.lock().unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();

    let seeder = session().await;
    seeder
        .add_torrent(meta.clone(), seed_dir, AddOptions::default())
        .unwrap();
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await;
    assert!(
        done.is_ok(),
        "leecher never found the seed: {:?}",
        lh.stats()
    );
    assert!(*leecher_announces.lock().unwrap() >= 2, "it asked again");
    let got = std::fs::read(leech_dir.join("data.bin")).unwrap();
    assert_eq!(storage::sha1(&got), storage::sha1(&data));
}
