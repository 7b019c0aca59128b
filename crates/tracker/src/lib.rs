//! BitTorrent tracker protocol: the announce/scrape client (HTTP per BEP 3/23/7, UDP per BEP 15,
//! multitracker tiers per BEP 12) and the `btmirror tracker` server.
//!
//! Depends on `bencode` and `metainfo` only; it knows nothing of peer connections, storage or
//! the engine.
pub mod client;
pub mod server;
pub use client::{
    AnnounceRequest, AnnounceResponse, Backoff, Client, Error, Event, ScrapeStats, Tiers,
};
