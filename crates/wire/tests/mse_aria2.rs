//! MSE against aria2: an `aria2c` seed with `--bt-require-crypto=true
//! --bt-min-crypto-level=arc4` on 127.0.0.1, dialled by our initiator; BitTorrent handshakes
//! inside the encrypted stream, then aria2's bitfield. Skipped (loudly) without `aria2c`.

#![allow(clippy::unwrap_used)]

#[path = "support/mse_conversation.rs"]
#[allow(dead_code)] // each test file uses part of it
mod conversation;

use std::process::Stdio;
use std::time::{Duration, Instant};

use conversation::{Conn, Transcript, initiate};
use metainfo::{CreateOptions, Metainfo};
use tokio::net::TcpStream;
use tokio::process::Command;
use wire::mse::{CryptoMethods, Method};

const TIMEOUT: Duration = Duration::from_secs(30);

fn aria2_available() -> bool {
    std::process::Command::new("aria2c")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn our_initiator_against_an_aria2_seed_requiring_rc4() {
    if !aria2_available() {
        eprintln!("SKIPPED: no aria2c on PATH (install aria2)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload.bin");
    std::fs::write(
        &payload,
        (0..50_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let opts = CreateOptions {
        // Nobody answers there; aria2 only needs a well-formed torrent.
        announce: "http://127.0.0.1:9/announce".into(),
        piece_length: Some(16384),
        ..CreateOptions::default()
    };
    let torrent = metainfo::create_torrent(&payload, &opts, &|_, _| {}).unwrap();
    let meta = Metainfo::from_bytes(&torrent).unwrap();
    let torrent_path = dir.path().join("payload.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    let port = free_port();
    let _aria2 = Command::new("aria2c")
        .current_dir(dir.path())
        .arg(format!("--dir={}", dir.path().display()))
        .arg(format!("--listen-port={port}"))
        .args([
            "--interface=127.0.0.1",
            "--disable-ipv6=true",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--bt-require-crypto=true",
            "--bt-min-crypto-level=arc4",
            "--bt-seed-unverified=true",
            "--check-integrity=false",
            "--seed-ratio=0.0",
            "--file-allocation=none",
            "--console-log-level=warn",
            "--auto-save-interval=0",
            "--bt-save-metadata=false",
            "--allow-overwrite=false",
        ])
        .arg(&torrent_path)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let tcp = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(tcp) => break tcp,
            Err(e) if start.elapsed() > TIMEOUT => panic!("aria2c never listened on {port}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let mut conn = Conn::Live {
        tcp,
        log: Transcript::default(),
    };
    let mut rng = ring::rand::SystemRandom::new();
    let pieces = meta.info.piece_count() as usize;
    // `prefer`/`allow` offer both; aria2 requiring arc4 must pick RC4.
    let method = tokio::time::timeout(
        TIMEOUT,
        initiate(
            &mut conn,
            meta.info_hash,
            pieces,
            CryptoMethods::BOTH,
            &mut rng,
        ),
    )
    .await
    .expect("handshake and bitfield within the timeout");
    assert_eq!(method, Method::Rc4);
}
