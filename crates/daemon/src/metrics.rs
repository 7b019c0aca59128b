//! `btmirror run --metrics ADDR:PORT`: the daemon's status in the Prometheus text format
//! (version 0.0.4) at `http://ADDR:PORT/metrics`.
//!
//! The numbers come from the same report function as the control socket's status, so
//! `btmirror status`, `btmirror top` and a scrape always agree. Per-torrent series carry the
//! `info_hash` and `name` labels; `.torrent` files that could not be parsed have no info-hash
//! and are only counted (`btmirror_watch_rejected_torrents`, `btmirror_torrents{state}`).
//! The per-torrent byte counters are the lifetime counters, kept across restarts in the
//! resume data.
//!
//! The server is deliberately small: HTTP/1.1 on hyper, `GET`/`HEAD /metrics` only, a few
//! connections at once, a deadline for request heads, and it stops when its token is
//! cancelled.

use std::collections::HashSet;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::control::ReportFn;
use crate::control::protocol::{STATES, StatusReport, TorrentStatus};

/// The path the metrics are served at.
pub const PATH: &str = "/metrics";
/// The content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Most connections served at once; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// A client must send its request head within this long (also bounds idle keep-alive).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer cap per connection: longer request heads are refused by hyper.
const MAX_HEAD: usize = 16 * 1024;
/// How long stopping waits for open connections to finish.
const DRAIN: Duration = Duration::from_millis(500);

/// Binds the metrics listener (a failure is a start-up error naming the address).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr} (--metrics / metrics)"))
}

/// Serves `GET /metrics` on `listener` until `cancel` fires, rendering `report()` per request.
pub async fn serve(listener: TcpListener, report: ReportFn, cancel: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving Prometheus metrics at http://{addr}{PATH}");
    }
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tasks = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => break,
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tasks.spawn(connection(stream, report.clone(), cancel.clone(), permit));
    }
    drop(listener);
    tasks.close();
    let _ = tokio::time::timeout(DRAIN, tasks.wait()).await;
}

/// Serves one HTTP connection until it ends or `cancel` fires.
async fn connection(
    stream: TcpStream,
    report: ReportFn,
    cancel: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req: Request<Incoming>| {
        let resp = respond(req.method(), req.uri().path(), &report);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::trace!("metrics connection ended: {e}");
            }
            return;
        }
        () = cancel.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN, conn).await;
}

