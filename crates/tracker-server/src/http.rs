//! The HTTP side: routing, `/announce` and `/scrape` (bencoded), `/` and `/stats.json`.
//!
//! Every tracker answer is HTTP 200 with a bencoded body, including failures (`failure reason`),
//! because that is what BitTorrent clients read. Only unknown paths get a plain 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use tokio::time::Instant;

use crate::Shared;
use crate::query::{self, QueryError};
use crate::swarm::{Announce, AnnounceReply, Event, Family};
use tracker::wire::http::{AnnounceAnswer, PeerForm, announce_body, failure_body, scrape_body};

/// Longest request target (path and query) answered; longer ones get a `failure reason`.
pub(crate) const MAX_TARGET: usize = 8 * 1024;

/// Answers one request. Never fails: every error becomes a response.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = req.uri();
    let target_len = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let query = uri.query().unwrap_or("").as_bytes();
    let resp = match uri.path() {
        "/announce" | "/scrape" if target_len > MAX_TARGET => failure("request too long"),
        "/announce" => bencoded(announce(&shared, remote, query)),
        "/scrape" => bencoded(scrape(&shared, query)),
        "/" => {
            let stats = shared.stats();
            with_type(
                crate::stats::html(&stats).into_bytes(),
                "text/html; charset=utf-8",
            )
        }
        "/stats.json" => {
            let stats = shared.stats();
            match serde_json::to_vec(&stats) {
                Ok(body) => with_type(body, "application/json"),
                Err(_) => status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot encode statistics\n",
                ),
            }
        }
        _ => status(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(resp)
}

fn with_type(body: Vec<u8>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn bencoded(body: Vec<u8>) -> Response<Full<Bytes>> {
    with_type(body, "text/plain")
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = with_type(text.as_bytes().to_vec(), "text/plain; charset=utf-8");
    *resp.status_mut() = code;
    resp
}

fn failure(reason: &str) -> Response<Full<Bytes>> {
    bencoded(failure_body(reason))
}

fn announce(shared: &Shared, remote: SocketAddr, query: &[u8]) -> Vec<u8> {
    let q = match query::parse_announce(query) {
        Ok(q) => q,
        Err(QueryError(reason)) => return failure_body(reason),
    };
    let numwant = if q.event == Event::Stopped {
        0
    } else {
        shared.numwant(q.numwant)
    };
    let a = Announce {
        info_hash: q.info_hash,
        peer_id: q.peer_id,
        addr: SocketAddr::new(remote.ip().to_canonical(), q.port),
        // An absent `left` counts as "still downloading" unless the client says it completed.
        left: q
            .left
            .unwrap_or(if q.event == Event::Completed { 0 } else { 1 }),
        event: q.event,
        numwant,
        family: Family::Any,
    };
    match shared.announce(&a, Instant::now()) {
        Ok(reply) => encode_announce(shared, &reply, q.compact, q.no_peer_id),
        Err(refusal) => failure_body(refusal.reason()),
    }
}

/// The bencoded announce answer.
fn encode_announce(shared: &Shared, r: &AnnounceReply, compact: bool, no_peer_id: bool) -> Vec<u8> {
    let (interval, min_interval) = shared.interval_secs();
    let form = match (compact, no_peer_id) {
        (true, _) => PeerForm::Compact,
        (false, false) => PeerForm::Dicts,
        (false, true) => PeerForm::DictsWithoutPeerId,
    };
    let answer = AnnounceAnswer {
        interval,
        min_interval,
        complete: r.complete,
        incomplete: r.incomplete,
        peers: &r.peers,
    };
    announce_body(&answer, form)
}

fn scrape(shared: &Shared, query: &[u8]) -> Vec<u8> {
    let hashes = match query::parse_scrape(query) {
        Ok(h) => h,
        Err(QueryError(reason)) => return failure_body(reason),
    };
    let mut entries = shared.scrape(&hashes, Instant::now());
    entries.sort_unstable_by_key(|(ih, _)| ih.0);
    scrape_body(&entries)
}
