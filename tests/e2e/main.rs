//! End-to-end tests: btmirror in loopback swarms with real clients and a real tracker.
//!
//! Every test starts its own opentracker on a free 127.0.0.1 port, generates a small payload,
//! and checks the SHA-256 of everything downloaded against the source. Tests use their own
//! ports and scratch directories, so they run in parallel. The helpers are in the
//! `btmirror-e2e` library (`tests/src`).
//!
//! - `harness`: the harness against real clients only (no btmirror involved), so a failure
//!   here points at the machine or the harness, not at btmirror.
//! - `from_clients`: btmirror downloads from aria2 and libtorrent seeds.
//! - `to_clients`: aria2, libtorrent and transmission download from a btmirror seed.
//! - `btmirror_swarm`: btmirror to btmirror, single- and multi-file, several leechers at once.
//! - `encryption`: MSE/PE with aria2 and libtorrent requiring RC4, btmirror with `require`.
//! - `hostile`: a peer serving corrupt blocks is caught and banned.
//! - `transmission_hosts`: transmission-cli with default settings (uTP first) on private test
//!   hosts (network namespaces; needs root), both directions.
//! - `utp`: uTP only: libtorrent with TCP off to and from btmirror, btmirror to btmirror with
//!   `--utp-only`.
//! - `magnet`: `btmirror get` from a magnet link (BEP 9 metadata from a btmirror seed).
//! - `dht`: trackerless torrents and bare magnets through a private loopback DHT: `get` from a
//!   libtorrent seed (a `.torrent` and a bare magnet), `run` with a watched `.magnet`, libtorrent
//!   and aria2 from a `run` seed.
//! - `make`: torrents made by `btmirror make` work with other clients and `btmirror check`.
//! - `v2`: BitTorrent v2 and hybrid torrents made by libtorrent, both directions.
//! - `webseed`: `get` and `run` fill torrents from a web seed (nginx), alone and beside a peer.
//!
//! The btmirror binary is `$BTMIRROR_BIN`, or built on first use (see `Btmirror::bin`).

mod btmirror_swarm;
mod dht;
mod encryption;
mod from_clients;
mod get_cli;
mod harness;
mod hostile;
mod magnet;
mod make;
mod to_clients;
mod transmission_hosts;
mod utp;
mod v2;
mod webseed;

/// Single-file payload size for most tests: big enough for many pieces, small enough for a
/// debug build on two shared cores.
const SIZE: u64 = 8 * 1024 * 1024 + 12_345;

/// Piece length for [`SIZE`]: 129 pieces, the last one short.
const PIECE: u32 = 64 * 1024;

/// File sizes of the multi-file torrents: empty and tiny files, sizes just around the piece
/// length, and files much larger than a piece, so that pieces span several files.
const MULTI_SIZES: &[u64] = &[
    1,
    0,
    100_000,
    3 * 1024 * 1024 + 17,
    32 * 1024,
    65_535,
    1024 * 1024 + 1,
];

/// Piece length for [`MULTI_SIZES`].
const MULTI_PIECE: u32 = 32 * 1024;
