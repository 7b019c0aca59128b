//! Settings of a node, with defaults fit for a daemon. There is deliberately no bootstrap list
//! here: the caller hands addresses to [`crate::Node::add_node`].

use std::net::IpAddr;
use std::time::Duration;

use crate::NodeId;

/// How a [`crate::Node`] behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Use exactly this node id (tests; a saved id).
    pub id: Option<NodeId>,
    /// Our public IP, when known: the node id is then a BEP 42 id for it (unless the address is
    /// loopback/private, which BEP 42 exempts, or `id` is set). Otherwise the id is random.
    pub public_ip: Option<IpAddr>,
    /// Derive the id from `public_ip` (BEP 42); `false` keeps a random id.
    pub bep42: bool,
    /// Seed of the node's random numbers (ids, transaction ids, secrets): fixed in tests for
    /// reproducible runs; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Keep an IPv4 routing table and answer/ask for IPv4 nodes.
    pub ipv4: bool,
    /// Keep an IPv6 routing table (BEP 32).
    pub ipv6: bool,
    /// BEP 43 read-only node: others do not put us into their tables, and we answer no queries.
    pub read_only: bool,
    /// How long to wait for an answer to a query.
    pub query_timeout: Duration,
    /// Queries awaiting an answer at any time.
    pub max_in_flight: usize,
    /// Outgoing queries per second (sustained) …
    pub queries_per_second: f64,
    /// … and the burst allowed on top.
    pub query_burst: f64,
    /// Incoming queries served per second from one IP …
    pub per_ip_queries_per_second: f64,
    /// … and the burst allowed from one IP.
    pub per_ip_burst: f64,
    /// Most source IPs rate-limited at once.
    pub max_tracked_ips: usize,
    /// Peers stored per info-hash.
    pub max_peers_per_hash: usize,
    /// Info-hashes stored in total.
    pub max_info_hashes: usize,
    /// How long an announced peer is kept.
    pub peer_ttl: Duration,
    /// Period of the token secret (a token is valid one to two periods).
    pub token_rotation: Duration,
    /// Peers returned in one `get_peers` answer.
    pub max_values_per_reply: usize,
    /// Concurrent lookups (get_peers/find_node) started by the caller; more are refused.
    pub max_lookups: usize,
    /// Client version sent as `v`.
    pub version: Vec<u8>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            public_ip: None,
            bep42: true,
            seed: None,
            ipv4: true,
            ipv6: true,
            read_only: false,
            query_timeout: Duration::from_secs(4),
            max_in_flight: 64,
            queries_per_second: 50.0,
            query_burst: 100.0,
            per_ip_queries_per_second: 5.0,
            per_ip_burst: 25.0,
            max_tracked_ips: 20_000,
            max_peers_per_hash: 200,
            max_info_hashes: 5_000,
            peer_ttl: Duration::from_secs(30 * 60),
            token_rotation: Duration::from_secs(5 * 60),
            max_values_per_reply: 50,
            max_lookups: 256,
            version: b"BM\x00\x01".to_vec(),
        }
    }
}
