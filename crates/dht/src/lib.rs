//! A Mainline DHT node (BEP 5), IPv4 and IPv6 (BEP 32), sans-IO: a state machine over
//! datagrams and time that the caller drives from its own UDP socket (shared with uTP and the
//! UDP tracker client: [`is_dht_packet`] tells KRPC datagrams apart).
//!
//! Why our own: the `mainline` crate is IPv4-only (no BEP 32) and owns its socket and threads;
//! `librqbit-dht` is bound to tokio tasks and its own socket, with its own peer store and
//! persistence. Neither can share the engine's UDP socket nor be tested with simulated time.
//! The protocol is small (four queries), so a sans-IO node that the session drives, and that
//! a test can run by the hundred in memory, is the smaller risk.
//!
//! Pieces: [`krpc`] (codec, every size bounded), a routing table per family (k = 8 buckets,
//! the own bucket splits, replacement cache, good/questionable/bad, refresh every 15 min),
//! BEP 42 ids ([`bep42_id`]), rotating token secrets, a bounded expiring peer store, per-IP
//! and outgoing rate limits, and iterative lookups (alpha = 3, converging on the k closest,
//! then announce_peer with their tokens).
//!
//! Driving it (here two nodes wired together in memory; a real caller uses a UDP socket and
//! sleeps until [`Node::next_timeout`] or the next datagram):
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use dht::{Config, Event, Node, NodeId};
//!
//! let now = Instant::now();
//! let (a_addr, b_addr): (SocketAddr, SocketAddr) =
//!     ("127.0.0.1:6881".parse().unwrap(), "127.0.0.2:6881".parse().unwrap());
//! let mut a = Node::new(Config::default(), now);
//! let mut b = Node::new(Config::default(), now);
//! a.add_node(b_addr); // from the bootstrap list, saved nodes or a peer's `port` message
//! let lookup = a.start_get_peers(NodeId([7; 20]), Some(6881)).unwrap();
//! let mut done = false;
//! for _ in 0..10 {
//!     while let Some((to, datagram)) = a.poll_transmit(now) {
//!         assert!(dht::is_dht_packet(&datagram) && to == b_addr);
//!         b.handle_datagram(now, a_addr, &datagram);
//!     }
//!     while let Some((to, datagram)) = b.poll_transmit(now) {
//!         assert_eq!(to, a_addr);
//!         a.handle_datagram(now, b_addr, &datagram);
//!     }
//!     while let Some(event) = a.poll_event() {
//!         if let Event::AnnounceDone { lookup: l, acked, .. } = event {
//!             done = l == lookup && acked == 1;
//!         }
//!     }
//! }
//! assert!(done, "b accepted a's announce");
//! assert_eq!(b.stored_peers(), (1, 1));
//! ```
//!
//! **No bootstrap list is built in**: a node sends nothing until the caller gives it an address
//! with [`Node::add_node`]. The public routers are the daemon's default, never this crate's.

mod config;
mod id;
pub mod krpc;
mod lookup;
mod node;
mod peers;
mod ratelimit;
mod table;
mod token;

pub use config::Config;
pub use id::{NodeId, bep42_exempt, bep42_id, bep42_valid};
pub use krpc::is_dht_packet;
pub use node::{Event, LookupId, Node, Stats};
pub use table::{K, NodeState};
