//! A simulated network of in-memory nodes: seeded RNG, simulated time, 100 ms steps. Nodes
//! may have an IPv4 and an IPv6 address (the IPv6 ones all on ::1, different ports).

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::{addr, cfg};
use crate::table::K;
use crate::{Config, Event, Node, NodeId};

fn addr6(i: usize) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, 10_000 + u16::try_from(i).unwrap()))
}

/// Nodes that deliver datagrams to each other at the end of each 100 ms step.
struct Net {
    nodes: Vec<Node>,
    /// Each node's addresses (one per family it has).
    addrs: Vec<Vec<SocketAddr>>,
    index: HashMap<SocketAddr, usize>,
    now: Instant,
    events: Vec<Vec<Event>>,
}

impl Net {
    fn new(n: usize, seed: u64) -> Net {
        Net::with(n, seed, false)
    }

    fn with(n: usize, seed: u64, dual_stack: bool) -> Net {
        let now = Instant::now();
        let mut net = Net {
            nodes: Vec::new(),
            addrs: Vec::new(),
            index: HashMap::new(),
            now,
            events: vec![Vec::new(); n],
        };
        for i in 0..n {
            let mut c: Config = cfg(seed * 1000 + i as u64);
            let mut mine = vec![addr(i)];
            if dual_stack {
                // All IPv6 nodes share ::1, so lift the per-IP limit.
                c.per_ip_queries_per_second = 10_000.0;
                c.per_ip_burst = 10_000.0;
                mine.push(addr6(i));
            } else {
                c.ipv6 = false;
            }
            let mut node = Node::new(c, now);
            for a in &mine {
                node.add_own_addr(*a);
                net.index.insert(*a, i);
            }
            net.nodes.push(node);
            net.addrs.push(mine);
        }
        net
    }

    fn step(&mut self) {
        let mut wire = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            while let Some((to, bytes)) = node.poll_transmit(self.now) {
                if let Some(from) = self.addrs[i].iter().find(|a| a.is_ipv4() == to.is_ipv4()) {
                    wire.push((*from, to, bytes));
                }
            }
        }
        self.now += Duration::from_millis(100);
        for (from, to, bytes) in wire {
            if let Some(&j) = self.index.get(&to) {
                self.nodes[j].handle_datagram(self.now, from, &bytes);
            }
        }
        for (i, node) in self.nodes.iter_mut().enumerate() {
            node.handle_timeout(self.now);
            while let Some(e) = node.poll_event() {
                self.events[i].push(e);
            }
        }
    }

    fn bootstrap(&mut self, steps: usize) {
        let first = self.addrs[0].clone();
        for node in &mut self.nodes[1..] {
            for a in &first {
                node.add_node(*a);
            }
        }
        for _ in 0..steps {
            self.step();
        }
    }

    /// Runs until `node`'s events contain one that `f` picks, at most `steps` steps.
    fn wait_for<T>(
        &mut self,
        node: usize,
        steps: usize,
        mut f: impl FnMut(&Event) -> Option<T>,
    ) -> Option<(T, usize)> {
        for step in 1..=steps {
            self.step();
            if let Some(t) = self.events[node].iter().find_map(&mut f) {
                return Some((t, step));
            }
        }
        None
    }
}

#[test]
fn empty_bootstrap_list_sends_nothing_until_told_of_a_node() {
    let mut now = Instant::now();
    let mut node = Node::new(cfg(1), now);
    let lookup = node.start_get_peers(NodeId([9; 20]), Some(6881)).unwrap();
    for _ in 0..3600 {
        assert_eq!(node.poll_transmit(now), None);
        now += Duration::from_secs(1);
    }
    let events: Vec<Event> = std::iter::from_fn(|| node.poll_event()).collect();
    assert!(events.contains(&Event::LookupDone {
        lookup,
        target: NodeId([9; 20]),
        responders: 0,
        peers: 0
    }));
    node.add_node(addr(5));
    let (to, bytes) = node
        .poll_transmit(now)
        .expect("a query once a node is known");
    assert_eq!(to, addr(5));
    assert!(crate::is_dht_packet(&bytes));
}

#[test]
fn bootstrap_from_one_node_fills_the_routing_tables() {
    let mut net = Net::new(150, 1);
    net.bootstrap(300);
    let sizes: Vec<usize> = net.nodes.iter().map(|n| n.table_sizes().0).collect();
    let min = sizes.iter().copied().min().unwrap();
    let avg = sizes.iter().sum::<usize>() / sizes.len();
    assert!(min >= K, "every node knows at least k nodes: {sizes:?}");
    assert!(avg >= 2 * K, "tables fill: average {avg}");
    assert!(net.nodes.iter().all(|n| n.table_sizes().1 == 0));
    assert!(net.nodes[3].save_nodes().len() >= K);
    assert!(
        (1..150).all(|i| net.nodes[i].external_addr() == Some(addr(i))),
        "BEP 42 `ip` votes"
    );
}

