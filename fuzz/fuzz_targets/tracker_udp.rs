//! BEP 15 packets, both sides: the server's request parsers and the client's reply parsers
//! never panic, and an announce request the server accepts is one the client would write
//! (parse ∘ build is the identity).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracker::wire::udp;

fuzz_target!(|data: &[u8]| {
    // Server side.
    if let Some(head) = udp::parse_request_header(data) {
        if let Some(req) = udp::parse_announce_request(data) {
            let again = udp::announce_request(head.connection_id, head.transaction_id, &req);
            assert_eq!(udp::parse_announce_request(&again), Some(req));
        }
        if let Some(hashes) = udp::parse_scrape_request(data) {
            assert!(!hashes.is_empty() && hashes.len() <= udp::MAX_SCRAPE_HASHES);
        }
    }
    // Client side.
    let _ = udp::transaction_id(data);
    let _ = udp::check_error(data);
    let _ = udp::parse_connect(data);
    for ipv6 in [false, true] {
        if let Ok(r) = udp::parse_announce(data, ipv6) {
            assert!(r.peers.iter().all(|p| p.port() != 0 && p.is_ipv6() == ipv6));
        }
    }
    let _ = udp::parse_scrape(data);
});
