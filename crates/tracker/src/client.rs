//! The tracker client: one [`Client`] that announces to and scrapes `http(s)://` trackers
//! (BEP 3, 23, 7) and `udp://` trackers (BEP 15), plus [`Tiers`] for BEP 12 announce lists and a
//! [`Backoff`] schedule for trackers that keep failing.

mod http;
mod tiers;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metainfo::{InfoHash, PeerId};

pub use tiers::{Backoff, Tiers};

/// Boxed transport error kept as the `source` of [`Error::Http`].
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an announce or scrape did not produce an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP exchange failed: a non-200 status (`status` is set) or a transport error
    /// (`source` is set).
    #[error("HTTP tracker {url}: {}", http_what(*.status))]
    Http {
        /// The announce or scrape URL that was asked (without the query we added).
        url: String,
        /// The HTTP status when the tracker answered with something other than 200.
        status: Option<u16>,
        /// The transport error, when there was one.
        #[source]
        source: Option<BoxError>,
    },
    /// The tracker answered with a refusal (`failure reason`, or UDP action 3).
    #[error("tracker refused: {0}")]
    Failure(String),
    /// The tracker's answer is not a valid response.
    #[error("malformed tracker response: {0}")]
    Malformed(String),
    /// The tracker did not answer in time.
    #[error("tracker timed out")]
    Timeout,
    /// A socket or name-resolution error.
    #[error("tracker i/o")]
    Io(#[from] std::io::Error),
    /// The URL is neither `http://`, `https://` nor `udp://` (or cannot be parsed as one).
    #[error("unsupported tracker url {0:?}")]
    UnsupportedScheme(String),
    /// The tracker URL has no scrape counterpart (BEP 48: the last path segment must start with
    /// `announce`).
    #[error("tracker {0} does not support scrape")]
    NoScrape(String),
    /// The HTTP client could not be built.
    #[error("building the HTTP client")]
    Setup(#[source] BoxError),
    /// Every tracker of a [`Tiers`] failed: each URL with its error, in the order tried.
    #[error("every tracker failed: {}", describe_all(.0))]
    AllFailed(Vec<(String, String)>),
}

impl Error {
    /// What went wrong without the tracker's URL (the caller names it once), ending with the
    /// system's reason for a transport failure (`Connection refused (os error 111)`).
    pub fn reason(&self) -> String {
        match self {
            Self::Http {
                source: Some(src),
                status: None,
                ..
            } => {
                let mut cur: &(dyn std::error::Error + 'static) = src.as_ref();
                while let Some(next) = cur.source() {
                    cur = next;
                }
                format!("request failed: {cur}")
            }
            Self::Http { status, .. } => http_what(*status),
            Self::Io(e) => format!("tracker i/o: {e}"),
            other => other.to_string(),
        }
    }
}

fn http_what(status: Option<u16>) -> String {
    match status {
        Some(s) => format!("answered with HTTP status {s}"),
        None => "request failed".to_owned(),
    }
}

fn describe_all(failures: &[(String, String)]) -> String {
    if failures.is_empty() {
        return "no trackers".to_owned();
    }
    let parts: Vec<String> = failures.iter().map(|(u, e)| format!("{u}: {e}")).collect();
    parts.join("; ")
}

/// The `event` of an announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Event {
    /// A regular re-announce.
    #[default]
    None,
    /// The first announce of a torrent.
    Started,
    /// The download just finished (sent once).
    Completed,
    /// The torrent is being stopped.
    Stopped,
}

/// What we tell the tracker about ourselves and one torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The TCP port we accept peers on.
    pub port: u16,
    /// Bytes uploaded since `started`.
    pub uploaded: u64,
    /// Bytes downloaded since `started`.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// Why we announce.
    pub event: Event,
    /// How many peers we want; `None` lets the tracker choose.
    pub numwant: Option<u32>,
    /// A random number fixed per session, so the tracker can recognise us across IP changes.
    pub key: u32,
}