#[test]
fn get_peers_finds_a_peer_announced_by_another_node() {
    let mut net = Net::new(200, 2);
    net.bootstrap(300);
    let info_hash = NodeId([0x42; 20]);
    let announcer = 17;
    let a = net.nodes[announcer]
        .start_get_peers(info_hash, Some(7777))
        .unwrap();
    let mut acked = None;
    for _ in 0..100 {
        net.step();
        acked = net.events[announcer].iter().find_map(|e| match e {
            Event::AnnounceDone { lookup, acked, .. } if *lookup == a => Some(*acked),
            _ => None,
        });
        if acked.is_some() {
            break;
        }
    }
    assert!(acked.unwrap_or(0) >= K / 2, "announce accepted: {acked:?}");
    let stored: usize = net.nodes.iter().map(|n| n.stored_peers().1).sum();
    assert_eq!(stored, acked.unwrap_or(0));

    let seeker = 150;
    let want = SocketAddr::new(net.addrs[announcer][0].ip(), 7777);
    let l = net.nodes[seeker].start_get_peers(info_hash, None).unwrap();
    let mut rounds = 0;
    let found = loop {
        net.step();
        rounds += 1;
        let found = net.events[seeker].iter().any(|e| {
            matches!(e, Event::Peers { lookup, peers, .. } if *lookup == l && peers.contains(&want))
        });
        if found || rounds >= 50 {
            break found;
        }
    };
    if !found {
        // Which nodes hold the peer, closest to the info-hash first.
        let mut ids: Vec<(NodeId, usize, usize)> = net
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id().distance(&info_hash), i, n.stored_peers().1))
            .collect();
        ids.sort();
        eprintln!(
            "closest: {:?}",
            &ids[..12].iter().map(|x| (x.1, x.2)).collect::<Vec<_>>()
        );
        eprintln!("seeker events: {:?}", net.events[seeker]);
        eprintln!(
            "seeker table {:?} stats {:?}",
            net.nodes[seeker].table_sizes(),
            net.nodes[seeker].stats()
        );
    }
    assert!(found, "peer not found in {rounds} rounds");
    assert!(rounds <= 10, "took {rounds} rounds");
    for _ in 0..60 {
        net.step();
    }
    assert!(net.events[seeker].iter().any(
        |e| matches!(e, Event::LookupDone { lookup, peers, .. } if *lookup == l && *peers == 1)
    ));
}

#[test]
fn dual_stack_nodes_fill_both_tables_and_find_peers_over_both_families() {
    let mut net = Net::with(80, 3, true);
    net.bootstrap(300);
    let v6: Vec<usize> = net.nodes.iter().map(|n| n.table_sizes().1).collect();
    assert!(
        v6.iter().all(|&n| n >= K),
        "IPv6 tables fill through nodes6: {v6:?}"
    );
    assert!(net.nodes.iter().all(|n| n.table_sizes().0 >= K));

    let info_hash = NodeId([0x66; 20]);
    let announcer = 40;
    let a = net.nodes[announcer]
        .start_get_peers(info_hash, Some(6000))
        .unwrap();
    let acked = net.wait_for(announcer, 100, |e| match e {
        Event::AnnounceDone { lookup, acked, .. } if *lookup == a => Some(*acked),
        _ => None,
    });
    let (acked, _) = acked.expect("announce finished");
    assert!(
        acked > K,
        "announced to both families' closest nodes: {acked}"
    );

    let seeker = 7;
    let l = net.nodes[seeker].start_get_peers(info_hash, None).unwrap();
    net.wait_for(seeker, 100, |e| match e {
        Event::LookupDone { lookup, .. } if *lookup == l => Some(()),
        _ => None,
    })
    .expect("lookup done");
    let found: Vec<SocketAddr> = net.events[seeker]
        .iter()
        .filter_map(|e| match e {
            Event::Peers { lookup, peers, .. } if *lookup == l => Some(peers.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let v4 = SocketAddr::new(net.addrs[announcer][0].ip(), 6000);
    let v6 = SocketAddr::new(net.addrs[announcer][1].ip(), 6000);
    assert!(found.contains(&v4) && found.contains(&v6), "{found:?}");
}

#[test]
fn saved_nodes_bootstrap_a_restarted_node() {
    let mut net = Net::new(60, 4);
    net.bootstrap(300);
    let saved = net.nodes[9].save_nodes();
    assert!(saved.len() >= K);
    // Node 9 restarts with a fresh state and only its saved nodes (not node 0).
    let mut c = cfg(99);
    c.ipv6 = false;
    let mut fresh = Node::new(c, net.now);
    fresh.add_own_addr(addr(9));
    for a in &saved {
        fresh.add_node(*a);
    }
    net.nodes[9] = fresh;
    for _ in 0..100 {
        net.step();
    }
    assert!(net.nodes[9].table_sizes().0 >= K);
}
