//! Issue 17: one hostile host (127.0.0.2) attacks a seeding session while python3-libtorrent
//! (127.0.0.1) downloads from it; the real client must complete with the right SHA-256 within
//! [`BOUND`] while the attack runs. Each test fails on the code before the fix (noted per test).

#![allow(clippy::unwrap_used)]

#[path = "support/hostile_host.rs"]
mod hostile_host;

use std::net::SocketAddr;
use std::time::Duration;

use engine::SessionConfig;
use hostile_host::{Seeded, drain, encode, rss_bytes};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use wire::{ExtensionHandshake, PexMessage};

/// How long the real client may take for the 4 MiB torrent while the attack runs.
const BOUND: Duration = Duration::from_secs(60);
const SIZE: u64 = 4 << 20;
const PIECE: u32 = 64 * 1024;

/// Eight peers handshake and go silent, filling the torrent's eight slots. Before the fix the
/// 1 s tick re-armed the idle timeout, so they were never dropped and libtorrent was locked
/// out; now they go after `peer_idle_timeout` (3 s here) and libtorrent gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_are_dropped_and_a_real_client_gets_in() {
    let cfg = SessionConfig {
        max_peers_per_torrent: 8,
        max_connections_per_ip: 64,
        max_half_open_per_ip: 64,
        peer_idle_timeout: Duration::from_secs(3),
        // libtorrent waits a minute before retrying a peer that hung up on it; the seed
        // re-announces every 10 s and dials it once the silent peers are gone.
        max_announce_interval: Duration::from_secs(10),
        ..SessionConfig::default()
    };
    let seed = Seeded::start("dos-silent", SIZE, PIECE, cfg).await;
    let cancel = CancellationToken::new();
    let mut silent = Vec::new();
    for n in 0..8 {
        let c = seed.handshaken(n).await.unwrap();
        silent.push(tokio::spawn(drain(c, cancel.clone())));
    }
    let took = seed.real_client_completes("lt-silent", BOUND).await;
    for s in silent {
        tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .expect("a silent peer was still connected after the real client finished")
            .unwrap();
    }
    eprintln!("libtorrent completed in {took:?} past 8 silent peers");
}

/// A peer floods PEX: 3,000 messages of 100 addresses (300,000 in all, every one on 127/8).
/// Before the fix each address scanned the dial queue (quadratic: the torrent task was busy
/// for minutes and admitted nobody). Now one message per 30 s is taken, the table is bounded
/// and inserts are O(1). Memory: the process grows by less than 100 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pex_flood_does_not_stall_the_torrent() {
    let seed = Seeded::start("dos-pex", SIZE, PIECE, SessionConfig::default()).await;
    let before = rss_bytes();
    let mut c = seed.handshaken(1).await.unwrap();
    let hs = ExtensionHandshake {
        m: vec![(wire::PEX_EXTENSION.to_string(), 1)],
        ..ExtensionHandshake::default()
    };
    c.write_all(&encode(hs.to_message())).await.unwrap();
    // Our PEX id towards the seed: the one the seed advertises (btmirror uses 1).
    let flood = tokio::spawn(async move {
        for m in 0..3000u32 {
            let added: Vec<SocketAddr> = (0..100u32)
                .map(|i| {
                    let n = m * 100 + i;
                    let ip = std::net::Ipv4Addr::new(
                        127,
                        100 + (n >> 16) as u8,
                        (n >> 8) as u8,
                        n as u8,
                    );
                    SocketAddr::from((ip, 20_000 + (n % 1000) as u16))
                })
                .collect();
            let payload = PexMessage {
                added,
                ..PexMessage::default()
            }
            .encode();
            let msg = wire::Message::Extended { id: 1, payload };
            if c.write_all(&encode(msg)).await.is_err() {
                return;
            }
        }
        // Stay connected, reading, while the real client downloads.
        drain(c, CancellationToken::new()).await;
    });
    let took = seed.real_client_completes("lt-pex", BOUND).await;
    let grown = rss_bytes().saturating_sub(before);
    flood.abort();
    assert!(grown < 100 << 20, "RSS grew by {} MiB", grown >> 20);
    eprintln!(
        "libtorrent completed in {took:?} during a PEX flood; RSS +{} MiB",
        grown >> 20
    );
}

/// 300 sockets from one address that never send a byte, each reopened as soon as it closes,
/// against a session with 100 connection slots. Before the fix each held a global slot for
/// 10 s before its handshake and libtorrent was locked out; now one address gets 8 half-open
/// slots (for 5 s) and the global slot is taken only after the handshake head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_one_address_do_not_take_the_slots() {
    let cfg = SessionConfig {
        max_connections: 100,
        ..SessionConfig::default()
    };
    let seed = Seeded::start("dos-idle-sockets", SIZE, PIECE, cfg).await;
    let cancel = CancellationToken::new();
    let mut attackers = Vec::new();
    for _ in 0..300 {
        let target = seed.addr();
        let cancel = cancel.clone();
        attackers.push(tokio::spawn(async move {
            while !cancel.is_cancelled() {
                if let Ok(c) = hostile_host::connect_from_hostile(target).await {
                    drain(c, cancel.clone()).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let took = seed.real_client_completes("lt-idle-sockets", BOUND).await;
    cancel.cancel();
    for a in attackers {
        let _ = a.await;
    }
    eprintln!("libtorrent completed in {took:?} past 300 idle sockets");
}
