//! The client's reading of HTTP tracker answers never panics, and the peers of an announce
//! answer survive being written back by the server's encoder (`announce_body`) and read again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use metainfo::InfoHash;
use tracker::wire::http::{
    AnnounceAnswer, PeerEntry, PeerForm, announce_body, parse_announce, parse_scrape,
};

fuzz_target!(|data: &[u8]| {
    let mut ih = [0u8; 20];
    for (d, s) in ih.iter_mut().zip(data) {
        *d = *s;
    }
    let _ = parse_scrape(data, InfoHash(ih));
    let Ok((r, _tracker_id)) = parse_announce(data) else {
        return;
    };
    let peers: Vec<PeerEntry> = r
        .peers
        .iter()
        .map(|&addr| PeerEntry {
            addr,
            peer_id: [0; 20],
        })
        .collect();
    let answer = AnnounceAnswer {
        interval: u32::try_from(r.interval.as_secs()).unwrap_or(u32::MAX),
        min_interval: 0,
        complete: r.seeders.unwrap_or(0),
        incomplete: r.leechers.unwrap_or(0),
        peers: &peers,
    };
    for form in [PeerForm::Compact, PeerForm::Dicts] {
        let (back, _) = parse_announce(&announce_body(&answer, form)).expect("our own answer");
        let (mut want, mut got) = (r.peers.clone(), back.peers);
        want.sort();
        got.sort();
        assert_eq!(want, got, "{form:?}");
        assert_eq!(back.interval, r.interval);
    }
});
