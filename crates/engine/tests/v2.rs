//! BitTorrent v2 and hybrid torrents (BEP 52) on the wire, against a seeding session on
//! 127.0.0.1: a hybrid answers handshakes under either 20-byte hash with the v2 bit set, hash
//! requests get the piece layer (or a reject), and a malformed one drops only that peer.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{CreateOptions, InfoHash, Metainfo, PeerId, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wire::Handshake;

const PL: u32 = 16 * 1024;

async fn seed(version: Version) -> (Session, Arc<Metainfo>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let mut rng = fastrand::Rng::with_seed(52);
    for (p, n) in [("a.bin", 200_003usize), ("one", 1), ("sub/b.bin", 50_000)] {
        std::fs::write(
            root.join(p),
            (0..n).map(|_| rng.u8(..)).collect::<Vec<u8>>(),
        )
        .unwrap();
    }
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(PL),
        version,
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(&root, &opts, &|_, _| {}).unwrap();
    let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap());
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    let session = Session::start(cfg, CancellationToken::new()).await.unwrap();
    let h = session
        .add_torrent(meta.clone(), dir.path().into(), AddOptions::default())
        .unwrap();
    let mut rx = h.subscribe();
    tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    (session, meta, dir)
}

async fn connect(session: &Session, hash: InfoHash) -> (TcpStream, Handshake) {
    let mut c = TcpStream::connect(session.listen_addr()).await.unwrap();
    let hs = Handshake::new(hash, PeerId(*b"-XX0001-v2test000000")).with_v2();
    c.write_all(&hs.encode()).await.unwrap();
    let mut theirs = [0u8; 68];
    c.read_exact(&mut theirs).await.unwrap();
    (c, Handshake::decode(&theirs).unwrap())
}

/// Reads frames until one with an id in `ids` arrives: its payload after the id, or `None`
/// when the connection closes first.
async fn frame_with(c: &mut TcpStream, ids: &[u8]) -> Option<(u8, Vec<u8>)> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let mut len = [0u8; 4];
            c.read_exact(&mut len).await.ok()?;
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            c.read_exact(&mut body).await.ok()?;
            if let Some((&id, rest)) = body.split_first()
                && ids.contains(&id)
            {
                return Some((id, rest.to_vec()));
            }
        }
    })
    .await
    .unwrap()
}

fn hash_request(root: &[u8; 32], base: u32, index: u32, length: u32, proof: u32) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&49u32.to_be_bytes());
    m.push(21);
    m.extend_from_slice(root);
    for n in [base, index, length, proof] {
        m.extend_from_slice(&n.to_be_bytes());
    }
    m
}

#[tokio::test]
async fn a_hybrid_answers_under_both_hashes_with_the_v2_bit() {
    let (session, meta, _dir) = seed(Version::Hybrid).await;
    let hashes = meta.swarm_hashes();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[1], meta.info_hash_v2.unwrap().truncated());
    for h in hashes {
        let (_c, theirs) = connect(&session, h).await;
        assert_eq!(theirs.info_hash, h, "answered under the hash asked for");
        assert!(theirs.supports_v2());
    }
    assert!(
        session
            .torrent(&meta.info_hash_v2.unwrap().truncated())
            .is_some()
    );
    session.remove_torrent(meta.info_hash).await;
    assert!(
        session
            .torrent(&meta.info_hash_v2.unwrap().truncated())
            .is_none()
    );
}

