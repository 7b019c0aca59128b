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

    /// Changes the rate and the burst from `now` on (tokens saved so far are kept, up to the
    /// new burst).
    pub fn set_rate(&mut self, now: Instant, rate: f64, burst: f64) {
        self.refill(now);
        self.rate = rate;
        self.burst = burst;
        self.tokens = self.tokens.min(burst);
    }

    /// Tokens a second.
    pub fn rate(&self) -> f64 {
        self.rate
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

    /// Whether `n` tokens (at most the burst) are available, without taking any.
    pub fn available(&mut self, now: Instant, n: f64) -> bool {
        self.refill(now);
        self.tokens >= self.within_burst(n)
    }

    /// `n`, but at least one token and at most the burst (more could never be saved up).
    fn within_burst(&self, n: f64) -> f64 {
        n.min(self.burst).max(1.0)
    }

    /// When `n` tokens (at most the burst) will be there (now if they are).
    pub fn next_token(&self, now: Instant, n: f64) -> Instant {
        let n = self.within_burst(n);
        if self.tokens >= n || self.rate <= 0.0 {
            return now;
        }
        now + Duration::from_secs_f64((n - self.tokens) / self.rate)
    }

    /// Tokens a sender should save up before it wakes to send them in one go: a tenth of a
    /// second's worth (one wake-up per batch, not per token), at least one.
    pub fn batch(&self) -> f64 {
        (self.rate / 10.0).floor().clamp(1.0, self.burst.max(1.0))
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
        assert!(b.next_token(later, 1.0) > later);
        // a batch of 3 tokens takes 0.3 s to save up at 10 a second
        assert_eq!(b.batch(), 1.0);
        let wait = b.next_token(later, 3.0) - later;
        assert!((wait.as_secs_f64() - 0.3).abs() < 1e-6, "{wait:?}");
        assert!(!b.available(later, 3.0));
        assert!(b.available(later + wait, 3.0));
        let fast = TokenBucket::new(now, 50.0, 100.0);
        assert_eq!(fast.batch(), 5.0);
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
