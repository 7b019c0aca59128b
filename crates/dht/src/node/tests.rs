//! The node alone, fed hand-made datagrams (the network simulation is in `sim`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::krpc::{ErrorReply, Query, Response, Want, code};

mod sim;

fn addr(i: usize) -> SocketAddr {
    let i = u32::try_from(i).unwrap();
    SocketAddr::from((Ipv4Addr::from(0x7f00_0001 + (i << 8) + i % 200), 6881))
}

fn cfg(seed: u64) -> Config {
    Config {
        seed: Some(seed),
        ..Config::default()
    }
}

/// A query message from a fake node.
fn query(tid: &[u8], id: NodeId, kind: QueryKind) -> Vec<u8> {
    Message {
        tid: tid.to_vec(),
        version: None,
        observed_addr: None,
        read_only: true,
        body: Body::Query(Query {
            id,
            want: Want::default(),
            kind,
        }),
    }
    .encode()
}

fn reply(node: &mut Node, now: Instant) -> Message {
    let (_, bytes) = node.poll_transmit(now).expect("an answer");
    Message::decode(&bytes).unwrap()
}

#[test]
fn announce_tokens_are_checked() {
    let now = Instant::now();
    let mut node = Node::new(cfg(3), now);
    let peer = addr(1);
    let me = NodeId([1; 20]);
    let ih = NodeId([2; 20]);
    let announce = |token: &[u8]| {
        query(
            b"an",
            me,
            QueryKind::AnnouncePeer {
                info_hash: ih,
                port: 5000,
                implied_port: false,
                token: token.to_vec(),
            },
        )
    };
    let bad_token = Body::Error(ErrorReply {
        code: code::PROTOCOL,
        message: "bad token".into(),
    });
    node.handle_datagram(now, peer, &announce(b"forged"));
    assert_eq!(reply(&mut node, now).body, bad_token);
    assert_eq!(node.stored_peers(), (0, 0));

    node.handle_datagram(
        now,
        peer,
        &query(b"gp", me, QueryKind::GetPeers { info_hash: ih }),
    );
    let Body::Response(r) = reply(&mut node, now).body else {
        panic!("get_peers answer");
    };
    let token = r.token.expect("a token");
    // The token is bound to the IP.
    node.handle_datagram(now, addr(2), &announce(&token));
    assert_eq!(reply(&mut node, now).body, bad_token);
    node.handle_datagram(now, peer, &announce(&token));
    assert!(matches!(reply(&mut node, now).body, Body::Response(_)));
    assert_eq!(node.stored_peers(), (1, 1));
    // Ten minutes later (two rotations) it has expired.
    let later = now + Duration::from_secs(601);
    node.handle_timeout(now + Duration::from_secs(301));
    node.handle_timeout(later);
    node.handle_datagram(later, peer, &announce(&token));
    assert_eq!(reply(&mut node, later).body, bad_token);
    assert_eq!(node.stats().bad_tokens, 3);
    // The stored peer expires after 30 minutes.
    node.handle_datagram(
        later,
        peer,
        &query(b"gp", me, QueryKind::GetPeers { info_hash: ih }),
    );
    let Body::Response(r) = reply(&mut node, later).body else {
        panic!()
    };
    assert_eq!(r.values, vec![SocketAddr::new(peer.ip(), 5000)]);
    let expired = now + Duration::from_secs(31 * 60);
    node.handle_datagram(
        expired,
        peer,
        &query(b"gp", me, QueryKind::GetPeers { info_hash: ih }),
    );
    let Body::Response(r) = reply(&mut node, expired).body else {
        panic!()
    };
    assert!(r.values.is_empty());
}

#[test]
fn a_flood_from_one_address_is_cut() {
    let now = Instant::now();
    let mut node = Node::new(cfg(4), now);
    let ping = query(b"pp", NodeId([1; 20]), QueryKind::Ping);
    for _ in 0..1000 {
        node.handle_datagram(now, addr(1), &ping);
    }
    node.handle_datagram(now, addr(2), &ping);
    let answers = std::iter::from_fn(|| node.poll_transmit(now)).count();
    let burst = Config::default().per_ip_burst as usize;
    assert_eq!(
        answers,
        burst + 1,
        "the burst of one address, and the other address"
    );
    assert_eq!(node.stats().rate_limited, 1000 - burst as u64);
    // After a second, the address gets its sustained rate again.
    let later = now + Duration::from_secs(1);
    for _ in 0..100 {
        node.handle_datagram(later, addr(1), &ping);
    }
    let answers = std::iter::from_fn(|| node.poll_transmit(later)).count();
    assert_eq!(
        answers,
        Config::default().per_ip_queries_per_second as usize
    );
}

