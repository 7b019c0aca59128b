//! KRPC encoding (keys in ascending order, as bencode requires).

use bencode::{DictEncoder, Encoder};

use super::decode::write_compact;
use super::{Body, Message, Query, QueryKind, Response};

/// Encodes `msg`.
pub(super) fn encode(msg: &Message) -> Vec<u8> {
    let mut e = Encoder::new();
    e.dict(|d| {
        match &msg.body {
            Body::Query(q) => {
                d.entry(b"a", |v| v.dict(|a| query_args(q, a)));
            }
            Body::Response(_) => {}
            Body::Error(err) => {
                d.entry(b"e", |v| {
                    v.list(|l| {
                        l.int(err.code);
                        l.bytes(err.message.as_bytes());
                    })
                });
            }
        }
        if let Some(addr) = msg.observed_addr {
            let mut raw = Vec::with_capacity(18);
            write_compact(addr, &mut raw);
            d.entry(b"ip", |v| v.bytes(&raw));
        }
        if let Body::Query(q) = &msg.body {
            d.entry(b"q", |v| v.bytes(method(&q.kind)));
        }
        if let Body::Response(r) = &msg.body {
            d.entry(b"r", |v| v.dict(|rd| response(r, rd)));
        }
        if msg.read_only {
            d.entry(b"ro", |v| v.int(1));
        }
        d.entry(b"t", |v| v.bytes(&msg.tid));
        if let Some(version) = &msg.version {
            d.entry(b"v", |v| v.bytes(version));
        }
        let y: &[u8] = match msg.body {
            Body::Query(_) => b"q",
            Body::Response(_) => b"r",
            Body::Error(_) => b"e",
        };
        d.entry(b"y", |v| v.bytes(y));
    });
    e.finish()
}

fn method(kind: &QueryKind) -> &[u8] {
    match kind {
        QueryKind::Ping => b"ping",
        QueryKind::FindNode { .. } => b"find_node",
        QueryKind::GetPeers { .. } => b"get_peers",
        QueryKind::AnnouncePeer { .. } => b"announce_peer",
        QueryKind::Other(m) => m,
    }
}

fn query_args(q: &Query, a: &mut DictEncoder<'_>) {
    a.entry(b"id", |v| v.bytes(&q.id.0));
    match &q.kind {
        QueryKind::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            if *implied_port {
                a.entry(b"implied_port", |v| v.int(1));
            }
            a.entry(b"info_hash", |v| v.bytes(&info_hash.0));
            a.entry(b"port", |v| v.int(i64::from(*port)));
            a.entry(b"token", |v| v.bytes(token));
        }
        QueryKind::GetPeers { info_hash } => a.entry(b"info_hash", |v| v.bytes(&info_hash.0)),
        QueryKind::FindNode { target } => a.entry(b"target", |v| v.bytes(&target.0)),
        QueryKind::Ping | QueryKind::Other(_) => {}
    }
    if q.want.v4 || q.want.v6 {
        a.entry(b"want", |v| {
            v.list(|l| {
                if q.want.v4 {
                    l.bytes(b"n4");
                }
                if q.want.v6 {
                    l.bytes(b"n6");
                }
            })
        });
    }
}

fn response(r: &Response, d: &mut DictEncoder<'_>) {
    d.entry(b"id", |v| v.bytes(&r.id.0));
    if !r.nodes.is_empty() {
        let mut raw = Vec::with_capacity(r.nodes.len() * 26);
        for (id, addr) in &r.nodes {
            raw.extend_from_slice(&id.0);
            write_compact((*addr).into(), &mut raw);
        }
        d.entry(b"nodes", |v| v.bytes(&raw));
    }
    if !r.nodes6.is_empty() {
        let mut raw = Vec::with_capacity(r.nodes6.len() * 38);
        for (id, addr) in &r.nodes6 {
            raw.extend_from_slice(&id.0);
            raw.extend_from_slice(&addr.ip().octets());
            raw.extend_from_slice(&addr.port().to_be_bytes());
        }
        d.entry(b"nodes6", |v| v.bytes(&raw));
    }
    if let Some(token) = &r.token {
        d.entry(b"token", |v| v.bytes(token));
    }
    if !r.values.is_empty() {
        d.entry(b"values", |v| {
            v.list(|l| {
                for peer in &r.values {
                    let mut raw = Vec::with_capacity(18);
                    write_compact(*peer, &mut raw);
                    l.bytes(&raw);
                }
            })
        });
    }
}
