//! Interop with the reference implementation: python3-libtorrent 2.0 with TCP disabled.
//! Skipped (loudly) when python3-libtorrent is not installed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;
use utp::tokio_socket::UtpSocket;

const PYTHON: &str = "/usr/bin/python3";
const BLOCK: u32 = 16384;

fn libtorrent_available() -> bool {
    std::process::Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Peer {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
    info_hash: [u8; 20],
    piece_len: u32,
    piece0_sha1: String,
}

async fn start_libtorrent(role: &str, dir: &Path) -> Peer {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lt_utp_peer.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .arg(role)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python3");
    let stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("ready in time")
        .expect("read");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"ready"), "{line}");
    let hex = fields[2];
    let mut info_hash = [0u8; 20];
    for (i, b) in info_hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    Peer {
        _child: child,
        stdin,
        stdout,
        port: fields[1].parse().expect("port"),
        info_hash,
        piece_len: fields[3].parse().expect("piece length"),
        piece0_sha1: fields[4].to_string(),
    }
}

fn handshake(info_hash: &[u8; 20]) -> Vec<u8> {
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(info_hash);
    hs.extend_from_slice(b"-BM0001-utpinterop01");
    hs
}

async fn read_message(s: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let len = s.read_u32().await.expect("message length");
    assert!(len < 1 << 20, "message of {len} bytes");
    let mut body = vec![0; len as usize];
    s.read_exact(&mut body).await.expect("message body");
    body
}

async fn send_message(s: &mut (impl AsyncWrite + Unpin), id: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len() + 1).expect("small");
    s.write_all(&len.to_be_bytes()).await.expect("write");
    s.write_all(&[id]).await.expect("write");
    s.write_all(payload).await.expect("write");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asks for every block of pieces `0..pieces`, keeping `depth` requests outstanding.
async fn download(s: &mut utp::tokio_socket::UtpStream, total: usize, piece_len: u32) -> Vec<u8> {
    let mut blocks = Vec::new();
    for index in 0..total.div_ceil(piece_len as usize) as u32 {
        let this_piece =
            (total - index as usize * piece_len as usize).min(piece_len as usize) as u32;
        for begin in (0..this_piece).step_by(BLOCK as usize) {
            blocks.push((index, begin, BLOCK.min(this_piece - begin)));
        }
    }
    let mut data = vec![0u8; total];
    let (mut next, mut got, depth) = (0, 0, 64);
    while got < blocks.len() {
        while next < blocks.len() && next - got < depth {
            let (index, begin, len) = blocks[next];
            let mut req = Vec::new();
            for v in [index, begin, len] {
                req.extend_from_slice(&v.to_be_bytes());
            }
            send_message(s, 6, &req).await;
            next += 1;
        }
        let msg = read_message(s).await;
        if msg.first() != Some(&7) {
            continue;
        }
        let index = u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]) as usize;
        let begin = u32::from_be_bytes([msg[5], msg[6], msg[7], msg[8]]) as usize;
        let at = index * piece_len as usize + begin;
        data[at..at + msg.len() - 9].copy_from_slice(&msg[9..]);
        got += 1;
    }
    data
}

