//! The tracker wire formats, both directions, as pure functions over bytes (no I/O): the client
//! builds requests and reads answers with them, the `tracker-server` crate reads requests and
//! builds answers, so each layout is written once.
//!
//! - [`compact`]: compact peer lists (BEP 23, BEP 7), in HTTP and UDP answers alike.
//! - [`http`]: the bencoded announce and scrape answers (BEP 3, 23, 48).
//! - [`udp`]: the UDP tracker packets (BEP 15).

pub mod compact;
pub mod http;
pub mod udp;
