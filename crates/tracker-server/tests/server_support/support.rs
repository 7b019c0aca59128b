//! Helpers shared by the `server_*` integration tests: start a server on 127.0.0.1, a tiny
//! hand-written HTTP/1.1 keep-alive client, query builders and a hand-built `.torrent` maker.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracker_server::{Error, ReloadHandle, Server, ServerConfig};

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub token: CancellationToken,
    pub task: JoinHandle<Result<(), Error>>,
    pub reload: ReloadHandle,
}

impl Running {
    /// Cancels and waits for a clean exit.
    pub async fn stop(self) {
        self.token.cancel();
        let r = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        r.expect("server stops in time")
            .expect("server task")
            .expect("server run ok");
    }
}

/// A config listening on 127.0.0.1 with a free port.
pub fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    }
}

pub async fn start(cfg: ServerConfig) -> Running {
    let server = Server::bind(cfg).await.expect("bind");
    let addr = server.local_addr();
    let reload = server.reload_handle();
    let token = CancellationToken::new();
    let task = tokio::spawn(server.run(token.clone()));
    Running {
        addr,
        token,
        task,
        reload,
    }
}

/// Percent-encodes every byte.
pub fn enc(b: &[u8]) -> String {
    b.iter().map(|x| format!("%{x:02X}")).collect()
}

/// `/announce?...` for info-hash `ih`, peer id `pid`, port and left, plus `extra` (e.g. "&compact=1").
pub fn announce(ih: &[u8; 20], pid: &[u8; 20], port: u16, left: u64, extra: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}{extra}",
        enc(ih),
        enc(pid)
    )
}

/// A keep-alive HTTP/1.1 connection.
pub struct Http {
    reader: BufReader<TcpStream>,
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> Http {
        Http {
            reader: BufReader::new(TcpStream::connect(addr).await.expect("connect")),
        }
    }

    /// A connection from another loopback address (e.g. 127.0.0.2): a second host.
    pub async fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> Http {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(local, 0)).expect("bind");
        Http {
            reader: BufReader::new(socket.connect(addr).await.expect("connect")),
        }
    }

    /// Sends raw request-target bytes and reads the response (`Ok(None)` on a clean close).
    pub async fn get_raw(&mut self, target: &[u8]) -> std::io::Result<Option<Resp>> {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.reader.get_mut().write_all(&req).await?;
        self.read_response().await
    }

    pub async fn get(&mut self, target: &str) -> Resp {
        self.get_raw(target.as_bytes())
            .await
            .expect("io")
            .expect("a response")
    }

    async fn read_response(&mut self) -> std::io::Result<Option<Resp>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| std::io::Error::other("no content-length"))?;
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).await?;
        Ok(Some(Resp {
            status,
            headers,
            body,
        }))
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, target: &str) -> Resp {
    Http::connect(addr).await.get(target).await
}

/// One GET on a fresh connection from the loopback address `local`.
pub async fn get_from(local: std::net::IpAddr, addr: SocketAddr, target: &str) -> Resp {
    Http::connect_from(local, addr).await.get(target).await
}

/// A small bencoded dictionary lookup helper: the body must be strict bencode.
pub fn dict(body: &[u8]) -> bencode::Value<'_> {
    let v = bencode::decode(body)
        .unwrap_or_else(|e| panic!("not bencode ({e}): {:?}", String::from_utf8_lossy(body)));
    assert!(v.as_dict().is_some(), "not a dict");
    v
}

pub fn int(v: &bencode::Value<'_>, key: &str) -> i64 {
    v.get(key.as_bytes())
        .and_then(|x| x.as_int())
        .unwrap_or_else(|| panic!("no int {key}"))
}

pub fn failure(body: &[u8]) -> Option<String> {
    let v = bencode::decode(body).ok()?;
    v.get(b"failure reason")
        .and_then(|r| r.as_str())
        .map(str::to_owned)
}

/// Compact `peers` as socket addresses.
pub fn compact_peers(v: &bencode::Value<'_>) -> Vec<SocketAddr> {
    let b = v
        .get(b"peers")
        .and_then(|p| p.as_bytes())
        .expect("compact peers");
    assert_eq!(b.len() % 6, 0);
    b.chunks_exact(6)
        .map(|c| SocketAddr::from(([c[0], c[1], c[2], c[3]], u16::from_be_bytes([c[4], c[5]]))))
        .collect()
}

/// Scrape entry `(complete, downloaded, incomplete)` for `ih`.
pub fn scrape_entry(body: &[u8], ih: &[u8; 20]) -> Option<(i64, i64, i64)> {
    let v = dict(body);
    let f = v.get(b"files")?.get(ih)?;
    Some((
        int(f, "complete"),
        int(f, "downloaded"),
        int(f, "incomplete"),
    ))
}

/// Writes a single-file `.torrent` named `name` to `path` and returns its info-hash.
pub fn write_torrent(path: &Path, name: &str, length: i64) -> [u8; 20] {
    let mut e = bencode::Encoder::new();
    e.dict(|d| {
        d.entry(b"announce", |v| v.bytes(b"http://127.0.0.1/announce"));
        d.entry(b"info", |v| {
            v.dict(|i| {
                i.entry(b"length", |v| v.int(length));
                i.entry(b"name", |v| v.bytes(name.as_bytes()));
                i.entry(b"piece length", |v| v.int(16384));
                let pieces = usize::try_from((length + 16383) / 16384).unwrap().max(1);
                i.entry(b"pieces", |v| v.bytes(&vec![7u8; 20 * pieces]));
            })
        });
    });
    let bytes = e.finish();
    std::fs::write(path, &bytes).unwrap();
    metainfo::Metainfo::from_bytes(&bytes)
        .expect("valid torrent")
        .info_hash
        .0
}
