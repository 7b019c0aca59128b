//! Unforgeable UDP connection ids (BEP 15).
//!
//! An id is the first 8 bytes of HMAC-SHA256(key, client ip ‖ time window) with a random key
//! made at start-up, so the server keeps no per-client state and nobody who has not received an
//! id from us at their own IP can produce one (which is what connection ids are for: proving the
//! source address is not spoofed). The window is [`WINDOW`] long; ids from the current and the
//! previous window are accepted, so an id lives between one and two windows (BEP 15 asks clients
//! to reuse one for at most a minute).
//!
//! The source *port* is deliberately not part of the id: libtorrent keeps one process-wide
//! connection-id cache per tracker address, so two sessions in one process (or a client behind
//! a NAT that remaps ports) announce with an id obtained from another port. opentracker makes
//! the same choice.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ring::hmac;
use tokio::time::Instant;

/// Length of one key window.
pub(crate) const WINDOW: Duration = Duration::from_secs(120);

/// The HMAC key and the clock origin the windows count from.
pub(crate) struct ConnIds {
    key: hmac::Key,
    origin: Instant,
}

impl std::fmt::Debug for ConnIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnIds").finish_non_exhaustive()
    }
}

impl ConnIds {
    /// A fresh random key; windows count from `origin`.
    pub fn new(origin: Instant) -> Result<Self, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)?;
        Ok(ConnIds { key, origin })
    }

    fn window(&self, now: Instant) -> u64 {
        let secs = now.saturating_duration_since(self.origin).as_secs();
        secs / WINDOW.as_secs()
    }

    fn id(&self, addr: &SocketAddr, window: u64) -> u64 {
        let mut ctx = hmac::Context::with_key(&self.key);
        match addr.ip().to_canonical() {
            IpAddr::V4(ip) => ctx.update(&ip.octets()),
            IpAddr::V6(ip) => ctx.update(&ip.octets()),
        }
        ctx.update(&window.to_be_bytes());
        let tag = ctx.sign();
        let mut first = [0u8; 8];
        for (d, s) in first.iter_mut().zip(tag.as_ref()) {
            *d = *s;
        }
        u64::from_be_bytes(first)
    }

    /// The id to hand to `addr` now (only its IP counts).
    pub fn issue(&self, addr: &SocketAddr, now: Instant) -> u64 {
        self.id(addr, self.window(now))
    }

    /// Whether `id` was issued to `addr`'s IP in this window or the previous one.
    pub fn verify(&self, addr: &SocketAddr, id: u64, now: Instant) -> bool {
        let w = self.window(now);
        let current = self.id(addr, w) ^ id;
        let previous = match w.checked_sub(1) {
            Some(p) => self.id(addr, p) ^ id,
            None => u64::MAX,
        };
        // No early exit: both comparisons are always computed.
        (current == 0) | (previous == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[tokio::test(start_paused = true)]
    async fn ids_bind_to_address_and_rotate() {
        let t0 = Instant::now();
        let ids = ConnIds::new(t0).unwrap();
        let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6881);
        let same_ip = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6882);
        let b = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 6881);
        let c = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 6881);
        let id = ids.issue(&a, t0);
        assert!(ids.verify(&a, id, t0));
        assert!(
            ids.verify(&same_ip, id, t0),
            "the port is not part of the id"
        );
        assert!(!ids.verify(&b, id, t0));
        assert!(!ids.verify(&c, id, t0));
        assert!(!ids.verify(&a, id ^ 1, t0));
        assert!(ids.verify(&a, id, t0 + WINDOW + Duration::from_secs(119)));
        assert!(!ids.verify(&a, id, t0 + WINDOW * 2));
        assert_ne!(ids.issue(&a, t0 + WINDOW), id);
        let other = ConnIds::new(t0).unwrap();
        assert!(
            !other.verify(&a, id, t0),
            "another key never accepts our ids"
        );
    }
}