#[test]
fn outgoing_queries_are_rate_limited_and_bounded_in_flight() {
    let start = Instant::now();
    let mut c = cfg(5);
    c.queries_per_second = 10.0;
    c.query_burst = 5.0;
    c.max_in_flight = 12;
    let mut node = Node::new(c, start);
    for i in 1..=100 {
        node.add_node(addr(i));
    }
    for t in 0..50u8 {
        node.start_find_node(NodeId([t; 20])).unwrap();
    }
    let mut sent = Vec::new();
    let mut now = start;
    while now < start + Duration::from_secs(3) {
        while node.poll_transmit(now).is_some() {
            sent.push(now);
        }
        now += Duration::from_millis(10);
    }
    let first_second = sent
        .iter()
        .filter(|t| **t < start + Duration::from_secs(1))
        .count();
    assert!(
        first_second <= 5 + 10 + 1,
        "{first_second} queries in the first second"
    );
    // Nothing answers and the timeout is 4 s: at most max_in_flight were sent.
    assert_eq!(sent.len(), 12);
    // After the timeouts, more go out.
    while now < start + Duration::from_secs(6) {
        while node.poll_transmit(now).is_some() {
            sent.push(now);
        }
        now += Duration::from_millis(10);
    }
    assert!(sent.len() > 12);
    assert!(node.stats().timeouts >= 12);
}

#[test]
fn queries_at_the_limit_go_out_in_batches_and_the_rate_can_be_raised() {
    let start = Instant::now();
    let mut c = cfg(15);
    c.queries_per_second = 50.0;
    c.query_burst = 10.0;
    c.max_in_flight = 1000;
    c.query_timeout = Duration::from_secs(60);
    c.max_lookups = 300;
    let mut node = Node::new(c, start);
    for i in 1..=200 {
        node.add_node(addr(i));
    }
    // Nothing answers: each lookup keeps 3 queries in flight, 750 in all.
    for t in 0..250u8 {
        node.start_find_node(NodeId([t; 20])).unwrap();
    }
    // The burst goes at once.
    let mut now = start;
    let burst = std::iter::from_fn(|| node.poll_transmit(now)).count();
    assert_eq!(burst, 10);
    // Then a tenth of a second's worth (5) at a time: nothing until 5 tokens are saved up.
    let wake = node.next_timeout().unwrap();
    assert!(
        wake >= start + Duration::from_millis(99),
        "{:?}",
        wake - start
    );
    now = start + Duration::from_millis(50);
    assert!(node.poll_transmit(now).is_none(), "one token is no batch");
    let mut sizes = Vec::new();
    while now < start + Duration::from_secs(2) {
        now = node.next_timeout().unwrap().max(now);
        let n = std::iter::from_fn(|| node.poll_transmit(now)).count();
        if n > 0 {
            sizes.push(n);
        }
    }
    assert!(sizes.iter().all(|n| *n == 5), "{sizes:?}");
    assert!((18..=20).contains(&sizes.len()), "{sizes:?}");
    // Four times the rate: batches of 20, four times as many queries a second.
    node.set_query_rate(200.0);
    assert_eq!(node.query_rate(), 200.0);
    let from = now;
    let mut sent = 0;
    while now < from + Duration::from_secs(2) {
        now = node
            .next_timeout()
            .unwrap()
            .max(now + Duration::from_millis(1));
        sent += std::iter::from_fn(|| node.poll_transmit(now)).count();
    }
    assert!(
        (380..=420).contains(&sent),
        "{sent} queries in 2 s at 200/s"
    );
}

#[test]
fn malformed_packets_are_dropped() {
    let now = Instant::now();
    let mut node = Node::new(cfg(6), now);
    let mut bomb = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q1:z".to_vec();
    bomb.extend(std::iter::repeat_n(b'l', 100));
    let junk: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q".to_vec(),
        vec![b'd'; 5000],
        bomb,
        b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe".to_vec(),
        b"i42e".to_vec(),
    ];
    for j in &junk {
        node.handle_datagram(now, addr(1), j);
    }
    assert_eq!(node.poll_transmit(now), None);
    assert_eq!(node.stats().malformed, junk.len() as u64);
}

