//! KRPC decoding: every field checked, every size bounded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bencode::{Dict, Value};

use super::{
    Body, ErrorReply, MAX_MESSAGE_LEN, MAX_TID_LEN, MAX_TOKEN_LEN, MAX_VALUES, Message, Query,
    QueryKind, Response, Want,
};
use crate::NodeId;

/// Why a datagram is not a KRPC message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE_LEN`]: refused before parsing.
    #[error("message of {0} bytes exceeds the {max} byte limit", max = MAX_MESSAGE_LEN)]
    TooLong(usize),
    /// Not bencode (or nested too deep, truncated, trailing bytes).
    #[error("not bencode")]
    Bencode(#[source] bencode::Error),
    /// The top level is not a dictionary.
    #[error("message is not a dictionary")]
    NotADict,
    /// A required key is missing.
    #[error("missing key `{0}`")]
    Missing(&'static str),
    /// A key has the wrong type or an impossible value.
    #[error("invalid `{0}`")]
    Invalid(&'static str),
    /// A field is longer than its limit.
    #[error("`{0}` too long")]
    FieldTooLong(&'static str),
    /// `y` is none of `q`, `r`, `e`.
    #[error("unknown message type")]
    UnknownType,
}

/// Decodes one datagram.
pub(super) fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong(bytes.len()));
    }
    let value = bencode::decode_lenient(bytes).map_err(DecodeError::Bencode)?;
    let dict = value.as_dict().ok_or(DecodeError::NotADict)?;
    let tid = bytes_of(dict, b"t", "t")?;
    if tid.len() > MAX_TID_LEN {
        return Err(DecodeError::FieldTooLong("t"));
    }
    let version = match dict.get(b"v") {
        Some(v) => Some(v.as_bytes().ok_or(DecodeError::Invalid("v"))?.to_vec()),
        None => None,
    };
    let observed_addr = match dict.get(b"ip") {
        Some(v) => Some(compact_addr(
            v.as_bytes().ok_or(DecodeError::Invalid("ip"))?,
        )?),
        None => None,
    };
    let read_only = dict.get(b"ro").and_then(Value::as_int) == Some(1);
    let y = bytes_of(dict, b"y", "y")?;
    let body = match y {
        b"q" => Body::Query(query(dict)?),
        b"r" => Body::Response(response(sub_dict(dict, b"r", "r")?)?),
        b"e" => Body::Error(error_reply(dict)?),
        _ => return Err(DecodeError::UnknownType),
    };
    Ok(Message {
        tid: tid.to_vec(),
        version,
        observed_addr,
        read_only,
        body,
    })
}

fn bytes_of<'a>(d: &Dict<'a>, key: &[u8], name: &'static str) -> Result<&'a [u8], DecodeError> {
    d.get(key)
        .ok_or(DecodeError::Missing(name))?
        .as_bytes()
        .ok_or(DecodeError::Invalid(name))
}

fn sub_dict<'d, 'a>(
    d: &'d Dict<'a>,
    key: &[u8],
    name: &'static str,
) -> Result<&'d Dict<'a>, DecodeError> {
    d.get(key)
        .ok_or(DecodeError::Missing(name))?
        .as_dict()
        .ok_or(DecodeError::Invalid(name))
}

fn id_of(d: &Dict<'_>, key: &[u8], name: &'static str) -> Result<NodeId, DecodeError> {
    NodeId::from_slice(bytes_of(d, key, name)?).ok_or(DecodeError::Invalid(name))
}

fn query(dict: &Dict<'_>) -> Result<Query, DecodeError> {
    let method = bytes_of(dict, b"q", "q")?;
    let args = sub_dict(dict, b"a", "a")?;
    let id = id_of(args, b"id", "id")?;
    let want = match args.get(b"want") {
        Some(v) => want(v)?,
        None => Want::default(),
    };
    let kind = match method {
        b"ping" => QueryKind::Ping,
        b"find_node" => QueryKind::FindNode {
            target: id_of(args, b"target", "target")?,
        },
        b"get_peers" => QueryKind::GetPeers {
            info_hash: id_of(args, b"info_hash", "info_hash")?,
        },
        b"announce_peer" => {
            let port = match args.get(b"port") {
                Some(v) => v
                    .as_int()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(DecodeError::Invalid("port"))?,
                None => 0,
            };
            let implied_port = match args.get(b"implied_port") {
                Some(v) => v.as_int().ok_or(DecodeError::Invalid("implied_port"))? != 0,
                None => false,
            };
            if port == 0 && !implied_port {
                return Err(DecodeError::Invalid("port"));
            }
            let token = bytes_of(args, b"token", "token")?;
            if token.len() > MAX_TOKEN_LEN {
                return Err(DecodeError::FieldTooLong("token"));
            }
            QueryKind::AnnouncePeer {
                info_hash: id_of(args, b"info_hash", "info_hash")?,
                port,
                implied_port,
                token: token.to_vec(),
            }
        }
        other => {
            if other.len() > 32 {
                return Err(DecodeError::FieldTooLong("q"));
            }
            QueryKind::Other(other.to_vec())
        }
    };
    Ok(Query { id, want, kind })
}

