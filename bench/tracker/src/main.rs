//! Load generator for the tracker benchmark: N concurrent HTTP clients send compact announces
//! to a tracker on loopback for T seconds and report announces/s and p50/p99 latency.
//!
//! ```text
//! tracker-loadgen --target 127.0.0.1:6969 [--connections 32] [--seconds 10] [--warmup 1]
//!                 [--torrents 100] [--peers 500] [--mode keepalive|reconnect] [--threads 1]
//! tracker-loadgen --print-hashes 100      # hex info-hashes, one a line (opentracker whitelist)
//! ```
//!
//! `keepalive` reuses one connection per client (HTTP/1.1 keep-alive); `reconnect` opens a new
//! connection for every announce (what opentracker supports: it closes after each answer).
//! Peers are `127.0.0.1:(10000 + k)` for k < `--peers`; a quarter of them are seeders, so
//! swarms reach a steady size and answers carry real peer lists (numwant 50).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    KeepAlive,
    Reconnect,
}

#[derive(Clone, Copy)]
struct Opts {
    target: SocketAddr,
    connections: usize,
    seconds: f64,
    warmup: f64,
    torrents: u32,
    peers: u32,
    mode: Mode,
    threads: usize,
}

fn info_hash(i: u32) -> [u8; 20] {
    let mut h = [0x5a; 20];
    h[..4].copy_from_slice(&i.to_be_bytes());
    h
}

fn parse() -> Result<Option<Opts>, String> {
    let mut o = Opts {
        target: "127.0.0.1:6969".parse().map_err(|e| format!("{e}"))?,
        connections: 32,
        seconds: 10.0,
        warmup: 1.0,
        torrents: 100,
        peers: 500,
        mode: Mode::KeepAlive,
        threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--print-hashes" => {
                let n: u32 = v.parse().map_err(|e| bad(&e))?;
                for i in 0..n {
                    println!("{}", info_hash(i).iter().map(|b| format!("{b:02x}")).collect::<String>());
                }
                return Ok(None);
            }
            "--target" => o.target = v.parse().map_err(|e| bad(&e))?,
            "--connections" => o.connections = v.parse().map_err(|e| bad(&e))?,
            "--seconds" => o.seconds = v.parse().map_err(|e| bad(&e))?,
            "--warmup" => o.warmup = v.parse().map_err(|e| bad(&e))?,
            "--torrents" => o.torrents = v.parse().map_err(|e| bad(&e))?,
            "--peers" => o.peers = v.parse().map_err(|e| bad(&e))?,
            "--threads" => o.threads = v.parse().map_err(|e| bad(&e))?,
            "--mode" => {
                o.mode = match v.as_str() {
                    "keepalive" => Mode::KeepAlive,
                    "reconnect" => Mode::Reconnect,
                    _ => return Err(format!("--mode: {v:?} is not keepalive or reconnect")),
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if o.connections == 0 || o.torrents == 0 || o.peers == 0 || o.threads == 0 {
        return Err("counts must be positive".into());
    }
    Ok(Some(o))
}

fn request(o: &Opts, rng: &mut u64) -> Vec<u8> {
    // xorshift64*: cheap and good enough to spread announces.
    let mut next = || {
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let t = (next() % u64::from(o.torrents)) as u32;
    let k = (next() % u64::from(o.peers)) as u32;
    let mut s = String::with_capacity(300);
    s.push_str("GET /announce?info_hash=");
    for b in info_hash(t) {
        s.push_str(&format!("%{b:02X}"));
    }
    let left = if k % 4 == 0 { 0 } else { 1_000_000 };
    s.push_str(&format!(
        "&peer_id=-LG0001-{k:012}&port={}&uploaded=0&downloaded=0&left={left}&compact=1&numwant=50 HTTP/1.1\r\nHost: {}\r\n\r\n",
        10_000 + k,
        o.target
    ));
    s.into_bytes()
}

/// Reads one response (head plus Content-Length body); `buf` keeps any excess.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
            if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
                return Err(std::io::Error::other(format!("status: {}", head.lines().next().unwrap_or(""))));
            }
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
                })
                .ok_or_else(|| std::io::Error::other("no content-length"))?;
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            if !buf[end + 4..total].starts_with(b"d") || buf[end + 4..total].windows(14).any(|w| w == b"failure reason") {
                return Err(std::io::Error::other(String::from_utf8_lossy(&buf[end + 4..total]).into_owned()));
            }
            buf.drain(..total);
            return Ok(());
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

struct ClientResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn client(o: Opts, id: u64, start: Instant) -> ClientResult {
    let measure_from = start + Duration::from_secs_f64(o.warmup);
    let deadline = measure_from + Duration::from_secs_f64(o.seconds);
    let mut rng = 0x9e37_79b9_7f4a_7c15 ^ (id + 1).wrapping_mul(0x1234_5678_9abc_def1);
    let mut res = ClientResult { latencies_us: Vec::with_capacity(1 << 16), errors: 0, first_error: None };
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(8192);
    loop {
        let t0 = Instant::now();
        if t0 >= deadline {
            break;
        }
        let req = request(&o, &mut rng);
        let outcome = async {
            if conn.is_none() {
                let s = TcpStream::connect(o.target).await?;
                s.set_nodelay(true)?;
                conn = Some(s);
                buf.clear();
            }
            let Some(s) = conn.as_mut() else { unreachable!() };
            s.write_all(&req).await?;
            read_response(s, &mut buf).await
        }
        .await;
        match outcome {
            Ok(()) => {
                if t0 >= measure_from {
                    let us = t0.elapsed().as_micros();
                    res.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
                if o.mode == Mode::Reconnect {
                    conn = None;
                }
            }
            Err(e) => {
                conn = None;
                if t0 >= measure_from {
                    res.errors += 1;
                }
                if res.first_error.is_none() {
                    res.first_error = Some(e.to_string());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    res
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(Some(o)) => o,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracker-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(o.threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tracker-loadgen: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let results = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..o.connections).map(|i| tokio::spawn(client(o, i as u64, start))).collect();
        let mut out = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    });
    let mut lat: Vec<u32> = results.iter().flat_map(|r| r.latencies_us.iter().copied()).collect();
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    if let Some(e) = results.iter().find_map(|r| r.first_error.clone()) {
        eprintln!("tracker-loadgen: first error: {e}");
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        f64::from(lat[i.min(lat.len() - 1)]) / 1000.0
    };
    let rate = lat.len() as f64 / o.seconds;
    let mode = if o.mode == Mode::KeepAlive { "keepalive" } else { "reconnect" };
    println!(
        "mode={mode} connections={} seconds={} announces={} errors={errors} rate={rate:.0}/s p50={:.3}ms p99={:.3}ms max={:.3}ms",
        o.connections,
        o.seconds,
        lat.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if lat.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
