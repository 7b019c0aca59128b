//! MSE against a real client: a python3-libtorrent seed that requires RC4
//! (`in_enc_policy` = `out_enc_policy` = forced, `allowed_enc_level` = rc4), over TCP on
//! 127.0.0.1. Our initiator dials it; then it dials our responder. Each side must exchange
//! BitTorrent handshakes inside the encrypted stream and read libtorrent's bitfield.
//! The last two tests do the same through `mse::initiate` / `mse::respond` and the stream
//! adapters, with the plaintext handshake functions and the codec on top, as the engine would.
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

use std::collections::HashMap;

use conversation::{Conn, SeededRng, Transcript, initiate, respond};
use futures_util::StreamExt;
use metainfo::{InfoHash, PeerId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::codec::FramedRead;
use wire::mse::{
    self, CryptoMethods, Incoming, Initiator, Method, MseReader, MseWriter, RandomSource,
    Responder, classify, req2,
};
use wire::{
    Codec, Handshake, Message, read_handshake, read_handshake_head, read_peer_id, write_handshake,
};

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

/// Reads messages until the bitfield and checks every piece is in it, the way a peer task does.
async fn expect_bitfield<R: tokio::io::AsyncRead + Unpin>(reader: R, pieces: usize) {
    let mut frames = FramedRead::new(reader, Codec::default());
    loop {
        match frames.next().await.expect("a message").unwrap() {
            Message::Bitfield(bits) => {
                assert_eq!(bits.len(), pieces.div_ceil(8));
                assert!((0..pieces).all(|p| bits[p / 8] & (0x80 >> (p % 8)) != 0));
                return;
            }
            Message::KeepAlive | Message::Extended { .. } => continue,
            other => panic!("{other:?} before the bitfield"),
        }
    }
}

/// Our handshake, without the fast extension so a seed answers with a bitfield.
fn plain_handshake(info_hash: InfoHash) -> Handshake {
    Handshake {
        reserved: [0; 8],
        info_hash,
        peer_id: PeerId(*b"-BM0001-mse-drivers!"),
    }
}

/// What the engine's outgoing path would do: `mse::initiate` (empty IA, so our BitTorrent
/// handshake goes through the encrypted stream), the plaintext handshake functions on the
/// stream, then split halves and the codec.
#[tokio::test]
async fn the_drivers_dial_libtorrent_with_the_plaintext_handshake_code() {
    if !libtorrent_available() {
        eprintln!("SKIPPED: {PYTHON} cannot import libtorrent (install python3-libtorrent)");
        return;
    }
    let seed = start_seed().await;
    tokio::time::timeout(TIMEOUT, async {
        let tcp = TcpStream::connect(("127.0.0.1", seed.port)).await.unwrap();
        let mut rng = ring::rand::SystemRandom::new();
        let initiator = Initiator::new(seed.info_hash, CryptoMethods::RC4, &[], &mut rng).unwrap();
        let mut stream = mse::initiate(tcp, initiator).await.unwrap();
        assert_eq!(stream.method(), Method::Rc4);
        write_handshake(&mut stream, &plain_handshake(seed.info_hash))
            .await
            .unwrap();
        let theirs = read_handshake(&mut stream).await.unwrap();
        assert_eq!(theirs.info_hash, seed.info_hash);
        let (tcp, read, _write) = stream.into_parts();
        let (rd, _wr) = tcp.into_split();
        expect_bitfield(MseReader::new(rd, read), seed.pieces).await;
    })
    .await
    .expect("handshake and bitfield within the timeout");
}

/// What the engine's incoming path would do: classify the first bytes, `mse::respond` with
/// them and the torrent map, then route by the info-hash of the handshake read from the stream.
#[tokio::test]
async fn the_drivers_accept_libtorrent_with_the_plaintext_handshake_code() {
    if !libtorrent_available() {
        eprintln!("SKIPPED: {PYTHON} cannot import libtorrent (install python3-libtorrent)");
        return;
    }
    let mut seed = start_seed().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let command = format!("connect {}\n", listener.local_addr().unwrap().port());
    seed.commands.write_all(command.as_bytes()).await.unwrap();
    seed.commands.flush().await.unwrap();
    let torrents: HashMap<[u8; 20], InfoHash> = [(req2(&seed.info_hash), seed.info_hash)].into();
    tokio::time::timeout(TIMEOUT, async {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut first = vec![0u8; 20];
        let n = tcp.read(&mut first).await.unwrap();
        first.truncate(n);
        assert_eq!(classify(&first), Some(Incoming::Encrypted));
        let mut rng = ring::rand::SystemRandom::new();
        let responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
        let mut stream = mse::respond(tcp, responder, &first, &torrents)
            .await
            .unwrap();
        assert_eq!(stream.info_hash(), seed.info_hash);
        let (_reserved, info_hash) = read_handshake_head(&mut stream).await.unwrap();
        assert_eq!(info_hash, seed.info_hash);
        write_handshake(&mut stream, &plain_handshake(info_hash))
            .await
            .unwrap();
        read_peer_id(&mut stream).await.unwrap();
        let (tcp, read, write) = stream.into_parts();
        let (rd, wr) = tcp.into_split();
        let _writer = MseWriter::new(wr, write);
        expect_bitfield(MseReader::new(rd, read), seed.pieces).await;
    })
    .await
    .expect("handshake and bitfield within the timeout");
}
