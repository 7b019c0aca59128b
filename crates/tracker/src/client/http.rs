//! HTTP(S) trackers: the announce query (BEP 3), compact IPv4/IPv6 and dictionary peer lists
//! (BEP 23, BEP 7), and scrape via the `announce` → `scrape` URL convention (BEP 48).
//!
//! Query building is pure, and the answers are read by [`crate::wire::http`]; only [`announce`]
//! and [`scrape`] touch the network.

use std::time::Duration;

use metainfo::InfoHash;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use super::{AnnounceRequest, AnnounceResponse, Error, Event, ScrapeStats};
use crate::wire::http::{parse_announce, parse_scrape};

/// Everything except RFC 3986 unreserved characters gets percent-encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Largest response body we read; a tracker sending more is broken or hostile.
pub(crate) const MAX_BODY: usize = 2 * 1024 * 1024;

/// Percent-encodes arbitrary bytes for a query value.
fn enc(bytes: &[u8]) -> String {
    percent_encode(bytes, QUERY).to_string()
}

/// Appends `query` to `url` with `?`, or with `&` when the URL already has a query.
fn with_query(url: &str, query: &str) -> String {
    let sep = match url.find('?') {
        None => "?",
        Some(_) if url.ends_with('?') || url.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{url}{sep}{query}")
}

/// The full announce URL for `req`.
pub(crate) fn announce_url(url: &str, req: &AnnounceRequest, tracker_id: Option<&[u8]>) -> String {
    let mut q = format!(
        "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1&key={:08x}",
        enc(&req.info_hash.0),
        enc(&req.peer_id.0),
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
        req.key,
    );
    let event = match req.event {
        Event::None => None,
        Event::Started => Some("started"),
        Event::Completed => Some("completed"),
        Event::Stopped => Some("stopped"),
    };
    if let Some(event) = event {
        q.push_str("&event=");
        q.push_str(event);
    }
    if let Some(n) = req.numwant {
        q.push_str(&format!("&numwant={n}"));
    }
    if let Some(id) = tracker_id {
        q.push_str("&trackerid=");
        q.push_str(&enc(id));
    }
    with_query(url, &q)
}

/// The scrape URL for an announce URL (BEP 48): the last path segment must start with
/// `announce`, which becomes `scrape`.
pub(crate) fn scrape_url(url: &str, info_hash: InfoHash) -> Result<String, Error> {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let slash = path
        .rfind('/')
        .ok_or_else(|| Error::NoScrape(url.to_owned()))?;
    let (head, last) = path.split_at(slash + 1);
    let rest = last
        .strip_prefix("announce")
        .ok_or_else(|| Error::NoScrape(url.to_owned()))?;
    // `http://host/` has "host" as its last segment before the authority's slash; require a path.
    if head.ends_with("//") {
        return Err(Error::NoScrape(url.to_owned()));
    }
    let mut base = format!("{head}scrape{rest}");
    if let Some(q) = query {
        base.push('?');
        base.push_str(q);
    }
    Ok(with_query(
        &base,
        &format!("info_hash={}", enc(&info_hash.0)),
    ))
}

/// Turns a reqwest error into ours.
fn transport_error(url: &str, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout
    } else {
        Error::Http {
            url: url.to_owned(),
            status: None,
            source: Some(Box::new(e)),
        }
    }
}

/// GETs `full` and returns the body of a 200 answer, at most [`MAX_BODY`] bytes.
async fn get(
    http: &reqwest::Client,
    timeout: Duration,
    url: &str,
    full: &str,
) -> Result<Vec<u8>, Error> {
    let mut resp = http
        .get(full)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport_error(url, e))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(Error::Http {
            url: url.to_owned(),
            status: Some(resp.status().as_u16()),
            source: None,
        });
    }
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Error::Malformed(format!(
            "body larger than {MAX_BODY} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(url, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Error::Malformed(format!(
                "body larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Announces over HTTP(S).
pub(crate) async fn announce(
    http: &reqwest::Client,
    timeout: Duration,
    url: &str,
    req: &AnnounceRequest,
    tracker_id: Option<&[u8]>,
) -> Result<(AnnounceResponse, Option<Vec<u8>>), Error> {
    let full = announce_url(url, req, tracker_id);
    tracing::debug!(url, event = ?req.event, "http announce");
    let body = get(http, timeout, url, &full).await?;
    parse_announce(&body)
}

/// Scrapes over HTTP(S).
pub(crate) async fn scrape(
    http: &reqwest::Client,
    timeout: Duration,
    url: &str,
    info_hash: InfoHash,
) -> Result<ScrapeStats, Error> {
    let full = scrape_url(url, info_hash)?;
    tracing::debug!(url, "http scrape");
    let body = get(http, timeout, url, &full).await?;
    parse_scrape(&body, info_hash)
}

#[cfg(test)]
mod tests;
