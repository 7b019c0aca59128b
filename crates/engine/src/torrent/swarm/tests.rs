use std::net::SocketAddr;
use std::time::Duration;

use metainfo::PeerId;
use tokio::time::Instant;

use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn id(b: u8) -> PeerId {
    PeerId([b; 20])
}

/// A swarm whose own peer id is all 5s, listening on 127.0.0.1:6881.
fn swarm() -> Swarm<()> {
    Swarm::new(id(5), addr("127.0.0.1:6881"), 6881)
}

/// Connects `peer_id` at `a` as if its handshake just completed.
fn connect(s: &mut Swarm<()>, peer_id: PeerId, a: SocketAddr, outgoing: bool) -> PeerKey {
    if outgoing {
        s.add_candidates(vec![a]);
        assert_eq!(s.next_dial(false, 50), Some(a));
        s.dialing(a);
    } else {
        assert!(s.accept_incoming(a, 50));
    }
    let adm = s.admit(peer_id, a, outgoing, true);
    assert!(adm.verdict.is_ok(), "{:?}", adm.verdict);
    s.insert(a, peer_id, outgoing, ())
}

#[test]
fn candidates_skip_ourselves_port_zero_and_duplicates() {
    let mut s = swarm();
    s.add_candidates(vec![
        addr("127.0.0.1:6881"),
        addr("10.0.0.1:0"),
        addr("10.0.0.2:7000"),
        addr("10.0.0.2:7000"),
        addr("10.0.0.3:7000"),
    ]);
    assert_eq!(s.next_dial(false, 50), Some(addr("10.0.0.2:7000")));
    s.dialing(addr("10.0.0.2:7000"));
    assert_eq!(s.next_dial(false, 50), Some(addr("10.0.0.3:7000")));
    s.dialing(addr("10.0.0.3:7000"));
    assert_eq!(s.next_dial(false, 50), None);
    // The peer limit counts handshakes under way.
    s.add_candidates(vec![addr("10.0.0.4:7000")]);
    assert_eq!(s.next_dial(false, 2), None);
}

#[test]
fn failed_dials_back_off_then_are_forgotten() {
    let mut s = swarm();
    let a = addr("10.0.0.2:7000");
    let now = Instant::now();
    s.add_candidates(vec![a]);
    for failure in 1..MAX_CONNECT_FAILURES {
        assert_eq!(s.next_dial(false, 50), Some(a), "attempt {failure}");
        s.dialing(a);
        s.connect_failed(a, now);
        assert_eq!(s.open(), 0);
        s.retry_due(now);
        assert_eq!(s.next_dial(false, 50), None, "backing off");
        s.retry_due(now + Duration::from_secs(15 * u64::from(failure)));
    }
    assert_eq!(s.next_dial(false, 50), Some(a));
    s.dialing(a);
    s.connect_failed(a, now);
    s.retry_due(now + Duration::from_secs(3600));
    assert_eq!(s.next_dial(false, 50), None, "forgotten");
}

#[test]
fn a_connection_to_ourselves_is_refused_and_its_address_given_up() {
    let mut s = swarm();
    let a = addr("192.0.2.1:6881");
    s.add_candidates(vec![a]);
    assert_eq!(s.next_dial(false, 50), Some(a));
    s.dialing(a);
    let adm = s.admit(id(5), a, true, true);
    assert!(matches!(adm.verdict, Err(PeerError::ConnectedToSelf)));
    assert_eq!(s.open(), 0);
    // One more failure and it is forgotten.
    s.dialing(a);
    s.connect_failed(a, Instant::now());
    s.retry_due(Instant::now() + Duration::from_secs(3600));
    assert_eq!(s.next_dial(false, 50), None);
}

#[test]
fn of_two_connections_to_one_peer_both_sides_keep_the_smaller_ids_outgoing_one() {
    // We (5) are smaller than 9: our outgoing connection wins over its incoming one.
    let mut s = swarm();
    let inbound = connect(&mut s, id(9), addr("10.0.0.9:5000"), false);
    let a = addr("10.0.0.9:7000");
    s.add_candidates(vec![a]);
    assert_eq!(s.next_dial(false, 50), Some(a));
    s.dialing(a);
    let adm = s.admit(id(9), a, true, true);
    assert!(adm.verdict.is_ok());
    assert_eq!(adm.close, Some(inbound));

    // We are larger than 1: its outgoing (our incoming) connection wins; ours is dropped.
    let mut s = swarm();
    connect(&mut s, id(1), addr("10.0.0.1:5000"), false);
    let a = addr("10.0.0.1:7000");
    s.add_candidates(vec![a]);
    assert_eq!(s.next_dial(false, 50), Some(a));
    s.dialing(a);
    let adm = s.admit(id(1), a, true, true);
    assert!(matches!(adm.verdict, Err(PeerError::AlreadyConnected)));
    assert_eq!(adm.close, None);

    // Two connections in the same direction: the first stays.
    let mut s = swarm();
    connect(&mut s, id(9), addr("10.0.0.9:5000"), false);
    assert!(s.accept_incoming(addr("10.0.0.9:5001"), 50));
    let adm = s.admit(id(9), addr("10.0.0.9:5001"), false, true);
    assert!(matches!(adm.verdict, Err(PeerError::AlreadyConnected)));
}

