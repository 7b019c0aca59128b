//! BitTorrent tracker protocol, client side: the announce/scrape client (HTTP per BEP 3/23/7, UDP
//! per BEP 15, multitracker tiers per BEP 12), and the wire formats the client and the
//! `tracker-server` crate share ([`wire`]: bencoded answers, compact peers, UDP packet layouts).
//!
//! Depends on `bencode` and `metainfo` only; it knows nothing of peer connections, storage, the
//! engine or the server.
pub mod client;
pub mod wire;
pub use client::{
    AnnounceRequest, AnnounceResponse, Backoff, Client, Error, Event, ScrapeStats, Tiers,
    http_client,
};
