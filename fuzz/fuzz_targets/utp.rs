//! The uTP packet decoder never panics and what it decodes re-encodes to the same header; an
//! Endpoint fed any sequence of datagrams, timer jumps, connects, writes and reads (including
//! mutated copies of its own datagrams, so packets reach live connections) never panics, never
//! loops in poll_transmit, never leaves a deadline due once its timers ran (a driver would
//! spin), and keeps its connections and buffers within the configured bounds.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use utp::packet::Header;
use utp::{Config, ConnectionHandle, Endpoint};

fn config() -> Config {
    Config {
        send_buffer: 8192,
        recv_buffer: 8192,
        max_reorder_packets: 16,
        max_connections: 8,
        max_half_open: 4,
        max_half_open_per_ip: 2,
        accept_backlog: 2,
        ..Config::default()
    }
}

fn check_codec(data: &[u8]) {
    if let Ok((header, payload)) = Header::decode(data) {
        let mut out = Vec::new();
        header.encode(&mut out);
        assert_eq!(out.len(), header.encoded_len());
        out.extend_from_slice(payload);
        let (again, rest) = Header::decode(&out).expect("our encoding decodes");
        assert_eq!(again, header);
        assert_eq!(rest, payload);
    }
}

fuzz_target!(|data: &[u8]| {
    check_codec(data);
    let config = config();
    let start = Instant::now();
    let mut now = start;
    let mut ep = Endpoint::new(config.clone(), now, 7);
    let peers: Vec<SocketAddr> = (1..=4u16).map(|p| SocketAddr::from(([127, 0, 0, 1], p))).collect();
    let mut handles: Vec<ConnectionHandle> = Vec::new();
    let mut last_sent: Option<(SocketAddr, Vec<u8>)> = None;
    let mut buf = [0u8; 4096];
    let mut input = data;
    while let [op, arg, rest @ ..] = input {
        input = rest;
        let peer = peers[usize::from(*arg) % peers.len()];
        match op % 7 {
            0 => {
                let len = usize::from(*arg).min(input.len());
                ep.handle_datagram(now, peer, &input[..len]);
                input = &input[len..];
            }
            1 => {
                now += Duration::from_millis(u64::from(*arg) * 37);
                ep.handle_timeout(now);
            }
            2 => {
                ep.handle_timeout(now);
                let mut n = 0;
                while let Some(t) = ep.poll_transmit(now) {
                    n += 1;
                    assert!(n < 10_000, "poll_transmit does not run dry");
                    last_sent = Some((t.destination, t.payload));
                }
                // nothing due any more: a driver sleeping until next_timeout must not spin
                assert!(ep.next_timeout().is_none_or(|t| t > now));
            }
            3 => {
                if let Ok(h) = ep.connect(now, peer) {
                    handles.push(h);
                }
            }
            4 => {
                while let Some(h) = ep.accept() {
                    handles.push(h);
                }
                for h in &handles {
                    if let Some(c) = ep.connection(*h) {
                        let _ = c.write(&buf[..usize::from(*arg) * 8]);
                    }
                }
            }
            5 => {
                for h in &handles {
                    if let Some(c) = ep.connection(*h) {
                        let _ = c.read(&mut buf);
                        if arg & 1 == 1 {
                            c.shutdown();
                        }
                    }
                }
                if arg & 0x80 != 0 {
                    if let Some(h) = handles.pop() {
                        ep.release(now, h);
                    }
                }
            }
            _ => {
                // our last datagram comes back from its destination, one byte changed
                if let Some((to, mut d)) = last_sent.clone() {
                    if let Some(first) = input.first() {
                        let at = usize::from(*first) % d.len().max(1);
                        if let Some(b) = d.get_mut(at) {
                            *b ^= *arg;
                        }
                        input = &input[1..];
                    }
                    ep.handle_datagram(now, to, &d);
                }
            }
        }
        assert!(ep.len() <= config.max_connections);
        assert!(ep.buffered_bytes() <= ep.len() * (config.send_buffer + config.recv_buffer));
    }
});
