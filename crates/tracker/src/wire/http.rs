//! The bencoded answers of an HTTP tracker: announce (BEP 3, compact per BEP 23 and 7) and
//! scrape (BEP 48). The client reads them with [`parse_announce`] and [`parse_scrape`]; the
//! server writes them with [`announce_body`], [`scrape_body`] and [`failure_body`].

use std::net::{IpAddr, SocketAddr};

use metainfo::InfoHash;

use super::compact;
use crate::client::clamp_interval;
use crate::{AnnounceResponse, Error, ScrapeStats};

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

/// Parses an announce answer; also returns the `tracker id`, if any.
pub fn parse_announce(body: &[u8]) -> Result<(AnnounceResponse, Option<Vec<u8>>), Error> {
    let v = decode_dict(body)?;
    let interval = get_secs(&v, b"interval")
        .ok_or_else(|| Error::Malformed("missing or negative interval".into()))?;
    let mut peers = Vec::new();
    match v.get(b"peers") {
        None => {}
        Some(p) => {
            if let Some(bytes) = p.as_bytes() {
                compact::parse_v4(bytes, &mut peers)?;
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
        let bytes = p6
            .as_bytes()
            .ok_or_else(|| Error::Malformed("peers6 is not a string".into()))?;
        compact::parse_v6(bytes, &mut peers)?;
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

/// Parses a scrape answer for `info_hash`; a torrent the tracker does not list is all zeros.
pub fn parse_scrape(body: &[u8], info_hash: InfoHash) -> Result<ScrapeStats, Error> {
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

/// `d14:failure reason<len>:<reason>e`.
pub fn failure_body(reason: &str) -> Vec<u8> {
    let mut e = bencode::Encoder::new();
    e.dict(|d| d.entry(b"failure reason", |v| v.bytes(reason.as_bytes())));
    e.finish()
}

/// A peer in an announce answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerEntry {
    /// Where it accepts connections.
    pub addr: SocketAddr,
    /// Its peer id (only the non-compact form carries it).
    pub peer_id: [u8; 20],
}

/// What an announce answer says, for [`announce_body`].
#[derive(Debug, Clone, Copy)]
pub struct AnnounceAnswer<'a> {
    /// `interval`, seconds.
    pub interval: u32,
    /// `min interval`, seconds.
    pub min_interval: u32,
    /// Seeders (`complete`).
    pub complete: u32,
    /// Leechers (`incomplete`).
    pub incomplete: u32,
    /// The peers handed out.
    pub peers: &'a [PeerEntry],
}

/// How the peers of an announce answer are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerForm {
    /// `peers` (IPv4) and `peers6` (IPv6) as compact strings.
    Compact,
    /// A list of `{ip, peer id, port}` dictionaries (BEP 3).
    Dicts,
    /// A list of `{ip, port}` dictionaries (the client sent `no_peer_id`).
    DictsWithoutPeerId,
}

/// The bencoded announce answer (keys in sorted order).
pub fn announce_body(a: &AnnounceAnswer<'_>, form: PeerForm) -> Vec<u8> {
    let mut e = bencode::Encoder::new();
    e.dict(|d| {
        d.entry(b"complete", |v| v.int(i64::from(a.complete)));
        d.entry(b"incomplete", |v| v.int(i64::from(a.incomplete)));
        d.entry(b"interval", |v| v.int(i64::from(a.interval)));
        d.entry(b"min interval", |v| v.int(i64::from(a.min_interval)));
        if form == PeerForm::Compact {
            let mut v4 = Vec::with_capacity(a.peers.len() * compact::V4_LEN);
            let mut v6 = Vec::new();
            for p in a.peers {
                let out = if p.addr.is_ipv4() { &mut v4 } else { &mut v6 };
                compact::push(&p.addr, out);
            }
            d.entry(b"peers", |v| v.bytes(&v4));
            if !v6.is_empty() {
                d.entry(b"peers6", |v| v.bytes(&v6));
            }
        } else {
            d.entry(b"peers", |v| {
                v.list(|l| {
                    for p in a.peers {
                        l.dict(|pd| {
                            pd.entry(b"ip", |v| v.bytes(p.addr.ip().to_string().as_bytes()));
                            if form == PeerForm::Dicts {
                                pd.entry(b"peer id", |v| v.bytes(&p.peer_id));
                            }
                            pd.entry(b"port", |v| v.int(i64::from(p.addr.port())));
                        });
                    }
                })
            });
        }
    });
    e.finish()
}

/// One torrent's counters in a scrape answer (the server counts completions in 64 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeFile {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads.
    pub downloaded: u64,
}

/// The bencoded scrape answer: `files` maps each info-hash to its counters. `files` must be
/// sorted by info-hash (bencode dictionaries are).
pub fn scrape_body(files: &[(InfoHash, ScrapeFile)]) -> Vec<u8> {
    let mut e = bencode::Encoder::new();
    e.dict(|d| {
        d.entry(b"files", |v| {
            v.dict(|out| {
                for (ih, s) in files {
                    out.entry(&ih.0, |v| {
                        v.dict(|f| {
                            f.entry(b"complete", |v| v.int(i64::from(s.complete)));
                            f.entry(b"downloaded", |v| {
                                v.int(i64::try_from(s.downloaded).unwrap_or(i64::MAX))
                            });
                            f.entry(b"incomplete", |v| v.int(i64::from(s.incomplete)));
                        })
                    });
                }
            })
        });
    });
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_is_bencoded() {
        assert_eq!(
            failure_body("missing port"),
            b"d14:failure reason12:missing porte"
        );
        assert!(matches!(
            parse_announce(&failure_body("no")),
            Err(Error::Failure(r)) if r == "no"
        ));
    }

    #[test]
    fn announce_body_reads_back() {
        let peers = [
            PeerEntry {
                addr: "127.0.0.1:6881".parse().expect("v4"),
                peer_id: [1; 20],
            },
            PeerEntry {
                addr: "[::1]:6882".parse().expect("v6"),
                peer_id: [2; 20],
            },
        ];
        let a = AnnounceAnswer {
            interval: 1800,
            min_interval: 300,
            complete: 3,
            incomplete: 4,
            peers: &peers,
        };
        for form in [
            PeerForm::Compact,
            PeerForm::Dicts,
            PeerForm::DictsWithoutPeerId,
        ] {
            let (r, _) = parse_announce(&announce_body(&a, form)).expect("parses");
            assert_eq!(r.peers, vec![peers[0].addr, peers[1].addr], "{form:?}");
            assert_eq!((r.seeders, r.leechers), (Some(3), Some(4)));
            assert_eq!(r.interval.as_secs(), 1800);
        }
    }

    #[test]
    fn scrape_body_reads_back() {
        let ih = InfoHash([7; 20]);
        let f = ScrapeFile {
            complete: 1,
            incomplete: 2,
            downloaded: 3,
        };
        let s = parse_scrape(&scrape_body(&[(ih, f)]), ih).expect("parses");
        assert_eq!((s.complete, s.incomplete, s.downloaded), (1, 2, 3));
    }
}
