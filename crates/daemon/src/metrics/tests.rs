//! Tests of the metrics text and the HTTP server.

use super::*;
use crate::control::protocol::Totals;

fn torrent(name: &str, hash: &str, state: &str) -> TorrentStatus {
    TorrentStatus {
        name: name.to_owned(),
        info_hash: hash.to_owned(),
        state: state.to_owned(),
        ..TorrentStatus::default()
    }
}

fn sample() -> StatusReport {
    let mut a = torrent("a.iso", &"a".repeat(40), "seeding");
    a.lifetime_uploaded = 5_000_000_000;
    a.uploaded = 1000;
    a.size = 700;
    a.progress = 1.0;
    a.peers = 3;
    a.peers_tcp = 2;
    a.peers_utp = 1;
    a.seeds = 1;
    a.peers_encrypted = 2;
    a.peers_rc4 = 1;
    a.peers_plaintext = 1;
    a.upload_rate = 2048;
    let mut b = torrent("we\"ird\\na\nme", &"b".repeat(40), "downloading");
    b.lifetime_downloaded = 42;
    b.downloaded = 42;
    b.progress = 0.25;
    let mut broken = torrent("bad.torrent", "", "error");
    broken.error = Some("not a usable torrent".into());
    let mut failed = torrent("disk.iso", &"c".repeat(40), "error");
    failed.error = Some("no space left on device".into());
    let torrents = vec![a, b, broken, torrent("new.torrent", "", "checking"), failed];
    StatusReport {
        totals: Totals::sum(&torrents),
        torrents,
        listen_port: 6881,
        version: "1.2.3".into(),
        encryption: crate::control::protocol::EncryptionStatus {
            policy: "require".into(),
            incoming_encrypted_failed: 7,
            ..Default::default()
        },
        feeds: Vec::new(),
        watch_errors: Vec::new(),
        dht: None,
    }
}

/// The sample lines of metric `name` (label set included).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape("plain"), "plain");
    assert_eq!(escape("a\"b"), "a\\\"b");
    assert_eq!(escape("a\\b"), "a\\\\b");
    assert_eq!(escape("a\nb"), "a\\nb");
    assert_eq!(escape("\\\"\n"), "\\\\\\\"\\n");
    let text = render(&sample());
    let b = format!(
        "info_hash=\"{}\",name=\"we\\\"ird\\\\na\\nme\"",
        "b".repeat(40)
    );
    assert!(
        text.contains(&format!(
            "btmirror_torrent_downloaded_bytes_total{{{b}}} 42\n"
        )),
        "{text}"
    );
    // No raw newline inside a sample: every line is a comment or a sample.
    for line in text.lines() {
        assert!(
            line.starts_with("# ") || line.starts_with("btmirror_"),
            "{line:?}"
        );
    }
}

#[test]
fn every_family_has_help_and_type_before_its_samples() {
    let text = render(&sample());
    let mut declared: Vec<String> = Vec::new();
    let mut typed = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!declared.iter().any(|d| d == name), "{name} twice");
            declared.push(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(Some(name), declared.last().map(String::as_str));
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert_eq!(
                kind == "counter",
                name.ends_with("_total"),
                "counters and only counters end in _total: {line}"
            );
            typed.insert(name.to_owned());
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(
                Some(name),
                declared.last().map(String::as_str),
                "sample outside its family: {line}"
            );
            assert!(typed.contains(name), "{line}");
        }
    }
    for m in TORRENT_METRICS.iter().map(|m| m.0).chain([
        "btmirror_torrents",
        "btmirror_watch_rejected_torrents",
        "btmirror_uploaded_bytes_total",
        "btmirror_downloaded_bytes_total",
    ]) {
        assert!(declared.iter().any(|d| d == m), "{m} missing");
    }
}

#[test]
fn one_line_per_torrent_with_an_info_hash() {
    let text = render(&sample());
    for (name, ..) in TORRENT_METRICS {
        let lines = samples(&text, name);
        assert_eq!(lines.len(), 3, "{name}: {lines:?}");
    }
    let a = format!("info_hash=\"{}\",name=\"a.iso\"", "a".repeat(40));
    let c = format!("info_hash=\"{}\",name=\"disk.iso\"", "c".repeat(40));
    for expected in [
        format!("btmirror_torrent_uploaded_bytes_total{{{a}}} 5000000000"),
        format!("btmirror_torrent_size_bytes{{{a}}} 700"),
        format!("btmirror_torrent_progress_ratio{{{a}}} 1"),
        format!("btmirror_torrent_peers{{{a}}} 3"),
        format!("btmirror_torrent_seeds{{{a}}} 1"),
        format!("btmirror_torrent_peers_encrypted{{{a}}} 2"),
        format!("btmirror_torrent_peers_rc4{{{a}}} 1"),
        format!("btmirror_torrent_peers_plaintext{{{a}}} 1"),
        "btmirror_peer_handshakes_total{direction=\"incoming\",result=\"encrypted_failed\"} 7"
            .to_owned(),
        "btmirror_encryption_policy{policy=\"require\"} 1".to_owned(),
        format!("btmirror_torrent_upload_rate_bytes{{{a}}} 2048"),
        format!("btmirror_torrent_error{{{a}}} 0"),
        format!("btmirror_torrent_error{{{c}}} 1"),
        "btmirror_watch_rejected_torrents 1".to_owned(),
        "btmirror_torrents{state=\"seeding\"} 1".to_owned(),
        "btmirror_torrents{state=\"error\"} 2".to_owned(),
        "btmirror_torrents{state=\"checking\"} 1".to_owned(),
        "btmirror_torrents{state=\"paused\"} 0".to_owned(),
        "btmirror_uploaded_bytes_total 1000".to_owned(),
        "btmirror_downloaded_bytes_total 42".to_owned(),
        "btmirror_upload_rate_bytes 2048".to_owned(),
        "btmirror_build_info{version=\"1.2.3\"} 1".to_owned(),
        "btmirror_peers{transport=\"tcp\"} 2".to_owned(),
        "btmirror_peers{transport=\"utp\"} 1".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing {expected:?} in\n{text}"
        );
    }
    assert!(text.contains("btmirror_torrent_progress_ratio{") && text.contains("} 0.25\n"));
}

