//! Issue 17, item 6: one address announcing a million peers (1,000 torrents × 1,000 ports) must
//! not grow the peer table without bound, and real clients are still served. The server runs in
//! this process, so its memory is this process's RSS.
#![allow(clippy::unwrap_used)]

#[path = "server_support/flood.rs"]
mod flood;
#[path = "server_support/support.rs"]
mod support;

use std::sync::Arc;

use flood::{flood, forged, hash_of, real_udp_announce, rss_kib};
use support::*;
use tracker::Event;

const ANNOUNCES: usize = 1_000_000;
const TORRENTS: usize = 1_000;
/// Growth allowed for the whole run (the table's own budget is ~20,000 peers from one address).
const RSS_BUDGET_KIB: u64 = 48 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_announces_from_one_address_keep_memory_bounded() {
    let srv = start(config()).await;
    let before = rss_kib();
    let attacker = [127, 0, 0, 2].into();
    let make: flood::MakeAnnounce = Arc::new(|i| {
        let port = u16::try_from(1 + i / TORRENTS).unwrap_or(u16::MAX);
        forged(hash_of(i % TORRENTS, 0xaa), port, 1, Event::None)
    });
    let attack = tokio::spawn(flood(attacker, srv.addr, 4, ANNOUNCES, make));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let during = real_udp_announce(srv.addr, hash_of(5, 0xaa), 7001).await;
    assert!(during.is_ok(), "during the attack: {during:?}");
    let answered = attack.await.unwrap();
    assert!(answered > ANNOUNCES * 9 / 10, "the attack ran: {answered}");
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < RSS_BUDGET_KIB,
        "RSS grew by {} MiB for {ANNOUNCES} announces",
        grown / 1024
    );
    eprintln!("{answered} answers, RSS +{} KiB", grown);
    let after = real_udp_announce(srv.addr, hash_of(6, 0xaa), 7002).await;
    let after = after.expect("after the attack");
    assert!(after.leechers >= Some(1), "{after:?}");
    srv.stop().await;
}
