//! Token buckets: one for our outgoing queries, one per source IP for incoming queries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    pub fn new(now: Instant, rate: f64, burst: f64) -> Self {
        TokenBucket {
            tokens: burst,
            last: now,
            rate,
            burst,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a token is available without taking it.
    pub fn available(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// When the next token will be there (now if one is).
    pub fn next_token(&self, now: Instant) -> Instant {
        if self.tokens >= 1.0 || self.rate <= 0.0 {
            return now;
        }
        now + Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// Per-IP buckets, bounded in number: when `max_ips` are tracked and none has refilled, a new
/// IP is refused (a spoofed flood from many addresses then costs us nothing but refusals).
#[derive(Debug)]
pub(crate) struct PerIpLimiter {
    buckets: HashMap<IpAddr, TokenBucket>,
    rate: f64,
    burst: f64,
    max_ips: usize,
}

impl PerIpLimiter {
    pub fn new(rate: f64, burst: f64, max_ips: usize) -> Self {
        PerIpLimiter {
            buckets: HashMap::new(),
            rate,
            burst,
            max_ips,
        }
    }

    /// Whether a query from `ip` may be served now. IPv6 addresses count per /64: one host
    /// usually has the whole prefix.
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let ip = limit_key(ip);
        if let Some(b) = self.buckets.get_mut(&ip) {
            return b.try_take(now);
        }
        if self.buckets.len() >= self.max_ips {
            self.buckets.retain(|_, b| !b.is_full(now));
            if self.buckets.len() >= self.max_ips {
                return false;
            }
        }
        let mut b = TokenBucket::new(now, self.rate, self.burst);
        let ok = b.try_take(now);
        self.buckets.insert(ip, b);
        ok
    }

    /// Forgets IPs whose buckets have refilled.
    pub fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, b| !b.is_full(now));
    }
}

/// The address a limit applies to: the IPv4 address, or the /64 of an IPv6 one.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::from(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let now = Instant::now();
        let mut b = TokenBucket::new(now, 10.0, 5.0);
        assert_eq!((0..20).filter(|_| b.try_take(now)).count(), 5);
        let later = now + Duration::from_millis(500);
        assert_eq!((0..20).filter(|_| b.try_take(later)).count(), 5);
        assert!(b.next_token(later) > later);
    }

    #[test]
    fn per_ip_is_per_ip_and_bounded() {
        let now = Instant::now();
        let mut l = PerIpLimiter::new(1.0, 2.0, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let c: IpAddr = "127.0.0.3".parse().unwrap();
        assert!(l.allow(now, a) && l.allow(now, a) && !l.allow(now, a));
        assert!(l.allow(now, b));
        assert!(!l.allow(now, c), "table full of draining buckets");
        let later = now + Duration::from_secs(5);
        assert!(l.allow(later, c), "refilled buckets are forgotten");
        let mut l = PerIpLimiter::new(1.0, 1.0, 10);
        assert!(l.allow(now, "2001:db8::1".parse().unwrap()));
        assert!(!l.allow(now, "2001:db8::2".parse().unwrap()), "same /64");
        assert!(l.allow(now, "2001:db8:0:1::1".parse().unwrap()));
    }
}
