//! MSE against a real client: a python3-libtorrent seed that requires RC4
//! (`in_enc_policy` = `out_enc_policy` = forced, `allowed_enc_level` = rc4), over TCP on
//! 127.0.0.1. Our initiator dials it; then it dials our responder. Each side must exchange
//! BitTorrent handshakes inside the encrypted stream and read libtorrent's bitfield.
//! Skipped (loudly) where `/usr/bin/python3` cannot import libtorrent.
//!
//! With `MSE_RECORD_DIR` set, the conversations use seeded randomness and are written there as
//! transcripts (how `tests/fixtures/mse_*.txt`, replayed by `mse_recorded.rs`, were made).

#![allow(clippy::unwrap_used)]

#[path = "support/mse_conversation.rs"]
#[allow(dead_code)] // each test file uses part of it
mod conversation;

use std::process::Stdio;
use std::time::Duration;

use conversation::{Conn, SeededRng, Transcript, initiate, respond};
use metainfo::InfoHash;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use wire::mse::{CryptoMethods, Method, RandomSource};

const PYTHON: &str = "/usr/bin/python3";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/lt_mse_peer.py");
const TIMEOUT: Duration = Duration::from_secs(30);

fn libtorrent_available() -> bool {
    std::process::Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The running libtorrent seed.
struct Seed {
    _child: Child,
    commands: ChildStdin,
    port: u16,
    info_hash: InfoHash,
    pieces: usize,
    _dir: tempfile::TempDir,
}

async fn start_seed() -> Seed {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(PYTHON)
        .arg(SCRIPT)
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(TIMEOUT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"ready"), "{line}");
    Seed {
        commands: child.stdin.take().unwrap(),
        _child: child,
        port: words[1].parse().unwrap(),
        info_hash: InfoHash::from_hex(words[2]).unwrap(),
        pieces: words[3].parse().unwrap(),
        _dir: dir,
    }
}

/// A live connection, its randomness seeded when recording.
fn live(tcp: TcpStream, seed: &Seed, rng_seed: u64) -> (Conn, Box<dyn RandomSource>) {
    let log = Transcript {
        info_hash: Some(seed.info_hash),
        pieces: seed.pieces,
        seed: rng_seed,
        chunks: Vec::new(),
    };
    let rng: Box<dyn RandomSource> = if std::env::var_os("MSE_RECORD_DIR").is_some() {
        Box::new(SeededRng(rng_seed))
    } else {
        Box::new(ring::rand::SystemRandom::new())
    };
    (Conn::Live { tcp, log }, rng)
}

/// Writes the transcript when recording.
fn record(conn: Conn, name: &str, comment: &str) {
    if let (Some(dir), Conn::Live { log, .. }) = (std::env::var_os("MSE_RECORD_DIR"), conn) {
        let path = std::path::Path::new(&dir).join(format!("{name}.txt"));
        std::fs::write(path, log.render(comment)).unwrap();
    }
}

#[tokio::test]
async fn our_initiator_against_a_libtorrent_seed_requiring_rc4() {
    if !libtorrent_available() {
        eprintln!("SKIPPED: {PYTHON} cannot import libtorrent (install python3-libtorrent)");
        return;
    }
    let seed = start_seed().await;
    // `prefer`/`allow` offer both (libtorrent picks RC4), `require` offers RC4 alone.
    for (offer, name, rng_seed) in [
        (CryptoMethods::BOTH, "mse_initiator_offers_both", 11),
        (CryptoMethods::RC4, "mse_initiator_offers_rc4", 12),
    ] {
        let tcp = TcpStream::connect(("127.0.0.1", seed.port)).await.unwrap();
        let (mut conn, mut rng) = live(tcp, &seed, rng_seed);
        let method = tokio::time::timeout(
            TIMEOUT,
            initiate(&mut conn, seed.info_hash, seed.pieces, offer, &mut *rng),
        )
        .await
        .expect("handshake and bitfield within the timeout");
        assert_eq!(method, Method::Rc4, "libtorrent allows only RC4");
        let comment = format!("our initiator offering {offer:?} against libtorrent (forced RC4)");
        record(conn, name, &comment);
    }
}

#[tokio::test]
async fn a_libtorrent_seed_requiring_rc4_against_our_responder() {
    if !libtorrent_available() {
        eprintln!("SKIPPED: {PYTHON} cannot import libtorrent (install python3-libtorrent)");
        return;
    }
    let mut seed = start_seed().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let command = format!("connect {port}\n");
    seed.commands.write_all(command.as_bytes()).await.unwrap();
    seed.commands.flush().await.unwrap();
    let (tcp, _) = tokio::time::timeout(TIMEOUT, listener.accept())
        .await
        .expect("libtorrent connects within the timeout")
        .unwrap();
    let (mut conn, mut rng) = live(tcp, &seed, 21);
    let method = tokio::time::timeout(
        TIMEOUT,
        respond(
            &mut conn,
            seed.info_hash,
            seed.pieces,
            CryptoMethods::BOTH,
            &mut *rng,
        ),
    )
    .await
    .expect("handshake and bitfield within the timeout");
    assert_eq!(method, Method::Rc4, "libtorrent provides only RC4");
    record(
        conn,
        "mse_responder_accepts_both",
        "libtorrent (forced RC4) against our responder accepting both",
    );
}
