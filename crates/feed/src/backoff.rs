//! When to fetch next: the interval after a success, 1, 2, 4 ... minutes after failures (never
//! more than the interval), each with ±10 % jitter so that feeds started together drift apart.

use std::time::Duration;

/// The first retry after a failure.
const FIRST_RETRY: Duration = Duration::from_secs(60);

/// The delay before the next fetch after `failures` failures in a row (0 after a success),
/// with `jitter` in `[0, 1)` (a uniform random sample; 0.5 means none).
pub fn next_delay(interval: Duration, failures: u32, jitter: f64) -> Duration {
    let base = if failures == 0 {
        interval
    } else {
        let doublings = (failures - 1).min(30);
        FIRST_RETRY.saturating_mul(1u32 << doublings).min(interval)
    };
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn success_waits_the_interval_with_jitter() {
        assert_eq!(next_delay(HOUR, 0, 0.5), HOUR);
        assert_eq!(next_delay(HOUR, 0, 0.0), Duration::from_secs(3240));
        assert!(next_delay(HOUR, 0, 0.999_999) < Duration::from_secs(3961));
        assert!(next_delay(HOUR, 0, 0.999_999) > Duration::from_secs(3959));
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_interval() {
        let mins: Vec<u64> = (1..=9)
            .map(|n| next_delay(HOUR, n, 0.5).as_secs() / 60)
            .collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(next_delay(HOUR, u32::MAX, 0.5), HOUR);
        // A short interval caps the back-off early.
        assert_eq!(
            next_delay(Duration::from_secs(120), 5, 0.5),
            Duration::from_secs(120)
        );
        // Jitter stays within 10 % and out-of-range samples are clamped.
        assert_eq!(next_delay(HOUR, 1, -3.0), Duration::from_secs(54));
        assert_eq!(next_delay(HOUR, 1, 7.0), Duration::from_secs(66));
    }
}
