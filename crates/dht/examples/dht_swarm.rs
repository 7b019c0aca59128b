//! Benchmark helper: a loopback DHT of many [`dht::Node`]s, one UDP socket each, for
//! `bench/dht.sh` (issue 12).
//!
//! `cargo run --release -p btmirror-dht --example dht_swarm -- [--nodes N] [--port P]
//! [--addrs FILE] [--report SECS]` binds N sockets (default 300), node `i` on
//! `127.0.X.Y:P` with its own address in 127/8 (X = 1 + i / 250, Y = 1 + i % 250, so that the
//! nodes have distinct IPs like on the Internet; any 127/8 address is loopback on Linux),
//! `P` = 0 (the default) picks a free port per socket. It writes the N addresses to FILE, one a
//! line (the first is the bootstrap node everybody else starts from), prints `ready`, then
//! answers queries until killed, and every SECS seconds (default 5) prints one line to stderr:
//! routing-table sizes, info-hashes and peers stored, queries sent, answered and refused by
//! the per-IP limit.
//!
//! Nothing is sent anywhere but to the swarm's own addresses and to whoever queries it: no
//! bootstrap list is built into the `dht` crate. The per-IP query limit is raised (the
//! btmirror and libtorrent nodes under test all talk from 127.0.0.1); the rest are the
//! crate's defaults.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use dht::{Config, Node};
use tokio::net::UdpSocket;

/// The address of node `i` (port 0 until bound).
fn ip_of(i: usize) -> Ipv4Addr {
    let x = u8::try_from(1 + i / 250).expect("at most 63,750 nodes");
    let y = u8::try_from(1 + i % 250).unwrap();
    Ipv4Addr::new(127, 0, x, y)
}

struct Args {
    nodes: usize,
    port: u16,
    addrs: Option<String>,
    report: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        nodes: 300,
        port: 0,
        addrs: None,
        report: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} wants a value"));
        match k.as_str() {
            "--nodes" => a.nodes = v.parse().unwrap(),
            "--port" => a.port = v.parse().unwrap(),
            "--addrs" => a.addrs = Some(v),
            "--report" => a.report = v.parse().unwrap(),
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(a.nodes >= 2, "--nodes must be at least 2");
    a
}

/// Drives one node on its socket until the process ends.
async fn run_node(node: Rc<RefCell<Node>>, sock: UdpSocket) {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    loop {
        let now = Instant::now();
        {
            let mut n = node.borrow_mut();
            while let Some(t) = n.poll_transmit(now) {
                out.push(t);
            }
            while n.poll_event().is_some() {}
        }
        for (to, bytes) in out.drain(..) {
            let _ = sock.send_to(&bytes, to).await;
        }
        let next = node
            .borrow()
            .next_timeout()
            .unwrap_or(now + Duration::from_secs(1));
        // Everything due was just handled: never spin on a deadline already past.
        let next = next.max(Instant::now() + Duration::from_millis(1));
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                if let Ok((len, from)) = r {
                    node.borrow_mut().handle_datagram(Instant::now(), from, &buf[..len]);
                }
            }
            () = tokio::time::sleep_until(next.into()) => {
                node.borrow_mut().handle_timeout(Instant::now());
            }
        }
    }
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let start = Instant::now();
        let mut socks = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..args.nodes {
            let s = UdpSocket::bind((ip_of(i), args.port)).await.unwrap();
            addrs.push(s.local_addr().unwrap());
            socks.push(s);
        }
        let mut nodes = Vec::new();
        for (i, sock) in socks.into_iter().enumerate() {
            let mut cfg = Config::default();
            cfg.ipv6 = false;
            cfg.per_ip_queries_per_second = 1_000.0;
            cfg.per_ip_burst = 2_000.0;
            let mut node = Node::new(cfg, Instant::now());
            node.add_own_addr(addrs[i]);
            // Everybody starts from node 0 (a router), node 0 from node 1.
            node.add_node(if i == 0 { addrs[1] } else { addrs[0] });
            let node = Rc::new(RefCell::new(node));
            nodes.push(node.clone());
            tokio::task::spawn_local(run_node(node, sock));
        }
        if let Some(path) = &args.addrs {
            let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
            std::fs::write(path, text).unwrap();
        }
        println!("ready {} nodes, bootstrap {}", args.nodes, addrs[0]);
        let mut tick = tokio::time::interval(Duration::from_secs(args.report));
        tick.tick().await;
        loop {
            tick.tick().await;
            let (mut table, mut min_table, mut hashes, mut peers) = (0, usize::MAX, 0, 0);
            let (mut sent, mut answered, mut limited) = (0u64, 0u64, 0u64);
            for n in &nodes {
                let n = n.borrow();
                let (v4, _) = n.table_sizes();
                table += v4;
                min_table = min_table.min(v4);
                let (h, p) = n.stored_peers();
                hashes += h;
                peers += p;
                let s = n.stats();
                sent += s.queries_sent;
                answered += s.queries_answered;
                limited += s.rate_limited;
            }
            eprintln!(
                "swarm t={}s table avg {:.1} min {} | stored info-hashes {} peers {} | queries sent {} answered {} rate-limited {}",
                start.elapsed().as_secs(),
                table as f64 / nodes.len() as f64,
                min_table,
                hashes,
                peers,
                sent,
                answered,
                limited
            );
        }
    });
}
