//! Fetching feeds and `.torrent` files over HTTP(S): conditional GETs, size limits, a redirect
//! limit and timeouts. TLS is rustls with the ring provider and the system's roots, as for the
//! tracker client.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use url::Url;

use crate::error::FeedError;

/// Limits on what a fetch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest feed document read (default 16 MiB: a 10,000-entry RSS feed is ~4 MiB).
    pub page: usize,
    /// The largest `.torrent` read (default 16 MiB; a torrent of a DVD image is ~100 KiB).
    pub torrent: usize,
    /// The timeout of one request, connection to last byte (default 60 s).
    pub timeout: Duration,
    /// The timeout to connect (default 15 s).
    pub connect_timeout: Duration,
    /// How many redirects one request follows (default 5).
    pub redirects: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            page: 16 * 1024 * 1024,
            torrent: 16 * 1024 * 1024,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            redirects: 5,
        }
    }
}

/// The HTTP client of every feed: one connection pool, the [`Limits`].
#[derive(Clone, Debug)]
pub struct Fetcher {
    http: reqwest::Client,
    limits: Limits,
}

/// The validators of the last good fetch, sent back in a conditional GET.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Validators {
    /// `ETag`, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified`, sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// What a conditional GET of a feed returned.
#[derive(Debug)]
pub(crate) enum Page {
    /// 304: nothing changed since the validators were given.
    NotModified,
    /// 200: the body, from `url` (the final URL, after redirects), with its validators.
    Body {
        body: Vec<u8>,
        url: Url,
        validators: Validators,
    },
}

impl Fetcher {
    /// A client sending `user_agent`, with the default [`Limits`]. Installs rustls' ring
    /// provider as the process default if none is installed yet.
    pub fn new(user_agent: &str) -> Result<Self, FeedError> {
        Self::with_limits(user_agent, Limits::default())
    }

    /// A client with the given limits.
    pub fn with_limits(user_agent: &str, limits: Limits) -> Result<Self, FeedError> {
        // Fails only when a provider is already installed, which is what we want anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = || {
            reqwest::Client::builder()
                .user_agent(user_agent)
                .timeout(limits.timeout)
                .connect_timeout(limits.connect_timeout)
                .redirect(reqwest::redirect::Policy::limited(limits.redirects))
                // Connections are reused between the downloads of one fetch; fetches are
                // many minutes apart, and the server has closed idle ones by then.
                .pool_idle_timeout(Duration::from_secs(30))
        };
        let http = match builder().build() {
            Ok(c) => c,
            // No CA certificates on a minimal system: http feeds must still work (https ones
            // then fail, saying why).
            Err(e) => {
                tracing::warn!(error = %e, "no usable CA certificates: https feeds will fail");
                let tls = rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                builder()
                    .use_preconfigured_tls(tls)
                    .build()
                    .map_err(FeedError::Setup)?
            }
        };
        Ok(Self { http, limits })
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// GETs a feed document, conditionally when `validators` has any.
    pub(crate) async fn page(&self, url: &Url, validators: &Validators) -> Result<Page, FeedError> {
        let mut req = self.http.get(url.clone());
        if let Some(etag) = &validators.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let resp = send(url, req).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(Page::NotModified);
        }
        let validators = Validators {
            etag: header(resp.headers(), ETAG),
            last_modified: header(resp.headers(), LAST_MODIFIED),
        };
        let final_url = resp.url().clone();
        let body = self.body(url, resp, self.limits.page).await?;
        Ok(Page::Body {
            body,
            url: final_url,
            validators,
        })
    }

    /// GETs a `.torrent` (not yet checked to be one).
    pub(crate) async fn torrent(&self, url: &Url) -> Result<Vec<u8>, FeedError> {
        let resp = send(url, self.http.get(url.clone())).await?;
        self.body(url, resp, self.limits.torrent).await
    }

    /// The body of a 200 answer, at most `limit` bytes.
    async fn body(
        &self,
        url: &Url,
        mut resp: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, FeedError> {
        if resp.status() != StatusCode::OK {
            return Err(FeedError::Http {
                url: url.to_string(),
                status: resp.status().as_u16(),
            });
        }
        let too_large = || FeedError::TooLarge {
            url: url.to_string(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(url, e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Sends a GET, once more at once if it failed to connect or send: a pooled connection the
/// server closed (it restarted, or timed the connection out) fails the first try with
/// "connection closed before message completed"; the second says what is really wrong.
async fn send(url: &Url, req: reqwest::RequestBuilder) -> Result<reqwest::Response, FeedError> {
    let again = req.try_clone();
    match (req.send().await, again) {
        (Ok(resp), _) => Ok(resp),
        (Err(e), Some(again)) if retryable(&e) => {
            tracing::debug!(url = %url, error = %e, "GET failed, trying once more");
            again.send().await.map_err(|e| transport(url, e))
        }
        (Err(e), _) => Err(transport(url, e)),
    }
}

/// True for failures to connect or to send on a connection, not for timeouts or redirect
/// loops.
fn retryable(e: &reqwest::Error) -> bool {
    (e.is_connect() || e.is_request()) && !e.is_timeout() && !e.is_redirect()
}

/// A header's value, when it is visible ASCII.
fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A transport error on `url`.
fn transport(url: &Url, source: reqwest::Error) -> FeedError {
    FeedError::Transport {
        url: url.to_string(),
        source,
    }
}
