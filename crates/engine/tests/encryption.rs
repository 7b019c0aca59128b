//! MSE/PE between sessions of our own engine on 127.0.0.1, under every pairing of policies that
//! matters, and hostile MSE input against a seed: each transfer is checked byte for byte, each
//! pairing by the counters of how the connection was set up.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::{
    AddOptions, EncryptionPolicy, Session, SessionConfig, TorrentHandle, TorrentState, Transports,
};
use metainfo::{CreateOptions, InfoHash, Metainfo, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wire::Handshake;
use wire::mse::{CryptoMethods, Initiator};

const LEN: usize = 1024 * 1024 + 777;

fn make_torrent(path: &Path) -> Arc<Metainfo> {
    let mut rng = fastrand::Rng::with_seed(7);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, (0..LEN).map(|_| rng.u8(..)).collect::<Vec<u8>>()).unwrap();
    let opts = CreateOptions {
        announce: "http://127.0.0.1:1/announce".into(),
        piece_length: Some(64 * 1024),
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(path, &opts, &|_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

async fn session(encryption: EncryptionPolicy) -> Session {
    session_over(encryption, Transports::default()).await
}

async fn session_over(encryption: EncryptionPolicy, transports: Transports) -> Session {
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        encryption,
        transports,
        ..SessionConfig::default()
    };
    Session::start(cfg, CancellationToken::new()).await.unwrap()
}

async fn wait_state(h: &TorrentHandle, want: TorrentState, secs: u64) -> bool {
    let mut rx = h.subscribe();
    tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| s.state == want))
        .await
        .is_ok()
}

/// A seed under `seed_policy` and a leecher under `leech_policy` that dials it; returns both
/// sessions after the leecher finished (or `secs` passed) and whether it finished.
async fn transfer(
    seed_policy: EncryptionPolicy,
    leech_policy: EncryptionPolicy,
    secs: u64,
) -> (Session, Session, bool) {
    transfer_over(seed_policy, leech_policy, Transports::default(), secs).await
}

