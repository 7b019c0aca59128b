//! Hand-written parsing of announce and scrape query strings on raw bytes.
//!
//! `info_hash` and `peer_id` are binary and percent-encoded byte by byte, so no UTF-8 URL
//! parser may touch them. Rules: pairs split on `&`, key and value split on the first `=`,
//! `%XX` must be two hex digits (anything else is an error), `+` is a literal `+` (RFC 3986
//! query; clients escape it anyway), unknown keys are ignored, and for repeated keys the
//! last one wins (except `info_hash` in a scrape, which may repeat). The `ip` parameter is
//! ignored on purpose: a peer's address is always the connection's remote address, so nobody
//! can point a swarm at a third party.

use std::borrow::Cow;

use metainfo::InfoHash;

use crate::swarm::Event;

/// Most `info_hash` values one scrape may ask about.
pub const MAX_SCRAPE_HASHES: usize = 256;

/// Why a query was rejected; the message is the bencoded `failure reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub &'static str);

/// A parsed announce query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceQuery {
    /// `info_hash`.
    pub info_hash: InfoHash,
    /// `peer_id`.
    pub peer_id: [u8; 20],
    /// `port` (never 0).
    pub port: u16,
    /// `None` when absent; treated as "still downloading".
    pub left: Option<u64>,
    /// `event` (unknown values read as a regular announce).
    pub event: Event,
    /// `None` when absent (the server's default applies).
    pub numwant: Option<u32>,
    /// `compact=1` (BEP 23).
    pub compact: bool,
    /// `no_peer_id=1`: leave `peer id` out of dictionary peer lists.
    pub no_peer_id: bool,
}

/// A percent-decoded `(key, value)`.
type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Splits a query into percent-decoded `(key, value)` pairs.
fn pairs(query: &[u8]) -> impl Iterator<Item = Result<Pair<'_>, QueryError>> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let k = kv.next().unwrap_or_default();
            let v = kv.next().unwrap_or_default();
            Ok((decode(k)?, decode(v)?))
        })
}

/// Strict percent-decoding.
fn decode(s: &[u8]) -> Result<Cow<'_, [u8]>, QueryError> {
    if !s.contains(&b'%') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b == b'%' {
            let hi = it.next().and_then(|&h| hex(h));
            let lo = it.next().and_then(|&l| hex(l));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(QueryError("invalid percent-encoding")),
            }
        } else {
            out.push(b);
        }
    }
    Ok(Cow::Owned(out))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A non-negative decimal integer (digits only, at most 20 of them).
fn number(v: &[u8], what: &'static str) -> Result<u64, QueryError> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return Err(QueryError(what));
    }
    v.iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(QueryError(what))
}

fn twenty(v: &[u8], what: &'static str) -> Result<[u8; 20], QueryError> {
    <[u8; 20]>::try_from(v).map_err(|_| QueryError(what))
}

