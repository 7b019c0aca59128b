//! Benchmark: memory of idle seeding torrents.
//!
//! `cargo run --release -p btmirror-engine --example idle_memory -- [N] [PIECES]` makes N small
//! torrents (PIECES pieces of 16 KiB each, data in a temp dir), adds them to one session, waits
//! until all are seeding with no peers, and prints the resident memory per torrent beyond the
//! piece hashes (20 bytes a piece), and the CPU the idle torrents use over 20 s. The issue's
//! goals: under 100 KiB per torrent, under 1% of a core when idle.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{CreateOptions, Metainfo};
use tokio_util::sync::CancellationToken;

/// CPU seconds (user + system) this process used so far.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let pieces: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let mut metas = Vec::new();
    for i in 0..n {
        let f = dir.path().join(format!("f{i}.bin"));
        let mut rng = fastrand::Rng::with_seed(i as u64);
        std::fs::write(
            &f,
            (0..pieces * 16384).map(|_| rng.u8(..)).collect::<Vec<u8>>(),
        )
        .unwrap();
        let opts = CreateOptions {
            announce: std::env::var("ANNOUNCE").unwrap_or_default(),
            piece_length: Some(16384),
            ..CreateOptions::default()
        };
        let bytes = metainfo::create_torrent(&f, &opts, &|_, _| {}).unwrap();
        metas.push(Arc::new(Metainfo::from_bytes(&bytes).unwrap()));
    }
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    let session = Session::start(cfg, CancellationToken::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib();
    let start = Instant::now();
    let handles: Vec<_> = metas
        .iter()
        .map(|m| {
            session
                .add_torrent(m.clone(), dir.path().to_path_buf(), AddOptions::default())
                .unwrap()
        })
        .collect();
    for h in &handles {
        let mut rx = h.subscribe();
        rx.wait_for(|s| s.state == TorrentState::Seeding)
            .await
            .unwrap();
    }
    let ready = start.elapsed();
    // Let read caches and check buffers go idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib();
    let hashes_kib = (n * pieces * 20) as f64 / 1024.0;
    let per = (after.saturating_sub(before) as f64 - hashes_kib) / n as f64;
    println!(
        "{n} torrents x {pieces} pieces seeding after {:.2} s; RSS {before} -> {after} KiB; \
         {per:.1} KiB per idle seeding torrent beyond its piece hashes",
        ready.as_secs_f64()
    );
    let c0 = cpu_secs();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let idle = (cpu_secs() - c0) / 20.0 * 100.0;
    println!("idle CPU with {n} seeding torrents: {idle:.2}% of a core");
    session.shutdown(Duration::from_secs(5)).await;
}
