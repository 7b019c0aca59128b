//! Tunables of connections and endpoints.

use std::time::Duration;

/// Settings shared by every connection of an [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest payload per data packet (libtorrent starts around 1,400 bytes; no PMTU probing).
    pub max_payload: usize,
    /// Bytes `write` accepts that are not yet acked (unsent plus in flight).
    pub send_buffer: usize,
    /// Receive buffer: in-order unread bytes plus out-of-order packets; advertised as wnd_size.
    pub recv_buffer: usize,
    /// Most out-of-order packets kept past the next expected one.
    pub max_reorder_packets: usize,
    /// LEDBAT target queuing delay.
    pub target_delay: Duration,
    /// LEDBAT: the most the congestion window may grow per round trip, in bytes.
    pub max_cwnd_increase_per_rtt: usize,
    /// Retransmission timeout before the first RTT sample (also for SYN).
    pub initial_rto: Duration,
    /// Floor of the retransmission timeout.
    pub min_rto: Duration,
    /// Ceiling of the backed-off retransmission timeout.
    pub max_rto: Duration,
    /// Consecutive timeouts of one packet before the connection is declared dead.
    pub max_retransmissions: u32,
    /// SYN retransmissions before `connect` fails with a timeout.
    pub syn_retries: u32,
    /// Send an ack this often when nothing else was sent (keeps NAT mappings open).
    pub keepalive_interval: Duration,
    /// Give up on a peer we have not heard from for this long.
    pub idle_timeout: Duration,
    /// How long a closed connection lingers to ack retransmitted FINs.
    pub linger: Duration,
    /// Most connections (including half-open) per endpoint.
    pub max_connections: usize,
    /// Most half-open incoming connections (SYN seen, no data yet) in total.
    pub max_half_open: usize,
    /// Most half-open incoming connections from one IP address.
    pub max_half_open_per_ip: usize,
    /// How long an incoming connection may stay half-open.
    pub half_open_timeout: Duration,
    /// Most established incoming connections waiting for `accept`.
    pub accept_backlog: usize,
    /// Answer data packets for unknown connections with RESET (otherwise drop them silently).
    pub reset_unknown: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_payload: 1400,
            send_buffer: 1 << 20,
            recv_buffer: 512 << 10,
            max_reorder_packets: 1024,
            target_delay: Duration::from_millis(100),
            max_cwnd_increase_per_rtt: 3000,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(30),
            max_retransmissions: 6,
            syn_retries: 3,
            keepalive_interval: Duration::from_secs(29),
            idle_timeout: Duration::from_secs(120),
            linger: Duration::from_secs(3),
            max_connections: 1024,
            max_half_open: 64,
            max_half_open_per_ip: 8,
            half_open_timeout: Duration::from_secs(10),
            accept_backlog: 64,
            reset_unknown: true,
        }
    }
}