/// [`transfer`] with both sessions on `transports`.
async fn transfer_over(
    seed_policy: EncryptionPolicy,
    leech_policy: EncryptionPolicy,
    transports: Transports,
    secs: u64,
) -> (Session, Session, bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed/data.bin");
    let meta = make_torrent(&file);
    let a = session_over(seed_policy, transports).await;
    let seed = a
        .add_torrent(meta.clone(), dir.path().join("seed"), AddOptions::default())
        .unwrap();
    assert!(wait_state(&seed, TorrentState::Seeding, 20).await);
    let b = session_over(leech_policy, transports).await;
    let leech_dir = dir.path().join("leech");
    let leech = b
        .add_torrent(meta.clone(), leech_dir.clone(), AddOptions::default())
        .unwrap();
    assert!(wait_state(&leech, TorrentState::Downloading, 20).await);
    leech.add_peers(vec![a.listen_addr()]).await;
    let done = wait_state(&leech, TorrentState::Seeding, secs).await;
    if done {
        assert!(
            std::fs::read(&file).unwrap() == std::fs::read(leech_dir.join("data.bin")).unwrap()
        );
    }
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    (a, b, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_to_require_is_rc4_both_ways() {
    let (seed, leech, done) =
        transfer(EncryptionPolicy::Require, EncryptionPolicy::Require, 60).await;
    assert!(done);
    let (s, l) = (seed.encryption_counters(), leech.encryption_counters());
    assert!(
        s.incoming_encrypted >= 1 && s.incoming_plaintext == 0,
        "{s:?}"
    );
    assert!(
        l.outgoing_encrypted >= 1 && l.outgoing_plaintext == 0,
        "{l:?}"
    );
}

/// MSE runs over uTP as over TCP: both sessions uTP only, RC4 required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_to_require_over_utp_is_rc4_both_ways() {
    let (seed, leech, done) = transfer_over(
        EncryptionPolicy::Require,
        EncryptionPolicy::Require,
        Transports::UTP_ONLY,
        60,
    )
    .await;
    assert!(done);
    let (s, l) = (seed.encryption_counters(), leech.encryption_counters());
    assert!(
        s.incoming_encrypted >= 1 && s.incoming_plaintext == 0,
        "{s:?}"
    );
    assert!(
        l.outgoing_encrypted >= 1 && l.outgoing_plaintext == 0,
        "{l:?}"
    );
    let t = seed.transport_stats();
    assert!(t.utp.syns_accepted >= 1, "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_dials_mse_and_falls_back_to_plaintext_when_the_peer_disables_it() {
    let (seed, leech, done) =
        transfer(EncryptionPolicy::Disable, EncryptionPolicy::Prefer, 60).await;
    assert!(done);
    let (s, l) = (seed.encryption_counters(), leech.encryption_counters());
    assert!(
        s.incoming_refused >= 1 && s.incoming_plaintext >= 1,
        "{s:?}"
    );
    assert!(
        l.outgoing_retries >= 1 && l.outgoing_plaintext >= 1,
        "{l:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_dials_plaintext_and_retries_with_mse_when_the_peer_requires_it() {
    let (seed, leech, done) =
        transfer(EncryptionPolicy::Require, EncryptionPolicy::Allow, 60).await;
    assert!(done);
    let (s, l) = (seed.encryption_counters(), leech.encryption_counters());
    assert!(
        s.incoming_refused >= 1 && s.incoming_encrypted >= 1,
        "{s:?}"
    );
    assert!(
        l.outgoing_retries >= 1 && l.outgoing_encrypted >= 1,
        "{l:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_to_prefer_obfuscates_only_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed/data.bin");
    let meta = make_torrent(&file);
    let a = session(EncryptionPolicy::Prefer).await;
    let seed = a
        .add_torrent(meta.clone(), dir.path().join("seed"), AddOptions::default())
        .unwrap();
    assert!(wait_state(&seed, TorrentState::Seeding, 20).await);
    // A peer that never finishes, so the connection stays up to be counted.
    let b = session(EncryptionPolicy::Prefer).await;
    let leech = b
        .add_torrent(
            meta.clone(),
            dir.path().join("leech"),
            AddOptions::default(),
        )
        .unwrap();
    assert!(wait_state(&leech, TorrentState::Downloading, 20).await);
    b.set_rate_limits(0, 16 * 1024);
    leech.add_peers(vec![a.listen_addr()]).await;
    let mut rx = leech.subscribe();
    let seen = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| s.peers == 1))
        .await
        .is_ok();
    assert!(seen, "{:?}", leech.stats());
    let st = leech.stats();
    assert_eq!(
        (st.peers_encrypted, st.peers_rc4, st.peers_plaintext),
        (1, 0, 0)
    );
    assert_eq!(b.encryption_counters().outgoing_encrypted, 1);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_refuses_a_plaintext_only_peer() {
    let (seed, leech, done) =
        transfer(EncryptionPolicy::Require, EncryptionPolicy::Disable, 4).await;
    assert!(!done);
    assert!(seed.encryption_counters().incoming_refused >= 1);
    assert_eq!(leech.encryption_counters().outgoing_plaintext, 0);
}

/// Expects the seed to close `c` within the handshake timeout (10 s) and some slack.
async fn expect_closed(mut c: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let r = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "connection stayed open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mse_input_is_dropped_counted_and_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed/data.bin");
    let meta = make_torrent(&file);
    let a = session(EncryptionPolicy::Prefer).await;
    let seed = a
        .add_torrent(meta.clone(), dir.path().join("seed"), AddOptions::default())
        .unwrap();
    assert!(wait_state(&seed, TorrentState::Seeding, 20).await);
    let addr = a.listen_addr();
    let mut rng = fastrand::Rng::with_seed(9);

    // A key, then garbage past the padding window: no synchronisation hash.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    let junk: Vec<u8> = (0..96 + 2000).map(|_| rng.u8(..)).collect();
    garbage.write_all(&junk).await.unwrap();
    // A key and then nothing at all: the handshake timeout.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let key: Vec<u8> = (0..96).map(|_| rng.u8(..)).collect();
    silent.write_all(&key).await.unwrap();
    // A proper MSE handshake for a torrent the seed does not have.
    let mut unknown = TcpStream::connect(addr).await.unwrap();
    let hs = Handshake::new(InfoHash([0x55; 20]), PeerId(*b"-XX0001-hostile00000"));
    let mut init = Initiator::new(
        hs.info_hash,
        CryptoMethods::BOTH,
        &hs.encode(),
        &mut ring::rand::SystemRandom::new(),
    )
    .unwrap();
    unknown.write_all(&init.take_output()).await.unwrap();

    let (g, s, u) = tokio::join!(expect_closed(garbage), expect_closed(silent), async {
        // Answer the seed's key so that it reaches the stream key.
        let mut buf = vec![0u8; 4096];
        loop {
            match unknown.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if init.feed(&buf[..n]).is_err() {
                        break;
                    }
                    let out = init.take_output();
                    if !out.is_empty() && unknown.write_all(&out).await.is_err() {
                        return;
                    }
                }
            }
        }
        expect_closed(unknown).await;
    });
    let _ = (g, s, u);
    let c = a.encryption_counters();
    assert!(c.incoming_encrypted_failed >= 3, "{c:?}");

    // The seed still serves an encrypted peer.
    let b = session(EncryptionPolicy::Require).await;
    let leech_dir = dir.path().join("leech");
    let leech = b
        .add_torrent(meta.clone(), leech_dir.clone(), AddOptions::default())
        .unwrap();
    assert!(wait_state(&leech, TorrentState::Downloading, 20).await);
    leech.add_peers(vec![addr]).await;
    assert!(wait_state(&leech, TorrentState::Seeding, 60).await);
    assert!(std::fs::read(&file).unwrap() == std::fs::read(leech_dir.join("data.bin")).unwrap());
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