#[test]
fn duplicate_info_hashes_give_one_series() {
    let mut r = sample();
    r.torrents
        .push(torrent("again.iso", &"a".repeat(40), "seeding"));
    let text = render(&r);
    assert_eq!(samples(&text, "btmirror_torrent_size_bytes").len(), 3);
    assert!(!text.contains("again.iso"), "{text}");
}

#[test]
fn an_empty_report_still_declares_every_family() {
    let text = render(&StatusReport::default());
    assert!(text.contains("# TYPE btmirror_torrent_uploaded_bytes_total counter\n"));
    assert!(samples(&text, "btmirror_torrent_uploaded_bytes_total").is_empty());
    assert!(text.contains("\nbtmirror_watch_rejected_torrents 0\n"));
    assert!(text.contains("\nbtmirror_uploaded_bytes_total 0\n"));
}

#[test]
fn odd_floats_use_the_text_format_spelling() {
    assert_eq!(Value::Float(f64::NAN).to_string(), "NaN");
    assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
    assert_eq!(Value::Float(f64::NEG_INFINITY).to_string(), "-Inf");
    assert_eq!(Value::Float(0.5).to_string(), "0.5");
    assert_eq!(Value::Int(u64::MAX).to_string(), "18446744073709551615");
}

#[test]
fn only_get_and_head_on_the_metrics_path() {
    let report: ReportFn = Arc::new(sample);
    let ok = respond(&Method::GET, "/metrics", &report);
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()[CONTENT_TYPE], TEXT_FORMAT);
    assert_eq!(
        respond(&Method::HEAD, "/metrics", &report).status(),
        StatusCode::OK
    );
    assert_eq!(
        respond(&Method::GET, "/", &report).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        respond(&Method::GET, "/metrics/x", &report).status(),
        StatusCode::NOT_FOUND
    );
    let post = respond(&Method::POST, "/metrics", &report);
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()[ALLOW], "GET, HEAD");
}

#[tokio::test]
async fn serves_over_tcp_and_stops_when_cancelled() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let server = tokio::spawn(serve(listener, Arc::new(sample), cancel.clone()));
    let get = |path: &'static str| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        resp
    };
    let resp = get("/metrics").await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(
        resp.contains("content-type: text/plain; version=0.0.4"),
        "{resp}"
    );
    assert!(resp.contains("\r\n\r\n# HELP btmirror_torrent_uploaded_bytes_total "));
    assert!(get("/nope").await.starts_with("HTTP/1.1 404 "));
    // An idle keep-alive connection does not hold the stop up.
    let _idle = TcpStream::connect(addr).await.unwrap();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = bind(addr).await.unwrap_err();
    assert!(format!("{e:#}").contains(&addr.to_string()), "{e:#}");
}

#[test]
fn feeds_get_one_series_each() {
    let mut r = sample();
    assert!(!render(&r).contains("btmirror_feed_"));
    r.feeds = vec![crate::control::protocol::FeedReport {
        url: "http://127.0.0.1/bt-cd/".into(),
        into: "/w".into(),
        last_success: Some(1_700_000_000),
        files_held: 2,
        next_fetch: 1_700_003_600,
        ..Default::default()
    }];
    let text = render(&r);
    let labels = r#"{url="http://127.0.0.1/bt-cd/",into="/w"}"#;
    for line in [
        format!("btmirror_feed_files{labels} 2"),
        format!("btmirror_feed_failures{labels} 0"),
        format!("btmirror_feed_last_success_timestamp_seconds{labels} 1700000000"),
        format!("btmirror_feed_next_fetch_timestamp_seconds{labels} 1700003600"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    assert!(!text.contains(&format!(
        "btmirror_feed_last_error_timestamp_seconds{labels}"
    )));
}

#[test]
fn the_dht_gets_its_series_when_it_runs() {
    let mut r = sample();
    assert!(!render(&r).contains("btmirror_dht_"));
    r.dht = Some(crate::control::protocol::DhtStatus {
        state: "ready".into(),
        nodes: 12,
        lookups: 2,
        queued_lookups: 1,
        announces: 7,
        peers_found: 40,
        stored_peers: 3,
        query_rate: 50,
        sent: 120,
        received: 110,
    });
    let text = render(&r);
    for line in [
        "btmirror_dht_nodes 12",
        "btmirror_dht_lookups 2",
        "btmirror_dht_peers_found_total 40",
        "btmirror_dht_stored_peers 3",
        "btmirror_dht_announces_total 7",
        "btmirror_dht_sent_total 120",
        "btmirror_dht_received_total 110",
        "# TYPE btmirror_dht_peers_found_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
