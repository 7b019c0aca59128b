//! Hostile peers against a seeding session on 127.0.0.1: garbage, oversized messages, bad
//! requests and request floods get the connection dropped, and the session keeps serving.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{CreateOptions, Metainfo, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wire::Handshake;

struct Seed {
    session: Session,
    meta: Arc<Metainfo>,
    _dir: tempfile::TempDir,
}

async fn seed() -> Seed {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bin");
    let mut rng = fastrand::Rng::with_seed(3);
    std::fs::write(&file, (0..300_000).map(|_| rng.u8(..)).collect::<Vec<u8>>()).unwrap();
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(32 * 1024),
        ..CreateOptions::default()
    };
    let meta = Arc::new(
        Metainfo::from_bytes(&metainfo::create_torrent(&file, &opts, &|_, _| {}).unwrap()).unwrap(),
    );
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    let session = Session::start(cfg, CancellationToken::new()).await.unwrap();
    let h = session
        .add_torrent(
            meta.clone(),
            dir.path().to_path_buf(),
            AddOptions::default(),
        )
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    Seed {
        session,
        meta,
        _dir: dir,
    }
}

async fn connect(s: &Seed) -> TcpStream {
    let mut c = TcpStream::connect(s.session.listen_addr()).await.unwrap();
    let hs = Handshake::new(s.meta.info_hash, PeerId(*b"-XX0001-hostile00000"));
    c.write_all(&hs.encode()).await.unwrap();
    let mut theirs = [0u8; 68];
    c.read_exact(&mut theirs).await.unwrap();
    c
}

/// Reads until the seed closes the connection; panics if it stays open.
async fn expect_closed(mut c: TcpStream) {
    let mut buf = vec![0u8; 65536];
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "the seed kept a hostile connection open");
}

/// A well-behaved download of piece 0 still works.
async fn still_serves(s: &Seed) {
    let mut c = connect(s).await;
    // interested, then wait for unchoke, then request the first block.
    c.write_all(&[0, 0, 0, 1, 2]).await.unwrap();
    let mut got_unchoke = false;
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, c.read(&mut chunk))
            .await
            .expect("seed went silent")
            .unwrap();
        assert!(n > 0, "seed closed an honest connection");
        buf.extend_from_slice(&chunk[..n]);
        while buf.len() >= 4 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if buf.len() < 4 + len {
                break;
            }
            let id = buf.get(4).copied();
            if len > 0 && id == Some(1) && !got_unchoke {
                got_unchoke = true;
                let mut req = vec![0, 0, 0, 13, 6];
                req.extend_from_slice(&0u32.to_be_bytes());
                req.extend_from_slice(&0u32.to_be_bytes());
                req.extend_from_slice(&16384u32.to_be_bytes());
                c.write_all(&req).await.unwrap();
            }
            if len == 9 + 16384 && id == Some(7) {
                return;
            }
            buf.drain(..4 + len);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_handshake_is_dropped() {
    let s = seed().await;
    let mut c = connect(&s).await;
    c.write_all(&[0, 0, 0, 3, 99, 1, 2]).await.unwrap();
    expect_closed(c).await;
    still_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4_gib_message_length_is_refused_not_obeyed() {
    let s = seed().await;
    let mut c = connect(&s).await;
    c.write_all(&[0xff, 0xff, 0xff, 0xff, 7]).await.unwrap();
    expect_closed(c).await;
    still_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_outside_the_torrent_or_too_large_are_dropped() {
    let s = seed().await;
    for (index, begin, length) in [
        (0u32, 0u32, 65536u32),
        (999, 0, 16384),
        (9, 16000, 16384),
        (0, u32::MAX, 16384),
    ] {
        let mut c = connect(&s).await;
        let mut req = vec![0, 0, 0, 13, 6];
        req.extend_from_slice(&index.to_be_bytes());
        req.extend_from_slice(&begin.to_be_bytes());
        req.extend_from_slice(&length.to_be_bytes());
        c.write_all(&req).await.unwrap();
        expect_closed(c).await;
    }
    still_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bitfield_and_a_silent_handshake_do_not_hurt() {
    let s = seed().await;
    let mut c = connect(&s).await;
    // 10 pieces need a 2-byte bitfield; send 5 bytes.
    c.write_all(&[0, 0, 0, 6, 5, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    expect_closed(c).await;
    // A connection that never completes its handshake, and one for an unknown torrent.
    let _silent = TcpStream::connect(s.session.listen_addr()).await.unwrap();
    let mut unknown = TcpStream::connect(s.session.listen_addr()).await.unwrap();
    unknown
        .write_all(&Handshake::new(metainfo::InfoHash([9; 20]), PeerId([1; 20])).encode())
        .await
        .unwrap();
    expect_closed(unknown).await;
    still_serves(&s).await;
}
