//! BEP 9 on 127.0.0.1: a session fetches a torrent's metadata from another session that
//! seeds it, and a peer whose metadata does not hash is dropped while the rest is fetched
//! from another.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use futures_util::{SinkExt, StreamExt};
use metainfo::magnet::Magnet;
use metainfo::{CreateOptions, Metainfo};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use wire::{Codec, ExtensionHandshake, Handshake, Message, MetadataMessage};

async fn session() -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

/// A multi-piece info dictionary (about 40 KiB of piece hashes: three metadata pieces).
fn make_torrent(dir: &Path) -> Arc<Metainfo> {
    let file = dir.join("big.bin");
    let mut rng = fastrand::Rng::with_seed(9);
    let data: Vec<u8> = (0..2100 * 16 * 1024).map(|_| rng.u8(..)).collect();
    std::fs::write(&file, data).unwrap();
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(16 * 1024),
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(&file, &opts, &|_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

/// A peer that speaks ut_metadata but serves garbage of the right size.
async fn liar(meta: &Metainfo) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let (hash, size) = (meta.info_hash, meta.info_bytes.len());
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let _ = wire::read_handshake(&mut s).await;
                let hs = Handshake::new(hash, metainfo::PeerId([7; 20]));
                wire::write_handshake(&mut s, &hs).await.unwrap();
                let mut f = Framed::new(s, Codec::default());
                let ours = ExtensionHandshake {
                    m: vec![("ut_metadata".into(), 3)],
                    metadata_size: Some(size as u32),
                    ..Default::default()
                };
                f.send(ours.to_message()).await.unwrap();
                let mut their_id = 0;
                while let Some(Ok(msg)) = f.next().await {
                    let Message::Extended { id, payload } = msg else {
                        continue;
                    };
                    if id == 0 {
                        let h = ExtensionHandshake::decode(&payload).unwrap();
                        their_id = h.id_of("ut_metadata").unwrap();
                        continue;
                    }
                    let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(&payload)
                    else {
                        continue;
                    };
                    let start = piece as usize * 16384;
                    let len = (size - start).min(16384);
                    count.fetch_add(1, Ordering::SeqCst);
                    let data = MetadataMessage::Data {
                        piece,
                        total_size: size as u32,
                        data: vec![0xAB; len].into(),
                    };
                    let _ = f
                        .send(Message::Extended {
                            id: their_id,
                            payload: data.encode(),
                        })
                        .await;
                }
            });
        }
    });
    (addr, served)
}

fn magnet_for(meta: &Metainfo, peers: Vec<SocketAddr>) -> Magnet {
    Magnet {
        info_hash: Some(meta.info_hash),
        name: Some("big.bin".into()),
        peers,
        ..Default::default()
    }
}

#[tokio::test]
async fn metadata_comes_from_a_seed_and_bad_metadata_drops_the_peer() {
    let dir = tempfile::tempdir().unwrap();
    let meta = make_torrent(dir.path());
    assert!(meta.info_bytes.len() > 2 * 16384, "several metadata pieces");
    let seed = session().await;
    let h = seed
        .add_torrent(
            meta.clone(),
            dir.path().to_path_buf(),
            AddOptions::default(),
        )
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    let (bad, served) = liar(&meta).await;

    let leech = session().await;
    let fetch = leech
        .fetch_metadata(magnet_for(&meta, vec![bad, seed.listen_addr()]))
        .unwrap();
    let torrent = tokio::time::timeout(Duration::from_secs(30), fetch.wait())
        .await
        .unwrap()
        .unwrap();
    let got = Metainfo::from_bytes(&torrent).unwrap();
    assert_eq!(got.info_hash, meta.info_hash);
    assert_eq!(got.info, meta.info);
    assert!(served.load(Ordering::SeqCst) > 0, "the liar was asked");

    // Only the liar: its garbage never becomes metadata, and it is counted as failed.
    let fetch = leech.fetch_metadata(magnet_for(&meta, vec![bad])).unwrap();
    let mut failed = false;
    for _ in 0..100 {
        if fetch.progress().peers_failed == 1 {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed, "the liar was dropped: {:?}", fetch.progress());
    assert!(!fetch.is_finished());
    fetch.stop();
    assert_eq!(fetch.wait().await, Err(engine::FetchError::Stopped));
}

#[tokio::test]
async fn private_torrents_do_not_hand_out_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.bin");
    std::fs::write(&file, vec![5u8; 100_000]).unwrap();
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        private: true,
        ..CreateOptions::default()
    };
    let meta = Arc::new(
        Metainfo::from_bytes(&metainfo::create_torrent(&file, &opts, &|_, _| {}).unwrap()).unwrap(),
    );
    let seed = session().await;
    seed.add_torrent(
        meta.clone(),
        dir.path().to_path_buf(),
        AddOptions::default(),
    )
    .unwrap();
    let leech = session().await;
    let fetch = leech
        .fetch_metadata(magnet_for(&meta, vec![seed.listen_addr()]))
        .unwrap();
    for _ in 0..200 {
        if fetch.progress().peers_failed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fetch.progress().peers_failed, 1);
    assert!(!fetch.is_finished());
}
