//! Unit tests of the swarm table.

use super::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), port)
}

fn ann(ih: u8, addr: SocketAddr, left: u64, event: Event) -> Announce {
    Announce {
        info_hash: InfoHash([ih; 20]),
        peer_id: [addr.port() as u8; 20],
        addr,
        left,
        event,
        numwant: 50,
        family: Family::Any,
    }
}

fn limits(max_torrents: usize) -> Limits {
    Limits {
        max_torrents,
        ..Limits::default()
    }
}

fn swarms() -> Swarms {
    Swarms::new(Duration::from_secs(60), limits(10), None)
}

#[tokio::test(start_paused = true)]
async fn seeders_get_only_leechers() {
    let mut s = swarms();
    let now = Instant::now();
    s.announce(&ann(1, addr(1, 1000), 0, Event::Started), now)
        .unwrap();
    s.announce(&ann(1, addr(2, 1000), 0, Event::Started), now)
        .unwrap();
    s.announce(&ann(1, addr(3, 1000), 5, Event::Started), now)
        .unwrap();
    let r = s
        .announce(&ann(1, addr(1, 1000), 0, Event::None), now)
        .unwrap();
    assert_eq!(r.peers.len(), 1);
    assert_eq!(r.peers[0].addr, addr(3, 1000));
    assert_eq!((r.complete, r.incomplete), (2, 1));
    let r = s
        .announce(&ann(1, addr(3, 1000), 5, Event::None), now)
        .unwrap();
    assert_eq!(r.peers.len(), 2);
    assert!(r.peers.iter().all(|p| p.addr != addr(3, 1000)));
}

#[tokio::test(start_paused = true)]
async fn completed_counted_once_and_stopped_leaves() {
    let mut s = swarms();
    let now = Instant::now();
    s.announce(&ann(1, addr(1, 1), 10, Event::Started), now)
        .unwrap();
    s.announce(&ann(1, addr(2, 1), 10, Event::Started), now)
        .unwrap();
    let r = s
        .announce(&ann(1, addr(1, 1), 0, Event::Completed), now)
        .unwrap();
    assert_eq!((r.complete, r.incomplete), (1, 1));
    s.announce(&ann(1, addr(1, 1), 0, Event::Completed), now)
        .unwrap();
    assert_eq!(s.scrape(&InfoHash([1; 20]), now).unwrap().downloaded, 1);
    let r = s
        .announce(&ann(1, addr(1, 1), 0, Event::Stopped), now)
        .unwrap();
    assert_eq!((r.complete, r.incomplete), (0, 1));
    assert!(r.peers.is_empty());
    let (counts, dirty) = s.take_downloaded();
    assert!(dirty);
    assert_eq!(counts, vec![(InfoHash([1; 20]), 1)]);
    assert!(!s.take_downloaded().1);
}