fn want(v: &Value<'_>) -> Result<Want, DecodeError> {
    let list = v.as_list().ok_or(DecodeError::Invalid("want"))?;
    let mut want = Want::default();
    for item in list {
        match item.as_bytes() {
            Some(b"n4") => want.v4 = true,
            Some(b"n6") => want.v6 = true,
            Some(_) => {}
            None => return Err(DecodeError::Invalid("want")),
        }
    }
    Ok(want)
}

fn response(r: &Dict<'_>) -> Result<Response, DecodeError> {
    let mut resp = Response::new(id_of(r, b"id", "id")?);
    if let Some(v) = r.get(b"nodes") {
        let raw = v.as_bytes().ok_or(DecodeError::Invalid("nodes"))?;
        if raw.len() % 26 != 0 {
            return Err(DecodeError::Invalid("nodes"));
        }
        resp.nodes = raw
            .chunks_exact(26)
            .filter_map(|c| {
                let (id, addr) = c.split_at(20);
                Some((NodeId::from_slice(id)?, compact_v4(addr)?))
            })
            .collect();
    }
    if let Some(v) = r.get(b"nodes6") {
        let raw = v.as_bytes().ok_or(DecodeError::Invalid("nodes6"))?;
        if raw.len() % 38 != 0 {
            return Err(DecodeError::Invalid("nodes6"));
        }
        resp.nodes6 = raw
            .chunks_exact(38)
            .filter_map(|c| {
                let (id, addr) = c.split_at(20);
                Some((NodeId::from_slice(id)?, compact_v6(addr)?))
            })
            .collect();
    }
    if let Some(v) = r.get(b"values") {
        let list = v.as_list().ok_or(DecodeError::Invalid("values"))?;
        if list.len() > MAX_VALUES {
            return Err(DecodeError::FieldTooLong("values"));
        }
        for item in list {
            let raw = item.as_bytes().ok_or(DecodeError::Invalid("values"))?;
            resp.values.push(compact_addr(raw)?);
        }
    }
    if let Some(v) = r.get(b"token") {
        let token = v.as_bytes().ok_or(DecodeError::Invalid("token"))?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(DecodeError::FieldTooLong("token"));
        }
        resp.token = Some(token.to_vec());
    }
    Ok(resp)
}

fn error_reply(dict: &Dict<'_>) -> Result<ErrorReply, DecodeError> {
    let list = dict
        .get(b"e")
        .ok_or(DecodeError::Missing("e"))?
        .as_list()
        .ok_or(DecodeError::Invalid("e"))?;
    let code = list
        .first()
        .and_then(Value::as_int)
        .ok_or(DecodeError::Invalid("e"))?;
    let message = list
        .get(1)
        .and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned())
        .unwrap_or_default();
    Ok(ErrorReply { code, message })
}

/// A compact address: 6 bytes (IPv4) or 18 bytes (IPv6).
pub(crate) fn compact_addr(raw: &[u8]) -> Result<SocketAddr, DecodeError> {
    match raw.len() {
        6 => compact_v4(raw).map(SocketAddr::V4),
        18 => compact_v6(raw).map(SocketAddr::V6),
        _ => None,
    }
    .ok_or(DecodeError::Invalid("compact address"))
}

fn compact_v4(raw: &[u8]) -> Option<SocketAddrV4> {
    let ip: [u8; 4] = raw.get(..4)?.try_into().ok()?;
    let port: [u8; 2] = raw.get(4..6)?.try_into().ok()?;
    Some(SocketAddrV4::new(
        Ipv4Addr::from(ip),
        u16::from_be_bytes(port),
    ))
}

fn compact_v6(raw: &[u8]) -> Option<SocketAddrV6> {
    let ip: [u8; 16] = raw.get(..16)?.try_into().ok()?;
    let port: [u8; 2] = raw.get(16..18)?.try_into().ok()?;
    Some(SocketAddrV6::new(
        Ipv6Addr::from(ip),
        u16::from_be_bytes(port),
        0,
        0,
    ))
}

/// The compact form of `addr` (IPv4-mapped IPv6 addresses are written as IPv4).
pub(crate) fn write_compact(addr: SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => out.extend_from_slice(&v4.octets()),
            None => out.extend_from_slice(&v6.octets()),
        },
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}
