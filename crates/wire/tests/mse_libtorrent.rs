//! MSE against a real client: a python3-libtorrent seed that requires RC4
//! (`in_enc_policy` = `out_enc_policy` = forced, `allowed_enc_level` = rc4), over TCP on
//! 127.0.0.1. Our initiator dials it; then it dials our responder. Each side must exchange
//! BitTorrent handshakes inside the encrypted stream and read libtorrent's bitfield.
//! Skipped (loudly) where `/usr/bin/python3` cannot import libtorrent.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use metainfo::{InfoHash, PeerId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use wire::Handshake;
use wire::mse::{CryptoMethods, Incoming, Initiator, Method, Outcome, Responder, classify, req2};

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

/// Our BitTorrent handshake without the fast extension, so a seed answers with a bitfield
/// (not HAVE_ALL).
fn our_handshake(info_hash: InfoHash) -> [u8; wire::HANDSHAKE_LEN] {
    Handshake {
        reserved: [0; 8],
        info_hash,
        peer_id: PeerId(*b"-BM0001-mse-interop!"),
    }
    .encode()
}

/// Reads and decrypts until `have` holds `want` bytes.
async fn fill(tcp: &mut TcpStream, outcome: &mut Outcome, have: &mut Vec<u8>, want: usize) {
    while have.len() < want {
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "libtorrent closed the connection");
        outcome.stream.decrypt(&mut buf[..n]);
        have.extend_from_slice(&buf[..n]);
    }
}

/// Reads libtorrent's messages after its handshake until the bitfield, and checks every piece
/// is in it.
async fn expect_bitfield(
    tcp: &mut TcpStream,
    outcome: &mut Outcome,
    mut have: Vec<u8>,
    pieces: usize,
) {
    let mut at = wire::HANDSHAKE_LEN;
    loop {
        fill(tcp, outcome, &mut have, at + 4).await;
        let len = u32::from_be_bytes(have[at..at + 4].try_into().unwrap()) as usize;
        fill(tcp, outcome, &mut have, at + 4 + len).await;
        let message = &have[at + 4..at + 4 + len];
        at += 4 + len;
        match message.first() {
            Some(5) => {
                let bits = &message[1..];
                assert_eq!(bits.len(), pieces.div_ceil(8));
                for piece in 0..pieces {
                    assert!(
                        bits[piece / 8] & (0x80 >> (piece % 8)) != 0,
                        "piece {piece} missing"
                    );
                }
                return;
            }
            // Keep-alives and the extension handshake may come first.
            None | Some(20) => continue,
            Some(id) => panic!("message {id} before the bitfield"),
        }
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
    for offer in [CryptoMethods::BOTH, CryptoMethods::RC4] {
        tokio::time::timeout(TIMEOUT, initiate(&seed, offer))
            .await
            .expect("handshake and bitfield within the timeout");
    }
}

/// Dials the seed offering `offer`, then exchanges handshakes and reads its bitfield.
async fn initiate(seed: &Seed, offer: CryptoMethods) {
    let mut tcp = TcpStream::connect(("127.0.0.1", seed.port)).await.unwrap();
    let mut rng = ring::rand::SystemRandom::new();
    let hello = our_handshake(seed.info_hash);
    let mut initiator = Initiator::new(seed.info_hash, offer, &hello, &mut rng).unwrap();
    let mut outcome = loop {
        tcp.write_all(&initiator.take_output()).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "libtorrent closed the connection during MSE");
        if let Some(outcome) = initiator.feed(&buf[..n]).unwrap() {
            break outcome;
        }
    };
    tcp.write_all(&initiator.take_output()).await.unwrap();
    assert_eq!(outcome.method(), Method::Rc4, "libtorrent allows only RC4");
    let mut have = std::mem::take(&mut outcome.payload);
    fill(&mut tcp, &mut outcome, &mut have, wire::HANDSHAKE_LEN).await;
    let theirs = Handshake::decode(have[..wire::HANDSHAKE_LEN].try_into().unwrap()).unwrap();
    assert_eq!(theirs.info_hash, seed.info_hash);
    expect_bitfield(&mut tcp, &mut outcome, have, seed.pieces).await;
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
    seed.commands
        .write_all(format!("connect {port}\n").as_bytes())
        .await
        .unwrap();
    seed.commands.flush().await.unwrap();
    let torrents: HashMap<[u8; 20], InfoHash> = [
        (req2(&seed.info_hash), seed.info_hash),
        (req2(&InfoHash([7; 20])), InfoHash([7; 20])),
    ]
    .into();
    tokio::time::timeout(TIMEOUT, async {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut rng = ring::rand::SystemRandom::new();
        let mut responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
        let mut first = true;
        let mut outcome = loop {
            let mut buf = [0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "libtorrent closed the connection during MSE");
            if first {
                assert_eq!(classify(&buf[..n]), Some(Incoming::Encrypted));
                first = false;
            }
            let done = responder.feed(&buf[..n], &torrents).unwrap();
            tcp.write_all(&responder.take_output()).await.unwrap();
            if let Some(outcome) = done {
                break outcome;
            }
        };
        assert_eq!(outcome.info_hash, seed.info_hash);
        assert_eq!(outcome.method(), Method::Rc4, "libtorrent allows only RC4");
        let mut have = std::mem::take(&mut outcome.payload);
        fill(&mut tcp, &mut outcome, &mut have, wire::HANDSHAKE_LEN).await;
        let theirs = Handshake::decode(have[..wire::HANDSHAKE_LEN].try_into().unwrap()).unwrap();
        assert_eq!(theirs.info_hash, seed.info_hash);
        let mut hello = our_handshake(seed.info_hash);
        outcome.stream.encrypt(&mut hello);
        tcp.write_all(&hello).await.unwrap();
        expect_bitfield(&mut tcp, &mut outcome, have, seed.pieces).await;
    })
    .await
    .expect("handshake and bitfield within the timeout");
}
