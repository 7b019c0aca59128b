//! Test fixtures shared with the binary's tests (feature `test-fixtures`).

use crate::control::protocol::{EncryptionStatus, StatusReport, TorrentStatus, Totals};

/// A report with one seeding, one downloading and one broken torrent.
pub fn sample() -> StatusReport {
    let torrents = vec![
        TorrentStatus {
            name: "debian-13.iso".into(),
            info_hash: "0123456789abcdef0123456789abcdef01234567".into(),
            torrent_file: "/srv/mirror/debian-13.iso.torrent".into(),
            state: "seeding".into(),
            progress: 1.0,
            size: 700 * 1024 * 1024,
            downloaded: 0,
            uploaded: 3 * 1024 * 1024,
            download_rate: 0,
            upload_rate: 200 * 1024,
            peers: 4,
            seeds: 0,
            peers_encrypted: 3,
            peers_rc4: 1,
            peers_plaintext: 1,
            error: None,
            lifetime_uploaded: 1400 * 1024 * 1024,
            lifetime_downloaded: 0,
            tracker_error: None,
            web_seeds: Vec::new(),
            peers_tcp: 3,
            peers_utp: 1,
        },
        TorrentStatus {
            name: "snapshot-2026.tar".into(),
            info_hash: "89abcdef0123456789abcdef0123456789abcdef".into(),
            torrent_file: "/srv/mirror/snapshot-2026.tar.torrent".into(),
            state: "downloading".into(),
            progress: 0.25,
            size: 4096 * 1024,
            downloaded: 1024 * 1024,
            uploaded: 0,
            download_rate: 1024 * 1024,
            upload_rate: 0,
            peers: 2,
            seeds: 1,
            peers_encrypted: 0,
            peers_rc4: 0,
            peers_plaintext: 2,
            error: None,
            lifetime_uploaded: 0,
            lifetime_downloaded: 1024 * 1024,
            tracker_error: Some(
                "every tracker failed: http://t.example/announce: timed out".into(),
            ),
            web_seeds: Vec::new(),
            peers_tcp: 2,
            peers_utp: 0,
        },
        TorrentStatus {
            name: "broken.torrent".into(),
            info_hash: String::new(),
            torrent_file: "/srv/mirror/broken.torrent".into(),
            state: "error".into(),
            error: Some("invalid torrent: truncated\nat byte 12".into()),
            ..TorrentStatus::default()
        },
    ];
    let totals = Totals::sum(&torrents);
    StatusReport {
        torrents,
        totals,
        listen_port: 6881,
        version: "0.1.0".into(),
        encryption: EncryptionStatus {
            policy: "prefer".into(),
            incoming_encrypted: 3,
            incoming_plaintext: 3,
            outgoing_retries: 1,
            ..EncryptionStatus::default()
        },
        feeds: Vec::new(),
        watch_errors: Vec::new(),
        dht: None,
    }
}