/// Parses an announce query (the part after `?`).
pub fn parse_announce(query: &[u8]) -> Result<AnnounceQuery, QueryError> {
    let mut info_hash = None;
    let mut peer_id = None;
    let mut port = None;
    let mut left = None;
    let mut event = Event::None;
    let mut numwant = None;
    let mut compact = false;
    let mut no_peer_id = false;
    for pair in pairs(query) {
        let (k, v) = pair?;
        match &*k {
            b"info_hash" => info_hash = Some(InfoHash(twenty(&v, "info_hash must be 20 bytes")?)),
            b"peer_id" => peer_id = Some(twenty(&v, "peer_id must be 20 bytes")?),
            b"port" => {
                let p = number(&v, "invalid port")?;
                port = Some(
                    u16::try_from(p)
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or(QueryError("invalid port"))?,
                );
            }
            b"left" => left = Some(number(&v, "invalid left")?),
            b"uploaded" => {
                number(&v, "invalid uploaded")?;
            }
            b"downloaded" => {
                number(&v, "invalid downloaded")?;
            }
            b"numwant" => {
                let n = number(&v, "invalid numwant")?;
                numwant = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            b"event" => {
                event = match &*v {
                    b"started" => Event::Started,
                    b"completed" => Event::Completed,
                    b"stopped" => Event::Stopped,
                    // "", "empty", "paused" (BEP 21) and anything unknown: a plain announce.
                    _ => Event::None,
                }
            }
            b"compact" => compact = &*v == b"1",
            b"no_peer_id" => no_peer_id = &*v == b"1",
            _ => {}
        }
    }
    Ok(AnnounceQuery {
        info_hash: info_hash.ok_or(QueryError("missing info_hash"))?,
        peer_id: peer_id.ok_or(QueryError("missing peer_id"))?,
        port: port.ok_or(QueryError("missing port"))?,
        left,
        event,
        numwant,
        compact,
        no_peer_id,
    })
}

/// Parses a scrape query: every `info_hash` in order, duplicates removed. Empty means "all".
pub fn parse_scrape(query: &[u8]) -> Result<Vec<InfoHash>, QueryError> {
    let mut hashes: Vec<InfoHash> = Vec::new();
    for pair in pairs(query) {
        let (k, v) = pair?;
        if &*k == b"info_hash" {
            let ih = InfoHash(twenty(&v, "info_hash must be 20 bytes")?);
            if !hashes.contains(&ih) {
                if hashes.len() >= MAX_SCRAPE_HASHES {
                    return Err(QueryError("too many info_hash values"));
                }
                hashes.push(ih);
            }
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(b: &[u8]) -> String {
        b.iter().map(|x| format!("%{x:02x}")).collect()
    }

    #[test]
    fn full_announce() {
        let ih = [0xff; 20];
        let q = format!(
            "info_hash={}&peer_id=-XX0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=123\
             &event=started&numwant=7&compact=1&no_peer_id=1&ip=10.0.0.1&key=x",
            enc(&ih)
        );
        let a = parse_announce(q.as_bytes()).unwrap();
        assert_eq!(a.info_hash, InfoHash(ih));
        assert_eq!(&a.peer_id, b"-XX0001-abcdefghijkl");
        assert_eq!(a.port, 6881);
        assert_eq!(a.left, Some(123));
        assert_eq!(a.event, Event::Started);
        assert_eq!(a.numwant, Some(7));
        assert!(a.compact && a.no_peer_id);
    }

    #[test]
    fn mixed_literal_and_escaped_bytes() {
        let q = b"info_hash=abcdefghij%00%01%02%03%04%05%06%07%08%09&peer_id=%41AAAAAAAAAAAAAAAAAAA&port=1";
        let a = parse_announce(q).unwrap();
        assert_eq!(&a.info_hash.0[..10], b"abcdefghij");
        assert_eq!(a.info_hash.0[19], 9);
        assert_eq!(a.peer_id, [b'A'; 20]);
        assert!(!a.compact);
        assert_eq!(a.left, None);
    }

    #[test]
    fn malformed_queries_are_errors() {
        let good_ih = enc(&[1; 20]);
        let cases: Vec<(String, &str)> = vec![
            (
                format!("info_hash={}&peer_id=AAAAAAAAAAAAAAAAAAAA", good_ih),
                "missing port",
            ),
            (
                format!("info_hash={}&peer_id=AAAAAAAAAAAAAAAAAAAA&port=0", good_ih),
                "invalid port",
            ),
            (
                format!(
                    "info_hash={}&peer_id=AAAAAAAAAAAAAAAAAAAA&port=65536",
                    good_ih
                ),
                "invalid port",
            ),
            (
                format!("info_hash={}&peer_id=AAAAAAAAAAAAAAAAAAAA&port=-1", good_ih),
                "invalid port",
            ),
            (
                format!(
                    "info_hash={}&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1&left=x",
                    good_ih
                ),
                "invalid left",
            ),
            (
                format!(
                    "info_hash={}&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1&left=99999999999999999999",
                    good_ih
                ),
                "invalid left",
            ),
            (
                "info_hash=abc&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1".into(),
                "info_hash must be 20 bytes",
            ),
            (
                format!(
                    "info_hash={}%4&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1",
                    good_ih
                ),
                "invalid percent-encoding",
            ),
            (
                format!("info_hash={}%zz&port=1", good_ih),
                "invalid percent-encoding",
            ),
            (
                "peer_id=AAAAAAAAAAAAAAAAAAAA&port=1".into(),
                "missing info_hash",
            ),
            (format!("info_hash={}&port=1", good_ih), "missing peer_id"),
            (
                format!("info_hash={}&peer_id=short&port=1", good_ih),
                "peer_id must be 20 bytes",
            ),
        ];
        for (q, want) in cases {
            assert_eq!(parse_announce(q.as_bytes()), Err(QueryError(want)), "{q}");
        }
    }

    #[test]
    fn scrape_many_and_none() {
        assert!(parse_scrape(b"").unwrap().is_empty());
        let q = format!(
            "info_hash={}&info_hash={}&info_hash={}",
            enc(&[1; 20]),
            enc(&[2; 20]),
            enc(&[1; 20])
        );
        assert_eq!(
            parse_scrape(q.as_bytes()).unwrap(),
            vec![InfoHash([1; 20]), InfoHash([2; 20])]
        );
        assert!(parse_scrape(b"info_hash=%").is_err());
        let many: Vec<String> = (0..=MAX_SCRAPE_HASHES)
            .map(|i| format!("info_hash={:040x}", i))
            .collect();
        // 40 hex chars are 40 bytes, not 20: rejected as a bad length.
        assert!(parse_scrape(many.join("&").as_bytes()).is_err());
        let many: Vec<String> = (0..=MAX_SCRAPE_HASHES as u32)
            .map(|i| {
                format!(
                    "info_hash={}",
                    enc(&[&i.to_be_bytes()[..], &[0; 16]].concat())
                )
            })
            .collect();
        assert_eq!(
            parse_scrape(many.join("&").as_bytes()),
            Err(QueryError("too many info_hash values"))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let len = rng.usize(0..200);
            let q: Vec<u8> = (0..len)
                .map(|_| b"%&=0aF9xinfo_hash"[rng.usize(..17)])
                .collect();
            let _ = parse_announce(&q);
            let _ = parse_scrape(&q);
        }
    }
}