#[test]
fn a_sole_bad_source_is_banned_at_once_others_after_three_strikes() {
    let mut s = swarm();
    let a = addr("10.0.0.1:7000");
    let b = addr("10.0.0.2:7000");
    let ka = connect(&mut s, id(1), a, true);
    let kb = connect(&mut s, id(2), b, true);
    for round in 1..MAX_STRIKES {
        assert!(s.strike(round, &[ka, kb]).is_empty(), "round {round}");
    }
    let mut banned = s.strike(9, &[ka, kb]);
    banned.sort_unstable();
    assert_eq!(banned, vec![ka, kb]);

    let mut s = swarm();
    let ka = connect(&mut s, id(1), a, true);
    assert_eq!(s.strike(0, &[ka]), vec![ka]);
    s.remove(ka, Instant::now(), |_| false);
    // Banned: its address is no candidate, its id is refused on any address.
    s.add_candidates(vec![a]);
    assert_eq!(s.next_dial(false, 50), None);
    assert!(!s.accept_incoming(a, 50));
    assert!(s.accept_incoming(addr("10.0.0.3:7000"), 50));
    let adm = s.admit(id(1), addr("10.0.0.3:7000"), false, true);
    assert!(matches!(adm.verdict, Err(PeerError::Banned)));
}

#[test]
fn a_disconnected_peer_is_redialled_later_unless_we_both_seed() {
    let a = addr("10.0.0.1:7000");
    let now = Instant::now();
    let mut s = swarm();
    let k = connect(&mut s, id(1), a, true);
    assert!(s.remove(k, now, |()| false).is_some());
    assert_eq!(s.len(), 0);
    s.retry_due(now);
    assert_eq!(s.next_dial(false, 50), None, "too soon");
    s.retry_due(now + RECONNECT_DELAY);
    assert_eq!(s.next_dial(false, 50), Some(a));

    let mut s = swarm();
    let k = connect(&mut s, id(1), a, true);
    s.remove(k, now, |()| true);
    s.retry_due(now + RECONNECT_DELAY);
    assert_eq!(s.next_dial(true, 50), None, "a seed while we seed");
}

#[test]
fn peers_that_listen_where_a_candidate_is_are_not_dialled() {
    let mut s = swarm();
    let k = connect(&mut s, id(1), addr("10.0.0.1:5000"), false);
    s.set_extensions(k, Some(7000), true);
    s.add_candidates(vec![addr("10.0.0.1:7000")]);
    assert_eq!(s.next_dial(false, 50), None);
}

#[test]
fn pex_tells_each_peer_the_others_once_and_then_who_left() {
    let mut s = swarm();
    let ka = connect(&mut s, id(1), addr("10.0.0.1:7000"), true);
    let kb = connect(&mut s, id(2), addr("10.0.0.2:7000"), true);
    let kc = connect(&mut s, id(3), addr("10.0.0.3:5000"), false);
    s.set_extensions(ka, None, true);
    s.set_extensions(kc, Some(7000), false);
    let deltas = s.pex_deltas();
    assert_eq!(deltas.len(), 1, "only a speaks PEX");
    let (key, msg) = &deltas[0];
    assert_eq!(*key, ka);
    let mut added = msg.added.clone();
    added.sort_unstable();
    assert_eq!(added, vec![addr("10.0.0.2:7000"), addr("10.0.0.3:7000")]);
    assert!(msg.dropped.is_empty());
    assert!(s.pex_deltas().is_empty(), "nothing new");
    s.remove(kb, Instant::now(), |_| false);
    let deltas = s.pex_deltas();
    assert_eq!(deltas[0].1.dropped, vec![addr("10.0.0.2:7000")]);
    assert!(deltas[0].1.added.is_empty());
}

/// A hostile tracker's 2 MiB answer (about 350,000 compact addresses), then a PEX flood of as
/// many again: the table stays bounded, each address costs O(1) (the whole lot in well under
/// a second even in a debug build; the old queue scan took minutes), and the flood's
/// addresses push out only queued ones, never a connected peer's.
#[test]
fn an_address_flood_is_bounded_and_linear() {
    let mut s = swarm();
    let k = connect(&mut s, id(1), addr("10.9.9.9:7000"), true);
    let flood = |base: u32| -> Vec<SocketAddr> {
        (0..350_000u32)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from(base + i);
                SocketAddr::from((ip, 6000 + (i % 1000) as u16))
            })
            .collect()
    };
    let start = std::time::Instant::now();
    s.add_candidates(flood(0x0a00_0000));
    for chunk in flood(0x0b00_0000).chunks(100) {
        s.add_candidates(chunk.to_vec());
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        s.candidate_count() <= MAX_CANDIDATES,
        "{}",
        s.candidate_count()
    );
    assert!(s.get(k).is_some());
    // The newest addresses are the ones kept, and each is queued once.
    let mut dialled = HashSet::new();
    while let Some(a) = s.next_dial(false, usize::MAX) {
        assert!(dialled.insert(a), "{a} queued twice");
        s.dialing(a);
    }
    assert!(dialled.len() < MAX_CANDIDATES && dialled.len() > MAX_CANDIDATES / 2);
}

/// Dials that hang (PEX addresses nobody answers at) hold at most half the peer slots: the
/// other half stays open to peers that connect to us.
#[test]
fn hanging_dials_leave_half_the_slots_to_incoming_peers() {
    let mut s = swarm();
    s.add_candidates(
        (1..=100u8)
            .map(|i| addr(&format!("10.1.0.{i}:7000")))
            .collect(),
    );
    let mut dialled = 0;
    while let Some(a) = s.next_dial(false, 50) {
        s.dialing(a);
        dialled += 1;
    }
    assert_eq!(dialled, dial_slots(50));
    assert_eq!(dial_slots(50), 25);
    assert_eq!(dial_slots(1), 1);
    for i in 0..25u8 {
        assert!(s.accept_incoming(addr(&format!("10.2.0.{i}:50000")), 50));
    }
    assert!(
        !s.accept_incoming(addr("10.2.0.99:50000"), 50),
        "the limit still holds"
    );
}
