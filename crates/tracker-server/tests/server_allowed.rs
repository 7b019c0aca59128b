//! The allowed dir, the statistics page and the state file, against a real server.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

#[path = "server_support/support.rs"]
mod support;

use std::time::Duration;

use support::*;
use tracker_server::{Error, Server, ServerConfig};

#[tokio::test]
async fn allowed_dir_refuses_others_and_rescans_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let known = write_torrent(&dir.path().join("known.torrent"), "known.iso", 100_000);
    // Not a torrent at all, and a torrent without the .torrent extension: both ignored.
    std::fs::write(dir.path().join("junk.torrent"), b"d4:junk").unwrap();
    let other = write_torrent(&dir.path().join("other.bin"), "other", 10);
    let srv = start(ServerConfig {
        allowed_dir: Some(dir.path().to_owned()),
        ..config()
    })
    .await;

    let r = get(srv.addr, &announce(&known, &[1; 20], 7001, 0, "&compact=1")).await;
    assert!(failure(&r.body).is_none());
    let r = get(srv.addr, &announce(&other, &[1; 20], 7001, 0, "&compact=1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        failure(&r.body).as_deref(),
        Some("torrent not allowed on this tracker")
    );
    let r = get(
        srv.addr,
        &format!(
            "/scrape?info_hash={}&info_hash={}",
            enc(&known),
            enc(&other)
        ),
    )
    .await;
    assert_eq!(scrape_entry(&r.body, &known), Some((1, 0, 0)));
    assert_eq!(
        scrape_entry(&r.body, &other),
        None,
        "not-allowed torrents are left out of scrapes"
    );

    // Add it under a .torrent name and ask for a rescan (SIGHUP in the binary).
    std::fs::rename(
        dir.path().join("other.bin"),
        dir.path().join("other.torrent"),
    )
    .unwrap();
    srv.reload.reload();
    let mut accepted = false;
    for _ in 0..100 {
        let r = get(srv.addr, &announce(&other, &[1; 20], 7001, 0, "")).await;
        if failure(&r.body).is_none() {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "rescan picked up the new torrent");

    // And removing a torrent takes it off the tracker.
    std::fs::remove_file(dir.path().join("known.torrent")).unwrap();
    srv.reload.reload();
    let mut refused = false;
    for _ in 0..100 {
        let r = get(srv.addr, &announce(&known, &[1; 20], 7001, 0, "")).await;
        if failure(&r.body).is_some() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "removed torrent refused");
    srv.stop().await;
}

#[tokio::test]
async fn stats_page_escapes_names_and_json_matches() {
    let dir = tempfile::tempdir().unwrap();
    let evil = write_torrent(
        &dir.path().join("evil.torrent"),
        "<img src=x onerror=alert(1)>&'co'",
        5,
    );
    let plain = write_torrent(&dir.path().join("plain.torrent"), "debian-13.iso", 5);
    let srv = start(ServerConfig {
        allowed_dir: Some(dir.path().to_owned()),
        ..config()
    })
    .await;
    get(srv.addr, &announce(&evil, &[1; 20], 7001, 0, "")).await;
    get(srv.addr, &announce(&evil, &[2; 20], 7002, 9, "")).await;
    get(
        srv.addr,
        &announce(&evil, &[3; 20], 7003, 0, "&event=completed"),
    )
    .await;

    let page = get(srv.addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        !html.contains("<img") && !html.contains("<script"),
        "no raw markup from names, no JavaScript"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&amp;&#39;co&#39;"));
    assert!(html.contains("debian-13.iso"));
    assert!(
        html.contains("2 torrents, 2 seeders, 1 leechers, 1 completed downloads"),
        "{html}"
    );

    let json = get(srv.addr, "/stats.json").await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(v["totals"]["torrents"], 2);
    assert_eq!(v["totals"]["seeders"], 2);
    let rows = v["torrents"].as_array().unwrap();
    let evil_row = rows.iter().find(|r| r["info_hash"] == hex(&evil)).unwrap();
    assert_eq!(evil_row["name"], "<img src=x onerror=alert(1)>&'co'");
    assert_eq!(
        (evil_row["seeders"].as_u64(), evil_row["leechers"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(evil_row["completed"], 1);
    let plain_row = rows.iter().find(|r| r["info_hash"] == hex(&plain)).unwrap();
    assert_eq!(plain_row["seeders"], 0);
    srv.stop().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn completed_counts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").join("tracker.json");
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let cfg = ServerConfig {
        state_file: Some(state.clone()),
        ..config()
    };
    let ih = [0x77; 20];

    let srv = start(cfg.clone()).await;
    get(
        srv.addr,
        &announce(&ih, &[1; 20], 7001, 10, "&event=started"),
    )
    .await;
    get(
        srv.addr,
        &announce(&ih, &[1; 20], 7001, 0, "&event=completed"),
    )
    .await;
    // From a second address: a swarm of one host keeps no count (issue 17).
    get_from(
        [127, 0, 0, 2].into(),
        srv.addr,
        &announce(&ih, &[2; 20], 7002, 0, "&event=completed"),
    )
    .await;
    srv.stop().await;
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains(&hex(&ih)), "{saved}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "only the state file, no temp file");

    let srv = start(cfg.clone()).await;
    let r = get(srv.addr, &format!("/scrape?info_hash={}", enc(&ih))).await;
    assert_eq!(
        scrape_entry(&r.body, &ih),
        Some((0, 2, 0)),
        "peers are gone, the count is not"
    );
    srv.stop().await;

    // A corrupt state file is an error at bind, not silently dropped counts.
    std::fs::write(&state, b"{oops").unwrap();
    let err = Server::bind(cfg).await.unwrap_err();
    assert!(matches!(err, Error::LoadState { .. }), "{err}");
}
