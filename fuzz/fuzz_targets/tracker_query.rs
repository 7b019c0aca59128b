//! The tracker server's query parser never panics; what it accepts respects its own rules (a
//! port is never 0, a scrape names each info-hash once and at most `MAX_SCRAPE_HASHES`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracker_server::query::{MAX_SCRAPE_HASHES, parse_announce, parse_scrape};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = parse_announce(data) {
        assert_ne!(q.port, 0);
    }
    if let Ok(hashes) = parse_scrape(data) {
        assert!(hashes.len() <= MAX_SCRAPE_HASHES);
        for (i, h) in hashes.iter().enumerate() {
            assert!(!hashes[..i].contains(h), "duplicate info-hash");
        }
    }
});