/// What a tracker answered to an announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// How long to wait before the next regular announce (never below 10 s, at most a day).
    pub interval: Duration,
    /// The shortest re-announce interval the tracker accepts, if it said.
    pub min_interval: Option<Duration>,
    /// Peers, IPv4 and IPv6 mixed, in the order the tracker listed them.
    pub peers: Vec<SocketAddr>,
    /// Number of seeders (`complete`), if the tracker said.
    pub seeders: Option<u32>,
    /// Number of leechers (`incomplete`), if the tracker said.
    pub leechers: Option<u32>,
    /// A `warning message`, if any.
    pub warning: Option<String>,
}

/// A tracker's counters for one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads the tracker has seen.
    pub downloaded: u32,
}

/// Interval bounds applied to every tracker answer: a tracker asking for less than `MIN_INTERVAL`
/// would have us hammer it, one asking for more than `MAX_INTERVAL` would silence us for good.
const MIN_INTERVAL: Duration = Duration::from_secs(10);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Clamps an interval in seconds given by a tracker into `MIN_INTERVAL..=MAX_INTERVAL`.
pub(crate) fn clamp_interval(secs: u64) -> Duration {
    Duration::from_secs(secs).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// Default per-request HTTP timeout.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// BEP 15's base retransmission timeout (`15 * 2^n` seconds).
const UDP_TIMEOUT: Duration = Duration::from_secs(15);
/// How many UDP sends one announce or scrape makes before giving up.
const UDP_TRIES: u32 = 3;

/// An announce/scrape client for HTTP(S) and UDP trackers. Cheap to clone: clones share the HTTP
/// connection pool, the UDP sockets and the UDP connection-id cache.
#[derive(Clone)]
pub struct Client {
    /// Pooled HTTP client; TLS through rustls with the ring provider.
    http: reqwest::Client,
    /// Per-request HTTP timeout (connect + headers + body).
    http_timeout: Duration,
    /// Shared UDP state; replaced (not mutated) by the `with_udp_*` builders.
    udp: Arc<udp::UdpClient>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("http_timeout", &self.http_timeout)
            .field("udp", &self.udp)
            .finish_non_exhaustive()
    }
}

/// Builds the HTTP client `builder` describes, with rustls' ring provider as the process
/// default. On a system without usable CA certificates it goes on without trusted roots, so
/// plain `http://` still works and `https://` fails saying why; `warning` (what will fail) is
/// then logged once.
pub fn http_client(
    builder: impl Fn() -> reqwest::ClientBuilder,
    warning: Option<&str>,
) -> Result<reqwest::Client, reqwest::Error> {
    // Fails only when a provider is already installed, which is what we want anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match builder().build() {
        Ok(c) => Ok(c),
        Err(e) => {
            if let Some(w) = warning {
                tracing::warn!(error = %e, "no usable CA certificates: {w}");
            }
            let tls = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder().use_preconfigured_tls(tls).build()
        }
    }
}

