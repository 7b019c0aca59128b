//! uTP, the µTorrent Transport Protocol (BEP 29), as a sans-IO library.
//!
//! [`Connection`] is one connection's state machine over datagrams and time; [`Endpoint`]
//! multiplexes many of them over one UDP socket (routing by address and connection id, a
//! bounded half-open table for incoming SYNs, RESETs for strangers); [`is_utp_packet`] lets the
//! socket's owner tell uTP from DHT and UDP-tracker datagrams. Nothing here does I/O or reads a
//! clock: callers pass `Instant`s in, so tests simulate time and links deterministically.
//! [`tokio_socket`] is a small driver giving `AsyncRead + AsyncWrite` streams over a UdpSocket.
//!
//! Implemented: header codec (v1, extension chain, selective ack), SYN/STATE/DATA/FIN/RESET,
//! bounded send and receive buffers with a reordering buffer, selective acks sent and used,
//! fast retransmit (3 duplicate acks or 3 packets sacked past a hole), RFC 6298 RTO with
//! back-off, LEDBAT (100 ms target, per-minute base delay history, at most 3,000 bytes growth
//! per RTT, slow start), the peer's advertised window with zero-window probing, a 1,400-byte
//! payload (no PMTU probing), keep-alives, idle and half-open timeouts.
//!
//! # Why not `librqbit-utp`
//! `librqbit-utp` 0.7 (the one maintained crate, ~13k lines, ~140 tests including a lossy
//! mock transport) was evaluated first. It does not fit btmirror: its congestion control is
//! Cubic (LEDBAT is a TODO in its lib.rs), so it would not yield to TCP as uTP is meant to; it
//! is not sans-IO: `UtpSocket` spawns its own dispatcher task that calls `recv_from` on the
//! transport itself, so sharing the port with the UDP tracker client and the DHT means faking
//! a `Transport` that re-reads from a channel (and it pulls in its own dual-stack socket crate
//! and socket2, dontfrag, metrics, ringbuf, bitvec, tokio-util). Its per-byte cost could not be measured against ours
//! without that plumbing either. A sans-IO crate of our own is smaller, fits the socket owner's
//! demultiplexing directly, and lets the engine's tests drive time.
//!
//! # Cost
//! `cargo test --release -p btmirror-utp cpu_cost -- --nocapture` prints the protocol's CPU cost
//! on a loss-free simulated link: about 2.7 ns per byte for both ends together (~370 MB/s on the
//! shared 2-core dev box), most of it memcpy (write buffer, packet, datagram, receive buffer).
//!
//! # Wiring it into the engine
//! One UDP socket per listen address, shared: give it to
//! [`tokio_socket::UtpSocket::from_socket`] with a channel that receives every datagram
//! [`is_utp_packet`] rejects (UDP tracker replies, later the DHT), or own the socket yourself and
//! feed an [`Endpoint`] directly. Streams are `AsyncRead + AsyncWrite`, so the peer code can take
//! them like a `TcpStream`. Memory per connection is bounded by `send_buffer + recv_buffer`
//! (1 MiB + 512 KiB by default) plus at most `max_reorder_packets` slots of bookkeeping; the
//! endpoint by `max_connections` of those.

mod config;
mod congestion;
mod conn;
mod endpoint;
mod error;
pub mod packet;
#[cfg(feature = "tokio")]
pub mod tokio_socket;

pub use config::Config;
pub use conn::{Connection, ConnectionStats, ConnectionStatus, State};
pub use endpoint::{ConnectionHandle, Endpoint, EndpointStats, Transmit};
pub use error::{Error, PacketError};
pub use packet::is_utp_packet;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_tests;
