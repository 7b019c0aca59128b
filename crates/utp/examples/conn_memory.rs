//! Memory per uTP connection (issue 11): N connections between two in-process endpoints, with
//! the datagrams carried in memory, measured by the process's resident memory (`/proc`).
//!
//! 1. idle: every connection established, nothing sent;
//! 2. loaded: each side wrote as much as its send buffer takes, and the receiver got it (so
//!    the receive buffers are full too, unread): the most a connection can hold.
//!
//! usage: cargo run --release -p btmirror-utp --example conn_memory [N]   (default 500)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use utp::{Config, Endpoint};

/// Resident set size of this process in bytes (`/proc/self/statm`, 4 KiB pages).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Carries datagrams both ways until neither endpoint has any to send.
fn pump(a: &mut Endpoint, a_addr: SocketAddr, b: &mut Endpoint, b_addr: SocketAddr, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now) {
            b.handle_datagram(now, a_addr, &t.payload);
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            a.handle_datagram(now, b_addr, &t.payload);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let config = Config {
        max_connections: n + 16,
        max_half_open: n + 16,
        max_half_open_per_ip: n + 16,
        accept_backlog: n + 16,
        ..Config::default()
    };
    let (send_buffer, recv_buffer) = (config.send_buffer, config.recv_buffer);
    let mut now = Instant::now();
    let a_addr: SocketAddr = "127.0.0.1:6881".parse().expect("an address");
    let b_addr: SocketAddr = "127.0.0.1:6882".parse().expect("an address");
    let mut a = Endpoint::new(config.clone(), now, 1);
    let mut b = Endpoint::new(config, now, 2);
    let before = rss();

    let mut dialled = Vec::with_capacity(n);
    for _ in 0..n {
        dialled.push(a.connect(now, b_addr).expect("room for every connection"));
        pump(&mut a, a_addr, &mut b, b_addr, now);
    }
    let mut accepted = Vec::with_capacity(n);
    while let Some(h) = b.accept() {
        accepted.push(h);
    }
    // The accepting side is established once it has seen data: one byte each way.
    for &h in &dialled {
        if let Some(c) = a.connection(h) {
            let _ = c.write(b"x");
        }
    }
    pump(&mut a, a_addr, &mut b, b_addr, now);
    let mut byte = [0u8; 1];
    for &h in &accepted {
        if let Some(c) = b.connection(h) {
            let _ = c.read(&mut byte);
        }
    }
    let established = dialled
        .iter()
        .filter(|&&h| a.connection(h).is_some_and(|c| c.is_established()))
        .count();
    let idle = rss();

    // Fill: write until the send buffers are full, deliver (acks free the sender), repeat
    // until the receivers, which read nothing, close their windows.
    let chunk = vec![0x5au8; 64 << 10];
    for _round in 0..64 {
        let mut wrote = 0;
        for &h in &dialled {
            if let Some(c) = a.connection(h) {
                while let Ok(k) = c.write(&chunk) {
                    if k == 0 {
                        break;
                    }
                    wrote += k;
                }
            }
        }
        now += Duration::from_millis(50);
        a.handle_timeout(now);
        b.handle_timeout(now);
        pump(&mut a, a_addr, &mut b, b_addr, now);
        if wrote == 0 {
            break;
        }
    }
    let loaded = rss();
    let held = a.buffered_bytes() + b.buffered_bytes();

    let per = |bytes: usize| bytes as f64 / n as f64 / 1024.0;
    println!(
        "uTP memory per connection, {n} connections ({established} established), both ends in one process:"
    );
    println!(
        "  idle (established, nothing sent):   {:>8.1} KiB per connection (both ends)",
        per(idle.saturating_sub(before))
    );
    println!(
        "  loaded (send and receive buffers full): {:>5.1} KiB per connection (both ends); {:.1} KiB of payload buffered",
        per(loaded.saturating_sub(before)),
        per(held)
    );
    println!(
        "  bound by the config: send buffer {} KiB + receive buffer {} KiB per end",
        send_buffer >> 10,
        recv_buffer >> 10
    );
}