/// The answer to `method path`: the metrics, 405 for other methods on [`PATH`], else 404.
fn respond(method: &Method, path: &str, report: &ReportFn) -> Response<Full<Bytes>> {
    if path != PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        );
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut r = Response::new(Full::new(Bytes::from(render(&report()))));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A short plain-text answer with status `code`.
fn plain(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A sample value: counters stay exact integers, ratios are floats.
#[derive(Clone, Copy, Debug)]
enum Value {
    Int(u64),
    Float(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Float(x) if x.is_nan() => f.write_str("NaN"),
            Self::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Self::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            Self::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A per-torrent metric: name, type, help, and how to read it from a torrent's status.
type TorrentMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TorrentStatus) -> Value,
);

/// The per-torrent metrics, in output order.
const TORRENT_METRICS: [TorrentMetric; 16] = [
    (
        "btmirror_torrent_uploaded_bytes_total",
        "counter",
        "Bytes uploaded to peers over the torrent's life (kept across restarts).",
        |t| Value::Int(t.lifetime_uploaded),
    ),
    (
        "btmirror_torrent_downloaded_bytes_total",
        "counter",
        "Bytes downloaded from peers over the torrent's life (kept across restarts).",
        |t| Value::Int(t.lifetime_downloaded),
    ),
    (
        "btmirror_torrent_size_bytes",
        "gauge",
        "Total size of the torrent's data.",
        |t| Value::Int(t.size),
    ),
    (
        "btmirror_torrent_progress_ratio",
        "gauge",
        "Fraction of the data present and verified (0 to 1).",
        |t| Value::Float(t.progress),
    ),
    (
        "btmirror_torrent_peers",
        "gauge",
        "Connected peers, seeds included.",
        |t| Value::Int(u64::from(t.peers)),
    ),
    (
        "btmirror_torrent_seeds",
        "gauge",
        "Connected peers that have the whole torrent.",
        |t| Value::Int(u64::from(t.seeds)),
    ),
    (
        "btmirror_torrent_peers_encrypted",
        "gauge",
        "Connected peers whose handshake was encrypted (MSE/PE), RC4 afterwards or not.",
        |t| Value::Int(u64::from(t.peers_encrypted)),
    ),
    (
        "btmirror_torrent_peers_rc4",
        "gauge",
        "Connected peers with RC4 on every byte.",
        |t| Value::Int(u64::from(t.peers_rc4)),
    ),
    (
        "btmirror_torrent_peers_plaintext",
        "gauge",
        "Connected peers with a plaintext handshake.",
        |t| Value::Int(u64::from(t.peers_plaintext)),
    ),
    (
        "btmirror_torrent_upload_rate_bytes",
        "gauge",
        "Current upload rate in bytes per second.",
        |t| Value::Int(t.upload_rate),
    ),
    (
        "btmirror_torrent_download_rate_bytes",
        "gauge",
        "Current download rate in bytes per second.",
        |t| Value::Int(t.download_rate),
    ),
    (
        "btmirror_torrent_error",
        "gauge",
        "1 while the torrent is stopped by an error, else 0.",
        |t| Value::Int(u64::from(t.state == "error" || t.error.is_some())),
    ),
    (
        "btmirror_torrent_web_seeds_active",
        "gauge",
        "Web seeds fetching for the torrent now.",
        |t| Value::Int(t.web_seeds.iter().filter(|w| w.state == "active").count() as u64),
    ),
    (
        "btmirror_torrent_web_seeds_failing",
        "gauge",
        "Web seeds backed off, dropped (404/410) or banned (bad pieces).",
        |t| Value::Int(t.web_seeds.iter().filter(|w| w.failing()).count() as u64),
    ),
    (
        "btmirror_torrent_web_seed_downloaded_bytes_total",
        "counter",
        "Bytes received from web seeds this session.",
        |t| Value::Int(t.web_seeds.iter().map(|w| w.downloaded).sum()),
    ),
    (
        "btmirror_torrent_tracker_error",
        "gauge",
        "1 while the last announce failed on every tracker, else 0.",
        |t| Value::Int(u64::from(t.tracker_error.is_some())),
    ),
];

/// `report` in the Prometheus text format (version 0.0.4).
pub fn render(report: &StatusReport) -> String {
    let mut out = String::with_capacity(1024 + report.torrents.len() * 1200);
    render_torrents(&mut out, &report.torrents);
    render_counts(&mut out, &report.torrents);
    render_totals(&mut out, report);
    render_encryption(&mut out, report);
    render_feeds(&mut out, &report.feeds);
    render_dht(&mut out, report.dht.as_ref());
    out
}

/// The DHT node, when it runs: nodes in its table, lookups, peers found and stored.
fn render_dht(out: &mut String, dht: Option<&crate::control::protocol::DhtStatus>) {
    let Some(d) = dht else {
        return;
    };
    for (name, kind, help, v) in [
        (
            "btmirror_dht_nodes",
            "gauge",
            "Nodes in the DHT routing tables (IPv4 and IPv6).",
            d.nodes,
        ),
        (
            "btmirror_dht_lookups",
            "gauge",
            "DHT lookups of torrents running or queued.",
            d.lookups,
        ),
        (
            "btmirror_dht_peers_found_total",
            "counter",
            "Peers the DHT lookups found since the daemon started.",
            d.peers_found,
        ),
        (
            "btmirror_dht_stored_peers",
            "gauge",
            "Peers other DHT nodes announced to us.",
            d.stored_peers,
        ),
        (
            "btmirror_dht_announces_total",
            "counter",
            "DHT announces (lookup and announce_peer) finished since the daemon started.",
            d.announces,
        ),
        (
            "btmirror_dht_query_rate",
            "gauge",
            "The DHT's outgoing query limit (queries a second), fitted to the announcing torrents.",
            d.query_rate,
        ),
        (
            "btmirror_dht_sent_total",
            "counter",
            "KRPC datagrams sent since the daemon started.",
            d.sent,
        ),
        (
            "btmirror_dht_received_total",
            "counter",
            "KRPC datagrams received since the daemon started.",
            d.received,
        ),
    ] {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
}

/// The session's connection set-ups by direction and result.
fn render_encryption(out: &mut String, report: &StatusReport) {
    let e = &report.encryption;
    let name = "btmirror_peer_handshakes_total";
    family(
        out,
        name,
        "counter",
        "Peer connection set-ups since the daemon started, by direction and result \
         (plaintext, encrypted, encrypted_failed, refused, retried).",
    );
    for (direction, result, n) in [
        ("incoming", "plaintext", e.incoming_plaintext),
        ("incoming", "encrypted", e.incoming_encrypted),
        ("incoming", "encrypted_failed", e.incoming_encrypted_failed),
        ("incoming", "refused", e.incoming_refused),
        ("outgoing", "plaintext", e.outgoing_plaintext),
        ("outgoing", "encrypted", e.outgoing_encrypted),
        ("outgoing", "retried", e.outgoing_retries),
    ] {
        let _ = writeln!(
            out,
            "{name}{{direction=\"{direction}\",result=\"{result}\"}} {n}"
        );
    }
    family(
        out,
        "btmirror_encryption_policy",
        "gauge",
        "Always 1; the encryption policy of peer connections.",
    );
    let _ = writeln!(
        out,
        "btmirror_encryption_policy{{policy=\"{}\"}} 1",
        escape(&e.policy)
    );
}

/// One series per feed (labels `url` and `into`): its files, failures and times.
fn render_feeds(out: &mut String, feeds: &[crate::control::protocol::FeedReport]) {
    if feeds.is_empty() {
        return;
    }
    type Get = fn(&crate::control::protocol::FeedReport) -> Option<u64>;
    let series: [(&str, &str, Get); 5] = [
        (
            "btmirror_feed_files",
            "Torrent files the feed holds in its directory.",
            |f| u64::try_from(f.files_held).ok(),
        ),
        (
            "btmirror_feed_failures",
            "Fetches of the feed failed in a row (0 when the last succeeded).",
            |f| Some(u64::from(f.failures)),
        ),
        (
            "btmirror_feed_last_success_timestamp_seconds",
            "When a fetch of the feed last succeeded.",
            |f| f.last_success,
        ),
        (
            "btmirror_feed_last_error_timestamp_seconds",
            "When the failing feed's last fetch failed.",
            |f| f.last_error_at,
        ),
        (
            "btmirror_feed_next_fetch_timestamp_seconds",
            "When the feed is fetched next.",
            |f| Some(f.next_fetch),
        ),
    ];
    for (name, help, get) in series {
        family(out, name, "gauge", help);
        for f in feeds {
            if let Some(v) = get(f) {
                let _ = writeln!(
                    out,
                    "{name}{{url=\"{}\",into=\"{}\"}} {v}",
                    escape(&f.url),
                    escape(&f.into)
                );
            }
        }
    }
}

/// The per-torrent series (one per info-hash).
fn render_torrents(out: &mut String, list: &[TorrentStatus]) {
    // One series per info-hash: a duplicate would make Prometheus reject the whole scrape.
    let mut seen = HashSet::new();
    let torrents: Vec<(&TorrentStatus, String)> = list
        .iter()
        .filter(|t| !t.info_hash.is_empty() && seen.insert(t.info_hash.as_str()))
        .map(|t| {
            let labels = format!(
                "info_hash=\"{}\",name=\"{}\"",
                escape(&t.info_hash),
                escape(&t.name)
            );
            (t, labels)
        })
        .collect();
    for (name, kind, help, get) in TORRENT_METRICS {
        family(out, name, kind, help);
        for (t, labels) in &torrents {
            let _ = writeln!(out, "{name}{{{labels}}} {}", get(t));
        }
    }
}

/// Torrents by state, and the files that are not usable torrents.
fn render_counts(out: &mut String, list: &[TorrentStatus]) {
    family(
        out,
        "btmirror_torrents",
        "gauge",
        "Torrents (.torrent files in the watch directories) by state.",
    );
    for (state, n) in state_counts(list) {
        let _ = writeln!(out, "btmirror_torrents{{state=\"{}\"}} {n}", escape(state));
    }
    let rejected = list
        .iter()
        .filter(|t| t.info_hash.is_empty() && t.state == "error")
        .count();
    family(
        out,
        "btmirror_watch_rejected_torrents",
        "gauge",
        "Files in the watch directories that are not usable torrents (unparseable .torrent files).",
    );
    let _ = writeln!(out, "btmirror_watch_rejected_torrents {rejected}");
}

/// The totals and the build info.
fn render_totals(out: &mut String, report: &StatusReport) {
    let totals = &report.totals;
    for (name, kind, help, value) in [
        (
            "btmirror_uploaded_bytes_total",
            "counter",
            "Bytes uploaded since the daemon started (torrents removed since included).",
            totals.uploaded,
        ),
        (
            "btmirror_downloaded_bytes_total",
            "counter",
            "Bytes downloaded since the daemon started (torrents removed since included).",
            totals.downloaded,
        ),
        (
            "btmirror_lifetime_uploaded_bytes_total",
            "counter",
            "Bytes the daemon uploaded over its whole life (kept in the state directory).",
            totals.lifetime_uploaded,
        ),
        (
            "btmirror_lifetime_downloaded_bytes_total",
            "counter",
            "Bytes the daemon downloaded over its whole life (kept in the state directory).",
            totals.lifetime_downloaded,
        ),
        (
            "btmirror_upload_rate_bytes",
            "gauge",
            "Current upload rate of all torrents in bytes per second.",
            totals.upload_rate,
        ),
        (
            "btmirror_download_rate_bytes",
            "gauge",
            "Current download rate of all torrents in bytes per second.",
            totals.download_rate,
        ),
    ] {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        out,
        "btmirror_peers",
        "gauge",
        "Connected peers of all torrents by transport.",
    );
    let _ = writeln!(
        out,
        "btmirror_peers{{transport=\"tcp\"}} {}",
        totals.peers_tcp
    );
    let _ = writeln!(
        out,
        "btmirror_peers{{transport=\"utp\"}} {}",
        totals.peers_utp
    );
    family(
        out,
        "btmirror_build_info",
        "gauge",
        "Always 1; the version of the running daemon.",
    );
    let _ = writeln!(
        out,
        "btmirror_build_info{{version=\"{}\"}} 1",
        escape(&report.version)
    );
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Torrents per state: every known state (0 when none), then unknown ones as they come.
fn state_counts(torrents: &[TorrentStatus]) -> Vec<(&str, usize)> {
    let mut counts: Vec<(&str, usize)> = STATES.iter().map(|s| (*s, 0)).collect();
    for t in torrents {
        match counts.iter_mut().find(|(s, _)| *s == t.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((t.state.as_str(), 1)),
        }
    }
    counts
}

/// A label value escaped for the text format: backslash, double quote and newline.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests;
