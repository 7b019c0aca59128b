//! KRPC messages (BEP 5, with BEP 32 `nodes6`/`want`, BEP 42 `ip` and BEP 43 `ro`): the types,
//! a decoder that refuses anything oversized or malformed with a typed error, and an encoder.

mod decode;
mod encode;

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::NodeId;

pub use decode::DecodeError;

/// Largest datagram the decoder accepts. KRPC messages fit one MTU; anything far above is junk
/// or an attempt to make us parse a bencode bomb.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Longest transaction id accepted from others (ours are 2 bytes; clients use up to 8).
pub const MAX_TID_LEN: usize = 16;
/// Longest token accepted (ours are 8 bytes; libtorrent's 4, others up to 20).
pub const MAX_TOKEN_LEN: usize = 64;
/// Most peers accepted in one `values` list.
pub const MAX_VALUES: usize = 200;

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id (`t`), echoed by the response.
    pub tid: Vec<u8>,
    /// Client version (`v`), when the sender gives one.
    pub version: Option<Vec<u8>>,
    /// BEP 42 `ip`: the address the responder sees us at.
    pub observed_addr: Option<SocketAddr>,
    /// BEP 43 `ro`: the querier is read-only and must not enter routing tables.
    pub read_only: bool,
    /// Query, response or error.
    pub body: Body,
}

/// What a message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`.
    Error(ErrorReply),
}

/// A query and the querier's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The querying node's id.
    pub id: NodeId,
    /// Which address families of nodes the querier wants back (BEP 32); empty = its own.
    pub want: Want,
    /// The method and its arguments.
    pub kind: QueryKind,
}

/// BEP 32 `want`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Want {
    /// `n4`: IPv4 nodes.
    pub v4: bool,
    /// `n6`: IPv6 nodes.
    pub v6: bool,
}

/// The query methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// `ping`.
    Ping,
    /// `find_node` for `target`.
    FindNode {
        /// The id searched for.
        target: NodeId,
    },
    /// `get_peers` for `info_hash`.
    GetPeers {
        /// The torrent.
        info_hash: NodeId,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// The torrent.
        info_hash: NodeId,
        /// The port the querier listens on (ignored when `implied_port`).
        port: u16,
        /// Use the source port of the datagram instead of `port`.
        implied_port: bool,
        /// The token from our earlier `get_peers` answer.
        token: Vec<u8>,
    },
    /// A method we do not implement (answered with error 204).
    Other(Vec<u8>),
}

/// A response: the fields of every method's answer, absent ones empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The responder's id.
    pub id: NodeId,
    /// `nodes`: compact IPv4 nodes.
    pub nodes: Vec<(NodeId, SocketAddrV4)>,
    /// `nodes6`: compact IPv6 nodes (BEP 32).
    pub nodes6: Vec<(NodeId, SocketAddrV6)>,
    /// `values`: peers of the info-hash.
    pub values: Vec<SocketAddr>,
    /// `token` for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

impl Response {
    /// A response with only the responder's id (ping, announce_peer).
    pub fn new(id: NodeId) -> Self {
        Response {
            id,
            nodes: Vec::new(),
            nodes6: Vec::new(),
            values: Vec::new(),
            token: None,
        }
    }
}

/// An error reply: `e = [code, message]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// 201 generic, 202 server, 203 protocol, 204 method unknown.
    pub code: i64,
    /// Human-readable text.
    pub message: String,
}

/// KRPC error codes (BEP 5).
pub mod code {
    /// Generic error.
    pub const GENERIC: i64 = 201;
    /// Server error.
    pub const SERVER: i64 = 202;
    /// Protocol error (malformed packet, invalid arguments, bad token).
    pub const PROTOCOL: i64 = 203;
    /// Method unknown.
    pub const METHOD_UNKNOWN: i64 = 204;
}

impl Message {
    /// Decodes one datagram.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        decode::decode(bytes)
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        encode::encode(self)
    }
}

/// Whether a datagram on a shared UDP socket looks like KRPC (a bencoded dictionary whose first
/// key is a short string, e.g. `d1:ad…`, `d1:rd…`, `d2:ip…`) rather than uTP (first byte
/// `0x?1`) or a UDP tracker reply (starts with a 32-bit action, `0x00…`). Cheap: it only
/// looks at the framing; the decoder still checks everything.
pub fn is_dht_packet(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && bytes.len() <= MAX_MESSAGE_LEN
        && bytes.starts_with(b"d")
        && bytes.ends_with(b"e")
        && matches!(bytes.get(1), Some(b'1'..=b'9'))
        && matches!(bytes.get(2), Some(b':') | Some(b'0'..=b'9'))
}

#[cfg(test)]
mod tests;
