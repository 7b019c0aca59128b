//! Tests of the status JSON shape (design.md) and the model's sums.

use super::*;
use crate::fixtures::sample;

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    k.sort();
    k
}

#[test]
fn json_has_the_design_keys() {
    let v = serde_json::to_value(sample()).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&["torrents", "totals", "listen_port", "version", "encryption"])
    );
    let encryption_keys = [
        "policy",
        "incoming_plaintext",
        "incoming_encrypted",
        "incoming_encrypted_failed",
        "incoming_refused",
        "outgoing_plaintext",
        "outgoing_encrypted",
        "outgoing_retries",
    ];
    assert_eq!(keys(&v["encryption"]), sorted(&encryption_keys));
    // The design's keys, plus the lifetime counters and encryption counts it lets us add.
    let torrent_keys = [
        "name",
        "info_hash",
        "torrent_file",
        "state",
        "progress",
        "size",
        "downloaded",
        "uploaded",
        "download_rate",
        "upload_rate",
        "peers",
        "seeds",
        "peers_encrypted",
        "peers_rc4",
        "peers_plaintext",
        "error",
        "lifetime_uploaded",
        "lifetime_downloaded",
        "tracker_error",
        "web_seeds",
        "peers_tcp",
        "peers_utp",
    ];
    for t in v["torrents"].as_array().unwrap() {
        assert_eq!(keys(t), sorted(&torrent_keys));
    }
    let total_keys = [
        "uploaded",
        "downloaded",
        "upload_rate",
        "download_rate",
        "lifetime_uploaded",
        "lifetime_downloaded",
        "peers_tcp",
        "peers_utp",
    ];
    assert_eq!(keys(&v["totals"]), sorted(&total_keys));
}

#[test]
fn json_value_types_match_the_design() {
    let v = serde_json::to_value(sample()).unwrap();
    let first = &v["torrents"][0];
    assert!(first["error"].is_null(), "no error is null, not absent");
    assert!(first["progress"].is_f64());
    assert_eq!(first["info_hash"].as_str().unwrap().len(), 40);
    assert_eq!(first["size"], 700 * 1024 * 1024);
    assert!(v["torrents"][2]["error"].is_string());
    assert_eq!(v["listen_port"], 6881);
    assert_eq!(v["version"], "0.1.0");
}

#[test]
fn json_round_trips_and_tolerates_missing_extras() {
    let report = sample();
    let text = serde_json::to_string(&report).unwrap();
    let back: StatusReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    // A daemon that only knows the design's keys still parses.
    let minimal = r#"{"torrents":[{"name":"a","info_hash":"","torrent_file":"a.torrent","state":"paused",
        "progress":0.5,"size":10,"downloaded":1,"uploaded":2,"download_rate":3,"upload_rate":4,
        "peers":5,"seeds":6,"error":null}],
        "totals":{"uploaded":2,"downloaded":1,"upload_rate":4,"download_rate":3},
        "listen_port":1,"version":"9.9.9"}"#;
    let r: StatusReport = serde_json::from_str(minimal).unwrap();
    assert_eq!(r.torrents[0].peers, 5);
    assert_eq!(r.torrents[0].lifetime_uploaded, 0);
    assert_eq!(r.totals.upload_rate, 4);
}

#[test]
fn totals_sum_the_torrents() {
    let r = sample();
    assert_eq!(r.totals.uploaded, 3 * 1024 * 1024);
    assert_eq!(r.totals.download_rate, 1024 * 1024);
    assert_eq!(r.totals.upload_rate, 200 * 1024);
    assert_eq!(r.totals.lifetime_uploaded, 1400 * 1024 * 1024);
    let big = TorrentStatus {
        uploaded: u64::MAX,
        ..TorrentStatus::default()
    };
    assert_eq!(Totals::sum(&[big.clone(), big]).uploaded, u64::MAX);
}

#[test]
fn ratio_and_eta() {
    let r = sample();
    let seeding = &r.torrents[0];
    assert!((seeding.ratio().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(seeding.eta(), None, "a seeder has no ETA");
    let dl = &r.torrents[1];
    // 3 MiB left at 1 MiB/s.
    assert_eq!(dl.eta(), Some(std::time::Duration::from_secs(3)));
    assert_eq!(r.torrents[2].ratio(), None, "empty torrent has no ratio");
    let stalled = TorrentStatus {
        download_rate: 0,
        ..dl.clone()
    };
    assert_eq!(stalled.eta(), None);
}

#[test]
fn state_counts_in_display_order() {
    let mk = |s: &str| TorrentStatus {
        state: s.into(),
        ..TorrentStatus::default()
    };
    let list = [
        mk("error"),
        mk("seeding"),
        mk("weird"),
        mk("seeding"),
        mk("checking"),
    ];
    assert_eq!(
        state_counts(&list),
        "1 checking, 2 seeding, 1 error, 1 weird"
    );
}
