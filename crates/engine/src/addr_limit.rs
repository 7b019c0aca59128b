//! Per-address connection budgets: how many connections one IP address may hold open, and how
//! many of them may still be before their handshake. One host opening hundreds of sockets
//! then only wastes its own slots, never everyone's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedSemaphorePermit;

/// Open and half-open connections per address.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    open: usize,
    half_open: usize,
}

/// The table of addresses with open connections, bounded by what they may hold.
#[derive(Debug)]
pub(crate) struct AddrLimits {
    max_open: usize,
    max_half_open: usize,
    counts: Mutex<HashMap<IpAddr, Counts>>,
}

impl AddrLimits {
    /// At most `max_open` connections per address, `max_half_open` of them before the
    /// handshake.
    pub(crate) fn new(max_open: usize, max_half_open: usize) -> Self {
        Self {
            max_open: max_open.max(1),
            max_half_open: max_half_open.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for a new (half-open) connection from `ip`, or `None` when that address holds
    /// its share already. The slot is given back when the guard drops.
    pub(crate) fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<AddrGuard> {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(ip).or_default();
        if c.open >= self.max_open || c.half_open >= self.max_half_open {
            return None;
        }
        c.open += 1;
        c.half_open += 1;
        Some(AddrGuard {
            limits: self.clone(),
            ip,
            half_open: true,
        })
    }

    fn release(&self, ip: IpAddr, half_open: bool) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get_mut(&ip) {
            c.open = c.open.saturating_sub(1);
            if half_open {
                c.half_open = c.half_open.saturating_sub(1);
            }
            if c.open == 0 {
                map.remove(&ip);
            }
        }
    }

    fn handshake_done(&self, ip: IpAddr) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get_mut(&ip) {
            c.half_open = c.half_open.saturating_sub(1);
        }
    }

    /// Addresses with a connection open (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.counts.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// One connection's share of its address' budget.
#[derive(Debug)]
pub(crate) struct AddrGuard {
    limits: Arc<AddrLimits>,
    ip: IpAddr,
    half_open: bool,
}

impl AddrGuard {
    /// The peer sent its handshake: it no longer counts as half-open.
    pub(crate) fn handshake_done(&mut self) {
        if std::mem::take(&mut self.half_open) {
            self.limits.handshake_done(self.ip);
        }
    }
}

impl Drop for AddrGuard {
    fn drop(&mut self) {
        self.limits.release(self.ip, self.half_open);
    }
}

/// What a connection holds while it is open: a slot of the global connection limit and, for
/// an incoming one, its address' share.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    _global: OwnedSemaphorePermit,
    _addr: Option<AddrGuard>,
}

impl ConnPermit {
    /// A permit for a connection we dial (our own choice of address needs no per-address cap).
    pub(crate) fn outgoing(global: OwnedSemaphorePermit) -> Self {
        Self {
            _global: global,
            _addr: None,
        }
    }

    /// A permit for an incoming connection, whose handshake head has arrived.
    pub(crate) fn incoming(global: OwnedSemaphorePermit, mut addr: AddrGuard) -> Self {
        addr.handshake_done();
        Self {
            _global: global,
            _addr: Some(addr),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn half_open_and_open_are_bounded_per_address_and_given_back() {
        let l = Arc::new(AddrLimits::new(3, 2));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let mut g1 = l.try_open(a).unwrap();
        let g2 = l.try_open(a).unwrap();
        assert!(l.try_open(a).is_none(), "two half-open at most");
        assert!(l.try_open(b).is_some(), "another address is not affected");
        g1.handshake_done();
        let mut g3 = l.try_open(a).unwrap();
        g3.handshake_done();
        assert!(l.try_open(a).is_none(), "three open at most");
        drop(g2);
        let g4 = l.try_open(a).unwrap();
        drop((g1, g3, g4));
        assert_eq!(
            l.tracked(),
            0,
            "nothing kept for an address with no connection"
        );
    }
}
