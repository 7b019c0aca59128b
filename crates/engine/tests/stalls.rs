//! The request path never waits for a timer: a leecher whose piece-buffer budget holds a single
//! piece must still download at the speed of the loopback, not one piece per peer tick.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentState};
use metainfo::{CreateOptions, Metainfo};
use tokio_util::sync::CancellationToken;

const PIECE: u32 = 16 * 1024;
const PIECES: usize = 40;

async fn session(piece_buffer_bytes: usize) -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        piece_buffer_bytes,
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

fn make_torrent(path: &Path) -> Arc<Metainfo> {
    let mut rng = fastrand::Rng::with_seed(5);
    let data: Vec<u8> = (0..PIECE as usize * PIECES).map(|_| rng.u8(..)).collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(PIECE),
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(path, &opts, &|_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

async fn wait_state(h: &TorrentHandle, want: TorrentState, secs: u64) -> bool {
    let mut rx = h.subscribe();
    tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| s.state == want))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_piece_buffer_budget_refills_when_space_frees_not_on_a_tick() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = make_torrent(&seed_dir.join("one.bin"));
    let a = session(32 << 20).await;
    let seed = a
        .add_torrent(meta.clone(), seed_dir.clone(), AddOptions::default())
        .unwrap();
    assert!(wait_state(&seed, TorrentState::Seeding, 20).await);

    // Room for one piece: every piece fills the budget, the pipeline empties, and the peer can
    // only go on once the verify job frees the buffer.
    let b = session(PIECE as usize).await;
    let leech_dir = dir.path().join("leech");
    let leech = b
        .add_torrent(meta.clone(), leech_dir.clone(), AddOptions::default())
        .unwrap();
    assert!(wait_state(&leech, TorrentState::Downloading, 20).await);
    let started = Instant::now();
    leech.add_peers(vec![a.listen_addr()]).await;
    let done = wait_state(&leech, TorrentState::Seeding, 60).await;
    let took = started.elapsed();
    assert!(done, "not complete after 60 s: {:?}", leech.stats());
    // Paced by the 1 s peer tick this takes about PIECES seconds.
    assert!(
        took < Duration::from_secs(PIECES as u64 / 4),
        "{PIECES} pieces took {took:?}: refills wait for a timer"
    );
    assert_eq!(
        std::fs::read(seed_dir.join("one.bin")).unwrap(),
        std::fs::read(leech_dir.join("one.bin")).unwrap()
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