#[test]
fn answers_claiming_our_id_or_address_and_wrong_tids_are_refused() {
    let now = Instant::now();
    let mut node = Node::new(cfg(7), now);
    let me = addr(0);
    node.add_own_addr(me);
    let bootstrap = addr(1);
    node.add_node(bootstrap);
    let (to, bytes) = node.poll_transmit(now).unwrap();
    assert_eq!(to, bootstrap);
    let q = Message::decode(&bytes).unwrap();
    let mut r = Response::new(NodeId([7; 20]));
    let good = addr(3);
    let SocketAddr::V4(me4) = me else { panic!() };
    let SocketAddr::V4(good4) = good else {
        panic!()
    };
    let SocketAddr::V4(other4) = addr(4) else {
        panic!()
    };
    r.nodes = vec![
        (node.id(), other4),
        (NodeId([8; 20]), me4),
        (NodeId([9; 20]), good4),
    ];
    let answer = |tid: Vec<u8>| {
        Message {
            tid,
            version: None,
            observed_addr: None,
            read_only: false,
            body: Body::Response(r.clone()),
        }
        .encode()
    };
    node.handle_datagram(now, bootstrap, &answer(b"zz".to_vec()));
    node.handle_datagram(now, addr(2), &answer(q.tid.clone()));
    assert_eq!(
        node.stats().unexpected,
        2,
        "unknown tid, and right tid from the wrong address"
    );
    node.handle_datagram(now, bootstrap, &answer(q.tid.clone()));
    assert_eq!(node.stats().refused_self, 2);
    assert_eq!(node.table_sizes().0, 1);
    let sent: Vec<SocketAddr> = std::iter::from_fn(|| node.poll_transmit(now))
        .map(|(a, _)| a)
        .collect();
    assert_eq!(sent, vec![good]);
    // A datagram from our own address is ignored.
    node.handle_datagram(now, me, &query(b"pp", NodeId([5; 20]), QueryKind::Ping));
    assert_eq!(node.poll_transmit(now), None);
}

#[test]
fn node_ids_follow_bep42_for_a_public_address() {
    let now = Instant::now();
    let public: std::net::IpAddr = "203.0.113.7".parse().unwrap();
    let mut c = cfg(8);
    c.public_ip = Some(public);
    let node = Node::new(c.clone(), now);
    assert!(crate::bep42_valid(&node.id(), public));
    c.bep42 = false;
    let random = Node::new(c.clone(), now);
    assert!(
        !crate::bep42_valid(&random.id(), public),
        "a random id (1 in 2^21 chance to match)"
    );
    c.bep42 = true;
    c.public_ip = Some("127.0.0.1".parse().unwrap());
    let loopback = Node::new(c, now);
    let plain = Node::new(cfg(8), now).id();
    assert_eq!(loopback.id(), plain, "loopback is exempt: the random id");
    assert_eq!(random.id(), plain);
}

#[test]
fn mutated_datagrams_never_panic_and_every_answer_is_valid_krpc() {
    let start = Instant::now();
    let mut node = Node::new(cfg(10), start);
    node.add_node(addr(1));
    let (_, first) = node.poll_transmit(start).unwrap();
    let q = Message::decode(&first).unwrap();
    let mut r = Response::new(NodeId([3; 20]));
    let SocketAddr::V4(a4) = addr(2) else {
        panic!()
    };
    r.nodes = vec![(NodeId([4; 20]), a4)];
    r.nodes6 = vec![(NodeId([5; 20]), "[::1]:7".parse().unwrap())];
    r.values = vec![addr(3)];
    r.token = Some(b"tk".to_vec());
    let response = Message {
        tid: q.tid.clone(),
        version: None,
        observed_addr: Some(addr(9)),
        read_only: false,
        body: Body::Response(r),
    }
    .encode();
    let me = NodeId([1; 20]);
    let templates = [
        response,
        query(b"aa", me, QueryKind::Ping),
        query(b"ab", me, QueryKind::FindNode { target: me }),
        query(b"ac", me, QueryKind::GetPeers { info_hash: me }),
        query(
            b"ad",
            me,
            QueryKind::AnnouncePeer {
                info_hash: me,
                port: 1,
                implied_port: true,
                token: b"x".to_vec(),
            },
        ),
        b"d1:eli201e3:bade1:t2:aa1:y1:ee".to_vec(),
    ];
    let mut rng = fastrand::Rng::with_seed(11);
    let mut now = start;
    for _ in 0..20_000 {
        let mut d = templates[rng.usize(..templates.len())].clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..d.len());
            match rng.u8(..4) {
                0 => d[i] = rng.u8(..),
                1 => d.truncate(i),
                2 => d.insert(i, rng.u8(..)),
                _ => d[i] = b"0123456789:deil"[rng.usize(..15)],
            }
            if d.is_empty() {
                break;
            }
        }
        now += Duration::from_millis(rng.u64(..50));
        node.handle_datagram(now, addr(rng.usize(1..5)), &d);
        while let Some((_, bytes)) = node.poll_transmit(now) {
            Message::decode(&bytes).expect("we only send valid KRPC");
        }
        while node.poll_event().is_some() {}
    }
    assert!(node.stats().malformed > 1000);
    assert!(node.stats().queries_answered > 100);
}

