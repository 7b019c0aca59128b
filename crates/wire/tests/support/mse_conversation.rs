//! One MSE conversation with libtorrent, live over TCP or replayed from a recorded transcript:
//! our side's handshake, then BitTorrent handshakes inside the stream and libtorrent's bitfield.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use metainfo::{InfoHash, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wire::Handshake;
use wire::mse::{
    CryptoMethods, Incoming, Initiator, Method, MseError, Outcome, RandomSource, Responder,
    classify, req2,
};

/// Deterministic randomness (xorshift64), so a recorded conversation replays byte for byte.
pub struct SeededRng(pub u64);

impl RandomSource for SeededRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), MseError> {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
        Ok(())
    }
}

/// A conversation's bytes: what we sent (`>`) and received (`<`), chunk by chunk.
#[derive(Default)]
pub struct Transcript {
    pub info_hash: Option<InfoHash>,
    pub pieces: usize,
    pub seed: u64,
    pub chunks: Vec<(bool, Vec<u8>)>,
}

impl Transcript {
    /// Parses the text form written by [`Transcript::render`].
    pub fn parse(text: &str) -> Self {
        let mut t = Transcript::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (key, value) = line.split_once(' ').unwrap();
            match key {
                "info_hash" => t.info_hash = InfoHash::from_hex(value),
                "pieces" => t.pieces = value.parse().unwrap(),
                "seed" => t.seed = value.parse().unwrap(),
                ">" | "<" => t.chunks.push((key == ">", unhex(value))),
                _ => panic!("unknown transcript line {line}"),
            }
        }
        t
    }

    /// The text form: a header, then one hex line per chunk.
    pub fn render(&self, comment: &str) -> String {
        let mut out = format!("# {comment}\n");
        let info_hash = self.info_hash.unwrap();
        writeln!(out, "info_hash {}", info_hash.to_hex()).unwrap();
        writeln!(out, "pieces {}\nseed {}", self.pieces, self.seed).unwrap();
        for (sent, bytes) in &self.chunks {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "{} {hex}", if *sent { ">" } else { "<" }).unwrap();
        }
        out
    }

    /// Everything we sent, in one piece.
    pub fn sent(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|(s, _)| *s)
            .flat_map(|(_, b)| b.clone())
            .collect()
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The other end: a live socket (its traffic logged) or a transcript's received chunks.
pub enum Conn {
    Live {
        tcp: TcpStream,
        log: Transcript,
    },
    Replay {
        received: VecDeque<Vec<u8>>,
        sent: Vec<u8>,
    },
}

impl Conn {
    /// A replay of `transcript`'s received chunks.
    pub fn replay(transcript: &Transcript) -> Self {
        let received = transcript
            .chunks
            .iter()
            .filter(|(s, _)| !*s)
            .map(|(_, b)| b.clone())
            .collect();
        Conn::Replay {
            received,
            sent: Vec::new(),
        }
    }

    /// The next chunk from the other end.
    async fn read(&mut self) -> Vec<u8> {
        match self {
            Conn::Live { tcp, log } => {
                let mut buf = vec![0u8; 4096];
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "libtorrent closed the connection");
                buf.truncate(n);
                log.chunks.push((false, buf.clone()));
                buf
            }
            Conn::Replay { received, .. } => received.pop_front().expect("the transcript ran out"),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self {
            Conn::Live { tcp, log } => {
                tcp.write_all(bytes).await.unwrap();
                log.chunks.push((true, bytes.to_vec()));
            }
            Conn::Replay { sent, .. } => sent.extend_from_slice(bytes),
        }
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
async fn fill(conn: &mut Conn, outcome: &mut Outcome, have: &mut Vec<u8>, want: usize) {
    while have.len() < want {
        let mut chunk = conn.read().await;
        outcome.stream.decrypt(&mut chunk);
        have.extend_from_slice(&chunk);
    }
}

/// Checks libtorrent's handshake at the start of `have`, then reads its messages until the
/// bitfield and checks every piece is in it.
async fn expect_handshake_and_bitfield(
    conn: &mut Conn,
    outcome: &mut Outcome,
    mut have: Vec<u8>,
    info_hash: InfoHash,
    pieces: usize,
) {
    fill(conn, outcome, &mut have, wire::HANDSHAKE_LEN).await;
    let theirs = Handshake::decode(have[..wire::HANDSHAKE_LEN].try_into().unwrap()).unwrap();
    assert_eq!(theirs.info_hash, info_hash);
    let mut at = wire::HANDSHAKE_LEN;
    loop {
        fill(conn, outcome, &mut have, at + 4).await;
        let len = u32::from_be_bytes(have[at..at + 4].try_into().unwrap()) as usize;
        fill(conn, outcome, &mut have, at + 4 + len).await;
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

/// We dial: MSE offering `offer`, our handshake as IA, then libtorrent's handshake and
/// bitfield. Returns the method chosen.
pub async fn initiate(
    conn: &mut Conn,
    info_hash: InfoHash,
    pieces: usize,
    offer: CryptoMethods,
    rng: &mut dyn RandomSource,
) -> Method {
    let hello = our_handshake(info_hash);
    let mut initiator = Initiator::new(info_hash, offer, &hello, rng).unwrap();
    let mut outcome = loop {
        conn.write(&initiator.take_output()).await;
        let chunk = conn.read().await;
        if let Some(outcome) = initiator.feed(&chunk).unwrap() {
            break outcome;
        }
    };
    conn.write(&initiator.take_output()).await;
    let have = std::mem::take(&mut outcome.payload);
    expect_handshake_and_bitfield(conn, &mut outcome, have, info_hash, pieces).await;
    outcome.method()
}

/// Libtorrent dialled us: MSE accepting `accept`, its handshake from IA, our handshake back,
/// then its bitfield. Returns the method chosen.
pub async fn respond(
    conn: &mut Conn,
    info_hash: InfoHash,
    pieces: usize,
    accept: CryptoMethods,
    rng: &mut dyn RandomSource,
) -> Method {
    let decoy = InfoHash([7; 20]);
    let torrents: HashMap<[u8; 20], InfoHash> =
        [(req2(&info_hash), info_hash), (req2(&decoy), decoy)].into();
    let mut responder = Responder::new(accept, rng).unwrap();
    let mut first = true;
    let mut outcome = loop {
        let chunk = conn.read().await;
        if first {
            assert_eq!(classify(&chunk), Some(Incoming::Encrypted));
            first = false;
        }
        let done = responder.feed(&chunk, &torrents).unwrap();
        conn.write(&responder.take_output()).await;
        if let Some(outcome) = done {
            break outcome;
        }
    };
    assert_eq!(outcome.info_hash, info_hash);
    let have = std::mem::take(&mut outcome.payload);
    let mut hello = our_handshake(info_hash);
    outcome.stream.encrypt(&mut hello);
    conn.write(&hello).await;
    expect_handshake_and_bitfield(conn, &mut outcome, have, info_hash, pieces).await;
    outcome.method()
}