/// We dial a libtorrent seed over uTP, exchange handshakes and download the whole torrent
/// (piece 0 checked against libtorrent's SHA-1, all of it against the seed's file).
#[tokio::test]
async fn download_from_libtorrent_over_utp() {
    if !libtorrent_available() {
        eprintln!(
            "SKIPPED: python3-libtorrent is not installed ({PYTHON} -c 'import libtorrent' failed)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = start_libtorrent("seed", dir.path()).await;
    let expected = std::fs::read(dir.path().join("src/payload.bin")).expect("seed's data");
    let socket = UtpSocket::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let seed: SocketAddr = ([127, 0, 0, 1], peer.port).into();
    let run = async {
        let mut s = socket
            .connect(seed)
            .await
            .expect("uTP connect to libtorrent");
        s.write_all(&handshake(&peer.info_hash))
            .await
            .expect("send handshake");
        let mut theirs = [0u8; 68];
        if let Err(e) = s.read_exact(&mut theirs).await {
            panic!(
                "libtorrent's handshake: {e}; {:?} {:?}",
                s.stats(),
                socket.stats()
            );
        }
        assert_eq!(&theirs[..20], b"\x13BitTorrent protocol");
        assert_eq!(&theirs[28..48], &peer.info_hash);
        send_message(&mut s, 2, &[]).await; // interested
        loop {
            let msg = read_message(&mut s).await;
            if msg.first() == Some(&1) {
                break; // unchoke
            }
        }
        let data = download(&mut s, expected.len(), peer.piece_len).await;
        eprintln!(
            "downloaded {} bytes from libtorrent over uTP: {:?}",
            data.len(),
            s.stats()
        );
        data
    };
    let started = std::time::Instant::now();
    let data = timeout(Duration::from_secs(90), run)
        .await
        .expect("download within 90 s");
    eprintln!("in {:?}", started.elapsed());
    let piece0 = &data[..peer.piece_len as usize];
    assert_eq!(
        hex(&Sha1::digest(piece0)),
        peer.piece0_sha1,
        "piece 0 SHA-1"
    );
    assert!(
        data == expected,
        "downloaded data differs from the seed's file"
    );
    drop(peer.stdin);
}

/// libtorrent dials our listening endpoint over uTP and downloads the whole torrent from us.
#[tokio::test]
async fn libtorrent_downloads_from_our_utp_listener() {
    if !libtorrent_available() {
        eprintln!(
            "SKIPPED: python3-libtorrent is not installed ({PYTHON} -c 'import libtorrent' failed)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peer = start_libtorrent("leech", dir.path()).await;
    let data = std::fs::read(dir.path().join("src/payload.bin")).expect("source data");
    let socket = UtpSocket::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let line = format!("connect {}\n", socket.local_addr().port());
    peer.stdin
        .write_all(line.as_bytes())
        .await
        .expect("tell libtorrent");
    let info_hash = peer.info_hash;
    let piece_len = peer.piece_len as usize;
    let data_len = data.len();
    let progress = std::sync::Arc::new(std::sync::Mutex::new(String::from("not connected")));
    let report = progress.clone();
    let watch = socket.clone();
    let serve = async move {
        let (mut s, _) = socket.accept().await.expect("libtorrent connects");
        let mut theirs = [0u8; 68];
        s.read_exact(&mut theirs)
            .await
            .expect("libtorrent's handshake");
        assert_eq!(&theirs[28..48], &info_hash);
        s.write_all(&handshake(&info_hash))
            .await
            .expect("send handshake");
        let pieces = data.len().div_ceil(piece_len);
        let mut bitfield = vec![0u8; pieces.div_ceil(8)];
        for p in 0..pieces {
            bitfield[p / 8] |= 0x80 >> (p % 8);
        }
        send_message(&mut s, 5, &bitfield).await;
        send_message(&mut s, 1, &[]).await; // unchoke
        loop {
            let len = match s.read_u32().await {
                Ok(len) => len,
                Err(_) => return, // libtorrent closed once done
            };
            let mut body = vec![0; len as usize];
            if s.read_exact(&mut body).await.is_err() {
                return;
            }
            if body.first() != Some(&6) {
                continue;
            }
            let field = |i: usize| {
                u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]) as usize
            };
            let (index, begin, length) = (field(1), field(5), field(9));
            let start = index * piece_len + begin;
            if let Ok(mut p) = report.lock() {
                *p = format!("serving {index}/{begin}");
            }
            let mut reply = body[1..9].to_vec();
            reply.extend_from_slice(&data[start..start + length]);
            send_message(&mut s, 7, &reply).await;
        }
    };
    let server = tokio::spawn(serve);
    let mut status = String::new();
    let started = std::time::Instant::now();
    timeout(Duration::from_secs(90), peer.stdout.read_line(&mut status))
        .await
        .expect("libtorrent finished")
        .expect("read");
    eprintln!(
        "libtorrent downloaded {data_len} bytes from us over uTP in {:?}",
        started.elapsed()
    );
    assert_eq!(
        status.trim(),
        "done",
        "libtorrent could not download from us over uTP; last: {:?}; {:?}; {:?}",
        progress.lock().map(|p| p.clone()),
        watch.connections(),
        watch.stats()
    );
    server.abort();
}