#[test]
fn public_nodes_cannot_point_us_at_loopback_or_lan_addresses() {
    // In memory only: TEST-NET-3 addresses (RFC 5737) stand for public nodes.
    let now = Instant::now();
    let mut node = Node::new(cfg(12), now);
    let public: SocketAddr = "203.0.113.5:6881".parse().unwrap();
    let info_hash = NodeId([6; 20]);
    node.add_node(public);
    // The table is empty: the lookup starts from the bootstrap address too.
    node.start_get_peers(info_hash, None).unwrap();
    let queries: Vec<Message> = std::iter::from_fn(|| node.poll_transmit(now))
        .map(|(to, b)| {
            assert_eq!(to, public);
            Message::decode(&b).unwrap()
        })
        .collect();
    let get_peers = queries
        .iter()
        .find(|m| matches!(&m.body, Body::Query(q) if matches!(q.kind, QueryKind::GetPeers { .. })))
        .expect("a get_peers query");
    let mut r = Response::new(NodeId([7; 20]));
    r.nodes = vec![
        (NodeId([8; 20]), "127.0.0.9:6881".parse().unwrap()),
        (NodeId([9; 20]), "203.0.113.6:6881".parse().unwrap()),
    ];
    r.values = vec![
        "10.0.0.1:1".parse().unwrap(),
        "203.0.113.7:2".parse().unwrap(),
    ];
    r.token = Some(b"t".to_vec());
    let answer = Message {
        tid: get_peers.tid.clone(),
        version: None,
        observed_addr: None,
        read_only: false,
        body: Body::Response(r),
    };
    node.handle_datagram(now, public, &answer.encode());
    assert_eq!(node.stats().refused_local, 2);
    let peers: Vec<SocketAddr> = std::iter::from_fn(|| node.poll_event())
        .filter_map(|e| match e {
            Event::Peers { peers, .. } => Some(peers),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(peers, vec!["203.0.113.7:2".parse::<SocketAddr>().unwrap()]);
    let next: Vec<SocketAddr> = std::iter::from_fn(|| node.poll_transmit(now))
        .map(|(a, _)| a)
        .collect();
    assert!(next.contains(&"203.0.113.6:6881".parse().unwrap()));
    assert!(!next.iter().any(|a| a.ip().is_loopback()));
}

#[test]
fn loopback_nodes_are_not_handed_to_public_queriers() {
    let now = Instant::now();
    let mut node = Node::new(cfg(13), now);
    let local = addr(2);
    node.add_node(local);
    let (_, q) = node.poll_transmit(now).unwrap();
    let q = Message::decode(&q).unwrap();
    let answer = Message {
        tid: q.tid,
        version: None,
        observed_addr: None,
        read_only: false,
        body: Body::Response(Response::new(NodeId([2; 20]))),
    };
    node.handle_datagram(now, local, &answer.encode());
    assert_eq!(node.table_sizes().0, 1);
    let find = query(
        b"fn",
        NodeId([3; 20]),
        QueryKind::FindNode {
            target: NodeId([2; 20]),
        },
    );
    let nodes_for = |node: &mut Node, from: &str| {
        node.handle_datagram(now, from.parse().unwrap(), &find);
        let Body::Response(r) = reply(node, now).body else {
            panic!("find_node answer")
        };
        r.nodes.len()
    };
    assert_eq!(nodes_for(&mut node, "127.0.0.3:6881"), 1);
    // In memory only: a TEST-NET-3 address (RFC 5737) stands for a public node.
    assert_eq!(nodes_for(&mut node, "203.0.113.5:6881"), 0);
}
