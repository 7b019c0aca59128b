//! Benchmark: memory of idle seeding torrents at real sizes.
//!
//! `cargo run --release -p btmirror-engine --example idle_memory -- [N]` adds N seeding
//! torrents to one session, waits until all are seeding with no peers, and prints the resident
//! memory per torrent and per piece, and the CPU the idle torrents use over 20 s.
//!
//! Environment: `FILE_SIZE` (bytes per torrent, default 1 MiB) and `PIECE` (piece size, default
//! 16384). The data is one sparse file hard-linked under N names, and the N torrents differ only
//! in their name, so 1,000 torrents of 1 GiB in 64 KiB pieces cost one hashing pass of 1 GiB.
//! Each torrent's hashes can be read again from its `.torrent` file, as in the daemon.
//! `CHECK=1` makes every torrent check its data; by default they start from trusted resume data
//! (all pieces present), as a daemon restart does. `ANNOUNCE` sets the tracker URL.
//! The goal: 10,000 torrents of 16,000+ pieces in under 300 MiB.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{AddOptions, Session, SessionConfig, TorrentState};
use metainfo::{Bitfield, CreateOptions, Metainfo};
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

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The name of torrent `i`: all the same length, so the .torrent bytes differ only there.
fn name(i: usize) -> String {
    format!("t{i:07}.bin")
}

/// N torrents over one sparse file hard-linked under N names in `dir`.
fn make_torrents(dir: &std::path::Path, n: usize, size: u64, piece: u32) -> Vec<Arc<Metainfo>> {
    let first = dir.join(name(0));
    std::fs::File::create(&first)
        .unwrap()
        .set_len(size)
        .unwrap();
    let opts = CreateOptions {
        announce: std::env::var("ANNOUNCE").unwrap_or_default(),
        piece_length: Some(piece),
        ..CreateOptions::default()
    };
    let bytes = metainfo::create_torrent(&first, &opts, &|_, _| {}).unwrap();
    let template = name(0).into_bytes();
    let at = bytes
        .windows(template.len())
        .position(|w| w == template.as_slice())
        .unwrap();
    (0..n)
        .map(|i| {
            let nm = name(i);
            if i > 0 {
                std::fs::hard_link(&first, dir.join(&nm)).unwrap();
            }
            let mut b = bytes.clone();
            b[at..at + template.len()].copy_from_slice(nm.as_bytes());
            // As the daemon does: the hashes may be dropped and read again from the file.
            let file = dir.join(format!("{nm}.torrent"));
            std::fs::write(&file, &b).unwrap();
            Arc::new(Metainfo::from_bytes(&b).unwrap().with_hash_source(file))
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let piece = env_u64("PIECE", 16384) as u32;
    let size = env_u64("FILE_SIZE", 1 << 20);
    let check = std::env::var("CHECK").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();
    // Measured before the torrents are parsed (their hashes count, until they are released).
    let before = rss_kib();
    let metas = make_torrents(dir.path(), n, size, piece);
    let pieces = metas[0].info.piece_count() as usize;
    let cfg = SessionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SessionConfig::default()
    };
    let session = Session::start(cfg, CancellationToken::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let handles: Vec<_> = metas
        .iter()
        .map(|m| {
            let opts = AddOptions {
                have: (!check).then(|| Bitfield::full(m.info.piece_count())),
                ..AddOptions::default()
            };
            session
                .add_torrent(m.clone(), dir.path().to_path_buf(), opts)
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
    let grown = after.saturating_sub(before) as f64 * 1024.0;
    let loaded = metas.iter().filter(|m| m.info.pieces.is_loaded()).count();
    println!(
        "{n} torrents x {pieces} pieces of {piece} B seeding after {:.2} s ({}); \
         RSS {before} -> {after} KiB; piece hashes in memory for {loaded} torrents",
        ready.as_secs_f64(),
        if check { "checked" } else { "from resume data" },
    );
    println!(
        "per torrent: {:.1} KiB; per piece: {:.2} bytes",
        grown / n as f64 / 1024.0,
        grown / (n * pieces) as f64,
    );
    let c0 = cpu_secs();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let idle = (cpu_secs() - c0) / 20.0 * 100.0;
    println!("idle CPU with {n} seeding torrents: {idle:.2}% of a core");
    drop(metas);
    session.shutdown(Duration::from_secs(5)).await;
}