#[tokio::test]
async fn hash_requests_get_the_piece_layer_or_a_reject() {
    let (session, meta, _dir) = seed(Version::V2).await;
    assert_eq!(meta.info_hash_v1(), None);
    let v2 = meta.info.v2.clone().unwrap();
    let big = v2.files.iter().find(|f| f.layer().is_some()).unwrap();
    let layer = big.layer().unwrap().to_vec();
    let (mut c, theirs) = connect(&session, meta.info_hash).await;
    assert!(theirs.supports_v2());
    // A layer above the piece layer is not kept: rejected.
    c.write_all(&hash_request(&big.root, 2, 0, 4, 0))
        .await
        .unwrap();
    let (id, _) = frame_with(&mut c, &[22, 23]).await.unwrap();
    assert_eq!(id, 23);
    // The piece layer of a.bin (13 pieces, padded to 16), no proof.
    let piece_layer = PL.trailing_zeros() - 14;
    c.write_all(&hash_request(&big.root, piece_layer, 0, 16, 0))
        .await
        .unwrap();
    let (id, body) = frame_with(&mut c, &[22, 23]).await.unwrap();
    assert_eq!(id, 22);
    assert_eq!(&body[..32], &big.root);
    let hashes = &body[48..];
    assert_eq!(hashes.len(), 16 * 32);
    assert_eq!(&hashes[..layer.len() * 32], layer.concat().as_slice());
    // An unknown root is rejected.
    c.write_all(&hash_request(&[7; 32], piece_layer, 0, 16, 0))
        .await
        .unwrap();
    assert_eq!(frame_with(&mut c, &[22, 23]).await.unwrap().0, 23);
    // A hash request of the wrong length drops the peer, and only it.
    let mut bad = hash_request(&big.root, piece_layer, 0, 16, 0);
    bad[3] = 40;
    bad.truncate(44);
    c.write_all(&bad).await.unwrap();
    assert!(frame_with(&mut c, &[22, 23]).await.is_none());
    let (_c2, theirs) = connect(&session, meta.info_hash).await;
    assert_eq!(theirs.info_hash, meta.info_hash);
}

/// A v2-only torrent whose `.torrent` lacks its piece layers (as the metadata of a `btmh`
/// magnet does): with its data in place the check takes the layers from the data and it seeds;
/// with none, it asks a v2 peer for the layers (BEP 52 `hash request`s), proves them to the
/// files' roots, and downloads. The downloaded bytes match the seed's.
#[tokio::test]
async fn a_v2_torrent_without_piece_layers_seeds_complete_data_and_downloads_with_hash_requests() {
    let (session, meta, dir) = seed(Version::V2).await;
    // The same info dictionary without `piece layers`.
    let bare = [&b"d4:info"[..], &meta.info_bytes.to_vec(), b"e"].concat();
    let bare = Arc::new(Metainfo::from_bytes(&bare).unwrap());
    assert_eq!(bare.info_hash, meta.info_hash);
    let v2 = bare.info.v2.as_ref().unwrap();
    assert!(v2.files.iter().any(|f| f.needs_layer()));
    // In place: seeds (a second session on the same data).
    let cfg = || SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    let other = Session::start(cfg(), CancellationToken::new())
        .await
        .unwrap();
    let in_place = Arc::new(
        Metainfo::from_bytes(&[&b"d4:info"[..], &meta.info_bytes.to_vec(), b"e"].concat()).unwrap(),
    );
    let mut rx = other
        .add_torrent(in_place.clone(), dir.path().into(), AddOptions::default())
        .unwrap()
        .subscribe();
    tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .unwrap()
    .unwrap();
    let layers = in_place.info.v2.as_ref().unwrap();
    assert!(
        layers.files.iter().all(|f| !f.needs_layer()),
        "the check learnt the layers"
    );
    // Empty: downloads from the seed, with the layers from it.
    let empty = tempfile::tempdir().unwrap();
    let leech = Session::start(cfg(), CancellationToken::new())
        .await
        .unwrap();
    let h = leech
        .add_torrent(bare.clone(), empty.path().into(), AddOptions::default())
        .unwrap();
    let mut rx = h.subscribe();
    h.add_peers(vec![session.listen_addr()]).await;
    tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|s| s.state == TorrentState::Seeding),
    )
    .await
    .expect("downloaded in time")
    .unwrap();
    assert!(v2.files.iter().all(|f| !f.needs_layer()));
    for p in ["a.bin", "one", "sub/b.bin"] {
        let want = std::fs::read(dir.path().join("t").join(p)).unwrap();
        let got = std::fs::read(empty.path().join("t").join(p)).unwrap();
        assert!(want == got, "{p} differs");
    }
}
