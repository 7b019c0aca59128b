//! HTTP(S) trackers: the announce query (BEP 3), compact IPv4/IPv6 and dictionary peer lists
//! (BEP 23, BEP 7), and scrape via the `announce` → `scrape` URL convention (BEP 48).
//!
//! Query building and response parsing are pure functions; only [`announce`] and [`scrape`]
//! touch the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use metainfo::InfoHash;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use super::{AnnounceRequest, AnnounceResponse, Error, Event, ScrapeStats, clamp_interval};

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

/// Reads a non-negative integer that fits `u32`.
fn get_u32(v: &bencode::Value<'_>, key: &[u8]) -> Option<u32> {
    v.get(key)?.as_int().and_then(|i| u32::try_from(i).ok())
}

/// Reads a non-negative number of seconds.
fn get_secs(v: &bencode::Value<'_>, key: &[u8]) -> Option<u64> {
    v.get(key)?.as_int().and_then(|i| u64::try_from(i).ok())
}

/// Decodes a body into its top-level dictionary, turning `failure reason` into an error.
fn decode_dict(body: &[u8]) -> Result<bencode::Value<'_>, Error> {
    let v =
        bencode::decode_lenient(body).map_err(|e| Error::Malformed(format!("not bencode: {e}")))?;
    if v.as_dict().is_none() {
        return Err(Error::Malformed("top level is not a dictionary".into()));
    }
    if let Some(reason) = v.get(b"failure reason") {
        let text = reason
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "(failure reason is not a string)".to_owned());
        return Err(Error::Failure(text));
    }
    Ok(v)
}

/// Parses an announce response body; also returns the `tracker id`, if any.
pub(crate) fn parse_announce(body: &[u8]) -> Result<(AnnounceResponse, Option<Vec<u8>>), Error> {
    let v = decode_dict(body)?;
    let interval = get_secs(&v, b"interval")
        .ok_or_else(|| Error::Malformed("missing or negative interval".into()))?;
    let mut peers = Vec::new();
    match v.get(b"peers") {
        None => {}
        Some(p) => {
            if let Some(compact) = p.as_bytes() {
                parse_compact_v4(compact, &mut peers)?;
            } else if let Some(list) = p.as_list() {
                parse_dict_peers(list, &mut peers);
            } else {
                return Err(Error::Malformed(
                    "peers is neither a string nor a list".into(),
                ));
            }
        }
    }
    if let Some(p6) = v.get(b"peers6") {
        let compact = p6
            .as_bytes()
            .ok_or_else(|| Error::Malformed("peers6 is not a string".into()))?;
        parse_compact_v6(compact, &mut peers)?;
    }
    let response = AnnounceResponse {
        interval: clamp_interval(interval),
        min_interval: get_secs(&v, b"min interval").map(clamp_interval),
        peers,
        seeders: get_u32(&v, b"complete"),
        leechers: get_u32(&v, b"incomplete"),
        warning: v
            .get(b"warning message")
            .and_then(|w| w.as_bytes())
            .map(|b| String::from_utf8_lossy(b).into_owned()),
    };
    let tracker_id = v
        .get(b"tracker id")
        .and_then(|t| t.as_bytes())
        .filter(|t| !t.is_empty())
        .map(<[u8]>::to_vec);
    Ok((response, tracker_id))
}

/// Appends compact IPv4 peers (4 address bytes + 2 port bytes each, big-endian).
pub(crate) fn parse_compact_v4(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), Error> {
    if !bytes.len().is_multiple_of(6) {
        return Err(Error::Malformed(format!(
            "compact peers length {} is not a multiple of 6",
            bytes.len()
        )));
    }
    out.extend(bytes.chunks_exact(6).filter_map(|c| {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        let port = u16::from_be_bytes([c[4], c[5]]);
        (port != 0).then(|| SocketAddr::V4(SocketAddrV4::new(ip, port)))
    }));
    Ok(())
}

/// Appends compact IPv6 peers (16 address bytes + 2 port bytes each, big-endian).
pub(crate) fn parse_compact_v6(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), Error> {
    if !bytes.len().is_multiple_of(18) {
        return Err(Error::Malformed(format!(
            "compact peers6 length {} is not a multiple of 18",
            bytes.len()
        )));
    }
    out.extend(bytes.chunks_exact(18).filter_map(|c| {
        let mut ip = [0u8; 16];
        ip.copy_from_slice(&c[..16]);
        let port = u16::from_be_bytes([c[16], c[17]]);
        (port != 0).then(|| SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0)))
    }));
    Ok(())
}

/// Appends peers from the original (BEP 3) list of `{ip, port, peer id}` dictionaries. Entries
/// with a hostname instead of an address, or without a usable port, are skipped.
fn parse_dict_peers(list: &[bencode::Value<'_>], out: &mut Vec<SocketAddr>) {
    for entry in list {
        let ip = entry
            .get(b"ip")
            .and_then(|i| i.as_str())
            .and_then(|s| s.parse::<IpAddr>().ok());
        let port = entry
            .get(b"port")
            .and_then(|p| p.as_int())
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        if let (Some(ip), Some(port)) = (ip, port) {
            out.push(SocketAddr::new(ip, port));
        }
    }
}

/// Parses a scrape response for `info_hash`; a torrent the tracker does not list is all zeros.
pub(crate) fn parse_scrape(body: &[u8], info_hash: InfoHash) -> Result<ScrapeStats, Error> {
    let v = decode_dict(body)?;
    let files = v
        .get(b"files")
        .and_then(|f| f.as_dict())
        .ok_or_else(|| Error::Malformed("scrape response without files dictionary".into()))?;
    let Some(entry) = files.get(&info_hash.0) else {
        return Ok(ScrapeStats::default());
    };
    Ok(ScrapeStats {
        complete: get_u32(entry, b"complete").unwrap_or(0),
        incomplete: get_u32(entry, b"incomplete").unwrap_or(0),
        downloaded: get_u32(entry, b"downloaded").unwrap_or(0),
    })
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
