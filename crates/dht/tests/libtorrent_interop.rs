//! Our node in a private loopback DHT with three python3-libtorrent sessions
//! (tests/scripts/lt_dht.py): it finds a libtorrent seed's address with get_peers, and a
//! libtorrent session's `dht_get_peers` finds what we announced. Skipped (loudly) when
//! /usr/bin/python3 has no libtorrent. Everything stays on 127.0.0.1.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dht::{Config, Event, Node, NodeId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const PYTHON: &str = "/usr/bin/python3";

fn libtorrent_available() -> bool {
    std::process::Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Our node on a UDP socket, plus the lines the script prints.
struct Driver {
    node: Node,
    socket: UdpSocket,
    lines: mpsc::UnboundedReceiver<String>,
    events: Vec<Event>,
    got: Vec<String>,
}

impl Driver {
    /// Runs the node until `done` holds for the events and script lines so far, or `limit`.
    async fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[Event], &[String]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            while let Some((to, bytes)) = self.node.poll_transmit(now) {
                assert!(to.ip().is_loopback(), "a datagram for {to}");
                self.socket.send_to(&bytes, to).await.expect("send");
            }
            while let Some(e) = self.node.poll_event() {
                self.events.push(e);
            }
            if done(&self.events, &self.got) {
                return true;
            }
            if now >= deadline {
                return false;
            }
            let wake = self
                .node
                .next_timeout()
                .unwrap_or(deadline)
                .min(deadline)
                .max(now + Duration::from_millis(5));
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    let (n, from) = r.expect("recv");
                    if dht::is_dht_packet(&buf[..n]) {
                        self.node.handle_datagram(Instant::now(), from, &buf[..n]);
                    }
                }
                line = self.lines.recv() => {
                    if let Some(line) = line {
                        eprintln!("lt_dht.py: {line}");
                        self.got.push(line);
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }
}

async fn send(child: &mut Child, line: &str) {
    let stdin = child.stdin.as_mut().expect("stdin");
    stdin
        .write_all(format!("{line}\n").as_bytes())
        .await
        .expect("write to the script");
    stdin.flush().await.expect("flush");
}

#[tokio::test(flavor = "current_thread")]
async fn libtorrent_and_our_node_find_each_others_peers() {
    if !libtorrent_available() {
        eprintln!("SKIPPED: {PYTHON} cannot import libtorrent (install python3-libtorrent)");
        return;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = socket.local_addr().expect("local addr");
    let mut cfg = Config::default();
    cfg.seed = Some(42);
    // Every libtorrent session shares 127.0.0.1.
    cfg.per_ip_queries_per_second = 1000.0;
    cfg.per_ip_burst = 1000.0;
    let mut node = Node::new(cfg, Instant::now());
    node.add_own_addr(local);

    let dir = tempfile::tempdir().expect("tempdir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/lt_dht.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .arg(local.port().to_string())
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start lt_dht.py");
    let (tx, lines) = mpsc::unbounded_channel();
    let stdout = child.stdout.take().expect("stdout");
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut d = Driver {
        node,
        socket,
        lines,
        events: Vec::new(),
        got: Vec::new(),
    };

    assert!(
        d.run_until(Duration::from_secs(30), |_, got| got
            .iter()
            .any(|l| l.starts_with("SEED ")))
            .await,
        "lt_dht.py did not start"
    );
    let seed_line = d
        .got
        .iter()
        .find(|l| l.starts_with("SEED "))
        .cloned()
        .unwrap_or_default();
    let parts: Vec<&str> = seed_line.split_whitespace().collect();
    let seed_port: u16 = parts[1].parse().expect("seed port");
    let info_hash = NodeId::from_slice(&hex(parts[2])).expect("info-hash");
    let seed = SocketAddr::from(([127, 0, 0, 1], seed_port));

    // 1. libtorrent's seed announced itself; our get_peers finds it at another node.
    let mut found = false;
    for _ in 0..20 {
        let Some(lookup) = d.node.start_get_peers(info_hash, None) else {
            break;
        };
        found = d
            .run_until(Duration::from_secs(3), |events, _| {
                events.iter().any(|e| {
                    matches!(e,
                    Event::Peers { lookup: l, peers, .. } if *l == lookup && peers.contains(&seed))
                })
            })
            .await;
        if found {
            break;
        }
    }
    assert!(
        found,
        "our get_peers never found libtorrent's seed {seed}; tables {:?}",
        d.node.table_sizes()
    );
    assert!(
        d.node.table_sizes().0 >= 3,
        "the three sessions are in our table"
    );

    // 2. We announce a port for another info-hash; libtorrent's dht_get_peers finds it.
    let ours = NodeId([0x5a; 20]);
    let port = 45678;
    let lookup = d.node.start_get_peers(ours, Some(port)).expect("lookup");
    let mut acked = 0;
    assert!(
        d.run_until(Duration::from_secs(30), |events, _| {
            events.iter().any(|e| match e {
                Event::AnnounceDone {
                    lookup: l,
                    acked: a,
                    ..
                } if *l == lookup => {
                    acked = *a;
                    true
                }
                _ => false,
            })
        })
        .await,
        "our announce did not finish"
    );
    assert!(
        acked >= 2,
        "libtorrent nodes accepted our announce: {acked}"
    );
    let hash_hex: String = ours.0.iter().map(|b| format!("{b:02x}")).collect();
    send(&mut child, &format!("GET {hash_hex} {port}")).await;
    assert!(
        d.run_until(Duration::from_secs(70), |_, got| {
            got.iter()
                .any(|l| l == "NOTFOUND" || l == &format!("FOUND {port}"))
        })
        .await,
        "lt_dht.py never answered"
    );
    assert!(
        d.got.contains(&format!("FOUND {port}")),
        "libtorrent did not find our announce"
    );
    send(&mut child, "QUIT").await;
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
