//! Token-bucket rate limits, shared by tasks (session-wide and per torrent).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket refilled at `rate` bytes/s, holding at most one second's worth (or 64 KiB,
/// whichever is more). A rate of 0 means unlimited and costs one atomic load.
#[derive(Debug)]
pub struct RateLimiter {
    rate: AtomicU64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A limiter at `rate` bytes/s (0 = unlimited).
    pub fn new(rate: u64) -> Self {
        Self {
            rate: AtomicU64::new(rate),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    /// Changes the rate (0 = unlimited).
    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// The rate in bytes/s (0 = unlimited).
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes' worth of tokens now, going into debt if needed, and returns how long the
    /// caller must wait before sending them (zero when unlimited or within budget).
    pub fn take(&self, n: u64) -> Duration {
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        let Ok(mut b) = self.bucket.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let burst = (rate as f64).max(65536.0);
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate as f64).min(burst);
        b.last = now;
        b.tokens -= n as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate as f64)
        }
    }

    /// Waits until `n` bytes may be sent.
    #[cfg(test)]
    pub async fn acquire(&self, n: u64) {
        let wait = self.take(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Takes `n` bytes from several limiters (e.g. session and torrent) and returns how long to
/// wait before sending them: the longest of their waits.
pub fn take_all(limiters: &[&RateLimiter], n: u64) -> Duration {
    limiters.iter().map(|l| l.take(n)).max().unwrap_or_default()
}

/// Waits on several limiters (e.g. session then torrent) for `n` bytes.
pub async fn acquire_all(limiters: &[&RateLimiter], n: u64) {
    let wait = take_all(limiters, n);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limits_the_long_run_rate() {
        let l = RateLimiter::new(100_000);
        let start = Instant::now();
        for _ in 0..100 {
            l.acquire(16_384).await;
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = 1_638_400.0 / secs;
        assert!((80_000.0..=120_000.0).contains(&rate), "rate {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_is_unlimited() {
        let l = RateLimiter::new(0);
        let start = Instant::now();
        for _ in 0..1000 {
            l.acquire(1 << 20).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
