//! Issue 17, item 5: ~106,000 forged UDP `completed` announces from one address, each for a new
//! torrent, must not fill the open tracker (100,000 torrents) for everyone else, nor survive a
//! restart in the state file.
#![allow(clippy::unwrap_used)]

#[path = "server_support/flood.rs"]
mod flood;
#[path = "server_support/support.rs"]
mod support;

use std::sync::Arc;

use flood::{flood, forged, hash_of, real_udp_announce};
use support::*;
use tracker::Event;
use tracker_server::ServerConfig;

const FORGED: usize = 106_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_completed_announces_neither_fill_the_tracker_nor_persist() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tracker.json");
    let cfg = ServerConfig {
        state_file: Some(state.clone()),
        ..config()
    };
    let srv = start(cfg.clone()).await;
    let attacker = [127, 0, 0, 2].into();
    let make: flood::MakeAnnounce =
        Arc::new(|i| forged(hash_of(i, 0xee), 6881, 0, Event::Completed));
    let attack = tokio::spawn(flood(attacker, srv.addr, 4, FORGED, make));
    // While the attack runs, and after it: a real client's new torrent is tracked.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let during = real_udp_announce(srv.addr, hash_of(1, 0x01), 7001).await;
    assert!(during.is_ok(), "during the attack: {during:?}");
    let answered = attack.await.unwrap();
    assert!(
        answered > FORGED * 9 / 10,
        "the attack ran: {answered} answers"
    );
    for k in 2..6 {
        let r = real_udp_announce(srv.addr, hash_of(k, 0x01), 7001).await;
        assert!(r.is_ok(), "after the attack: {r:?}");
        assert_eq!(r.unwrap().leechers, Some(1), "stored and counted");
    }
    srv.stop().await;

    let saved = std::fs::read_to_string(&state).unwrap_or_default();
    assert!(
        saved.len() < 10_000,
        "one address's forged counts are not saved ({} bytes)",
        saved.len()
    );
    let srv = start(cfg).await;
    let r = real_udp_announce(srv.addr, hash_of(9, 0x01), 7001).await;
    assert!(r.is_ok(), "after a restart: {r:?}");
    srv.stop().await;
}