impl Client {
    /// A client sending `user_agent` on HTTP requests, with the default timeouts (HTTP 15 s; UDP
    /// 15 s then 30 s then 60 s). Installs rustls' ring crypto provider as the process default if
    /// none is installed yet.
    pub fn new(user_agent: &str) -> Result<Self, Error> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(user_agent)
                .timeout(HTTP_TIMEOUT)
                .redirect(reqwest::redirect::Policy::limited(5))
                // Announces are minutes apart and many trackers (opentracker) close the
                // connection after each answer: a pooled connection would only fail the next
                // announce, the `stopped` one included.
                .pool_max_idle_per_host(0)
        };
        let http = http_client(builder, Some("https trackers will fail"))
            .map_err(|e| Error::Setup(Box::new(e)))?;
        Ok(Self {
            http,
            http_timeout: HTTP_TIMEOUT,
            udp: Arc::new(udp::UdpClient::new(UDP_TIMEOUT, UDP_TRIES)),
        })
    }

    /// Sets the per-request HTTP timeout (default 15 s).
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Sets the base UDP retransmission timeout (default 15 s, per BEP 15): the n-th send waits
    /// `base * 2^n`. Starts a fresh UDP state (sockets and connection-id cache).
    pub fn with_udp_timeout(mut self, base: Duration) -> Self {
        self.udp = Arc::new(udp::UdpClient::new(base, self.udp.tries()));
        self
    }

    /// Sets how many UDP sends one announce or scrape makes in total before it fails with
    /// [`Error::Timeout`] (default 3; at least 1). Starts a fresh UDP state.
    pub fn with_udp_tries(mut self, tries: u32) -> Self {
        self.udp = Arc::new(udp::UdpClient::new(self.udp.base_timeout(), tries.max(1)));
        self
    }

    /// Announces to one tracker (`http://`, `https://` or `udp://`).
    pub async fn announce(
        &self,
        url: &str,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, Error> {
        self.announce_with_id(url, req, None)
            .await
            .map(|(resp, _)| resp)
    }

    /// Announces, sending `tracker_id` back when known; also returns the `tracker id` the
    /// tracker gave (HTTP only).
    pub(crate) async fn announce_with_id(
        &self,
        url: &str,
        req: &AnnounceRequest,
        tracker_id: Option<&[u8]>,
    ) -> Result<(AnnounceResponse, Option<Vec<u8>>), Error> {
        match scheme(url)? {
            Scheme::Http => {
                http::announce(&self.http, self.http_timeout, url, req, tracker_id).await
            }
            Scheme::Udp => Ok((self.udp.announce(url, req).await?, None)),
        }
    }

    /// Asks one tracker for its counters for `info_hash`. A tracker that does not list the
    /// torrent is reported as all zeros.
    pub async fn scrape(&self, url: &str, info_hash: InfoHash) -> Result<ScrapeStats, Error> {
        match scheme(url)? {
            Scheme::Http => http::scrape(&self.http, self.http_timeout, url, info_hash).await,
            Scheme::Udp => self.udp.scrape(url, info_hash).await,
        }
    }
}

/// The two families of tracker protocols.
#[derive(Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Udp,
}

fn scheme(url: &str) -> Result<Scheme, Error> {
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| Error::UnsupportedScheme(url.to_owned()))?;
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => Ok(Scheme::Http),
        "udp" => Ok(Scheme::Udp),
        _ => Err(Error::UnsupportedScheme(url.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_dispatch() {
        assert_eq!(scheme("http://a/announce").ok(), Some(Scheme::Http));
        assert_eq!(scheme("HTTPS://a/announce").ok(), Some(Scheme::Http));
        assert_eq!(scheme("udp://a:1").ok(), Some(Scheme::Udp));
        assert!(matches!(
            scheme("wss://a"),
            Err(Error::UnsupportedScheme(_))
        ));
        assert!(matches!(
            scheme("garbage"),
            Err(Error::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn interval_is_clamped() {
        assert_eq!(clamp_interval(0), Duration::from_secs(10));
        assert_eq!(clamp_interval(1800), Duration::from_secs(1800));
        assert_eq!(clamp_interval(u64::MAX), Duration::from_secs(86400));
    }

    #[test]
    fn all_failed_names_every_url() {
        let e = Error::AllFailed(vec![
            ("http://a/announce".into(), "tracker timed out".into()),
            ("udp://b:1".into(), "tracker refused: no".into()),
        ]);
        let s = e.to_string();
        assert!(s.contains("http://a/announce: tracker timed out"), "{s}");
        assert!(s.contains("udp://b:1: tracker refused: no"), "{s}");
    }

    #[tokio::test]
    async fn unsupported_scheme_is_reported() {
        let c = Client::new("test").expect("client");
        let req = AnnounceRequest {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            port: 1,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::None,
            numwant: None,
            key: 0,
        };
        let e = c.announce("wss://tracker.example/announce", &req).await;
        assert!(matches!(e, Err(Error::UnsupportedScheme(_))));
    }
}