#[tokio::test(start_paused = true)]
async fn peers_expire_after_timeout() {
    let mut s = swarms();
    let t0 = Instant::now();
    s.announce(&ann(1, addr(1, 1), 10, Event::Started), t0)
        .unwrap();
    let t1 = t0 + Duration::from_secs(59);
    let r = s
        .announce(&ann(1, addr(2, 1), 10, Event::Started), t1)
        .unwrap();
    assert_eq!(r.peers.len(), 1);
    let t2 = t0 + Duration::from_secs(61);
    let r = s
        .announce(&ann(1, addr(3, 1), 10, Event::Started), t2)
        .unwrap();
    assert_eq!(
        r.peers.iter().map(|p| p.addr).collect::<Vec<_>>(),
        vec![addr(2, 1)]
    );
    s.sweep(t2);
    assert_eq!(s.scrape(&InfoHash([1; 20]), t2).unwrap().incomplete, 2);
    s.sweep(t2 + Duration::from_secs(200));
    assert!(
        s.torrents.is_empty(),
        "empty swarm without downloads is forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn allowed_set_and_caps() {
    let now = Instant::now();
    let mut allowed = HashMap::new();
    allowed.insert(InfoHash([1; 20]), Arc::<str>::from("one"));
    let mut s = Swarms::new(Duration::from_secs(60), limits(1), Some(allowed));
    assert_eq!(
        s.announce(&ann(2, addr(1, 1), 1, Event::None), now)
            .unwrap_err(),
        Refusal::NotAllowed
    );
    assert!(s.scrape(&InfoHash([2; 20]), now).is_none());
    s.announce(&ann(1, addr(1, 1), 1, Event::None), now)
        .unwrap();
    let st = s.stats();
    assert_eq!(st.torrents.len(), 1);
    assert_eq!(st.torrents[0].name.as_deref(), Some("one"));
    s.set_allowed(None);
    assert_eq!(
        s.announce(&ann(3, addr(1, 1), 1, Event::None), now)
            .unwrap_err(),
        Refusal::TooManyTorrents
    );
}

#[tokio::test(start_paused = true)]
async fn numwant_and_family() {
    let mut s = swarms();
    let now = Instant::now();
    for i in 1..=20 {
        s.announce(&ann(1, addr(i, 1), 1, Event::None), now)
            .unwrap();
    }
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 7);
    s.announce(&ann(1, v6, 1, Event::None), now).unwrap();
    let mut a = ann(1, addr(99, 1), 1, Event::None);
    a.numwant = 5;
    assert_eq!(s.announce(&a, now).unwrap().peers.len(), 5);
    a.numwant = 100;
    a.family = Family::V6;
    let r = s.announce(&a, now).unwrap();
    assert_eq!(r.peers.iter().map(|p| p.addr).collect::<Vec<_>>(), vec![v6]);
    a.family = Family::V4;
    assert_eq!(s.announce(&a, now).unwrap().peers.len(), 20);
}

#[tokio::test(start_paused = true)]
async fn one_address_cannot_keep_a_completed_count() {
    let mut s = swarms();
    let now = Instant::now();
    s.announce(&ann(1, addr(1, 1), 0, Event::Completed), now)
        .unwrap();
    s.announce(&ann(1, addr(1, 2), 0, Event::Completed), now)
        .unwrap();
    assert_eq!(s.scrape(&InfoHash([1; 20]), now).unwrap().downloaded, 2);
    assert_eq!(s.take_downloaded(), (vec![], false), "not saved");
    s.sweep(now + Duration::from_secs(61));
    assert_eq!(s.sizes(), (0, 0), "forgotten once idle");
}

#[tokio::test(start_paused = true)]
async fn forged_completed_flood_cannot_fill_the_table() {
    let lim = Limits {
        max_torrents: 100,
        max_peers_per_ip: 10,
        ..Limits::default()
    };
    let mut s = Swarms::new(Duration::from_secs(60), lim, None);
    let now = Instant::now();
    for i in 0..150u32 {
        let mut a = ann(0, addr(9, 1), 0, Event::Completed);
        a.info_hash.0[..4].copy_from_slice(&i.to_be_bytes());
        s.announce(&a, now).unwrap();
    }
    assert_eq!(s.sizes(), (100, 10));
    let r = s.announce(&ann(200, addr(1, 1), 5, Event::Started), now);
    assert!(r.is_ok(), "a new torrent is tracked: {r:?}");
    assert_eq!(s.take_downloaded().0, vec![]);
}

#[tokio::test(start_paused = true)]
async fn eviction_spares_kept_counts_and_live_swarms() {
    let mut s = Swarms::new(Duration::from_secs(60), limits(3), None);
    let now = Instant::now();
    // Torrent 1: a real swarm with a kept count, then idle.
    s.announce(&ann(1, addr(1, 1), 5, Event::Started), now)
        .unwrap();
    s.announce(&ann(1, addr(2, 1), 0, Event::Completed), now)
        .unwrap();
    s.announce(&ann(1, addr(1, 1), 5, Event::Stopped), now)
        .unwrap();
    s.announce(&ann(1, addr(2, 1), 0, Event::Stopped), now)
        .unwrap();
    // Torrent 2: live. Torrent 3: idle without a count.
    s.announce(&ann(2, addr(3, 1), 5, Event::Started), now)
        .unwrap();
    s.announce(&ann(3, addr(3, 1), 5, Event::Started), now)
        .unwrap();
    s.announce(&ann(3, addr(3, 1), 5, Event::Stopped), now)
        .unwrap();
    s.announce(&ann(4, addr(4, 1), 5, Event::Started), now)
        .unwrap();
    let has = |s: &Swarms, ih: u8| s.torrents.contains_key(&InfoHash([ih; 20]));
    assert!(has(&s, 1) && has(&s, 2) && !has(&s, 3) && has(&s, 4));
    s.announce(&ann(5, addr(4, 1), 5, Event::Started), now)
        .unwrap();
    assert!(!has(&s, 1), "a kept count goes when nothing else can");
    assert_eq!(
        s.announce(&ann(6, addr(4, 1), 5, Event::Started), now)
            .unwrap_err(),
        Refusal::TooManyTorrents,
        "every swarm has peers"
    );
}

#[tokio::test(start_paused = true)]
async fn peer_budgets() {
    let lim = Limits {
        max_torrents: 1000,
        max_peers: 50,
        max_peers_per_swarm: 20,
        max_peers_per_ip: 30,
        max_peers_per_ip_in_swarm: 4,
    };
    let mut s = Swarms::new(Duration::from_secs(60), lim, None);
    let now = Instant::now();
    // One address, many ports in one swarm: four stored, the rest only answered.
    for port in 1..=10 {
        let r = s.announce(&ann(1, addr(1, port), 5, Event::None), now);
        assert!(r.is_ok());
    }
    assert_eq!(s.scrape(&InfoHash([1; 20]), now).unwrap().incomplete, 4);
    // Per swarm: 20 at most.
    for last in 2..=40 {
        s.announce(&ann(2, addr(last, 1), 5, Event::None), now)
            .unwrap();
    }
    assert_eq!(s.scrape(&InfoHash([2; 20]), now).unwrap().incomplete, 20);
    // Per address across swarms: the oldest of that address goes, the newest stays.
    for ih in 10..=60 {
        s.announce(&ann(ih, addr(1, 1), 5, Event::None), now)
            .unwrap();
    }
    assert_eq!(s.ips.count(&addr(1, 1).ip()), 30);
    assert_eq!(s.scrape(&InfoHash([60; 20]), now).unwrap().incomplete, 1);
    assert_eq!(s.scrape(&InfoHash([10; 20]), now).unwrap().incomplete, 0);
    // In total: 50 (20 in swarm 2 + 30 of 127.0.0.1).
    assert_eq!(s.sizes().1, 50);
    let r = s
        .announce(&ann(70, addr(200, 1), 5, Event::None), now)
        .unwrap();
    assert_eq!(r.incomplete, 0, "answered, not stored");
    assert_eq!(s.sizes().1, 50);
    // Expiry frees every budget.
    s.sweep(now + Duration::from_secs(61));
    assert_eq!(s.sizes(), (0, 0));
    assert!(s.idle.is_empty() && s.idle_counted.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_count_is_saved_once_a_second_address_shows_up() {
    let mut s = swarms();
    let now = Instant::now();
    s.announce(&ann(1, addr(1, 1), 0, Event::Completed), now)
        .unwrap();
    assert_eq!(s.take_downloaded(), (vec![], false));
    s.announce(&ann(1, addr(2, 1), 5, Event::Started), now)
        .unwrap();
    assert_eq!(s.take_downloaded(), (vec![(InfoHash([1; 20]), 1)], true));
}
