//! Round-trip estimation (RFC 6298 as BEP 29 uses it) and LEDBAT congestion control.

use std::time::{Duration, Instant};

use crate::Config;

/// Smoothed RTT and the retransmission timeout derived from it, with exponential back-off.
#[derive(Debug, Clone)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    backoff: u32,
    initial: Duration,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            srtt: None,
            rttvar: Duration::ZERO,
            backoff: 0,
            initial: config.initial_rto,
            min_rto: config.min_rto,
            max_rto: config.max_rto,
        }
    }

    /// Feeds one RTT sample (never from a retransmitted packet: Karn's rule).
    pub(crate) fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        self.backoff = 0;
    }

    /// Smoothed RTT, if measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Current timeout: `max(srtt + 4 * rttvar, min_rto)`, doubled per back-off.
    pub(crate) fn rto(&self) -> Duration {
        let base = match self.srtt {
            None => self.initial,
            Some(srtt) => (srtt + self.rttvar * 4).max(self.min_rto),
        };
        base.saturating_mul(1 << self.backoff.min(16))
            .min(self.max_rto)
    }

    /// Doubles the timeout after a retransmission timeout.
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }
}

/// Minimum one-way delays per minute over the last few minutes (the LEDBAT base delay).
#[derive(Debug, Clone)]
struct BaseDelay {
    minutes: [Option<u32>; 3],
    current: usize,
    rotated_at: Option<Instant>,
}

impl BaseDelay {
    fn update(&mut self, now: Instant, sample: u32) {
        let rotate = self
            .rotated_at
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
        if rotate {
            self.current = (self.current + 1) % self.minutes.len();
            self.minutes[self.current] = None;
            self.rotated_at = Some(now);
        }
        let slot = &mut self.minutes[self.current];
        // delays are wrapping clock differences: compare in wrapping order
        if slot.is_none_or(|m| (sample.wrapping_sub(m) as i32) < 0) {
            *slot = Some(sample);
        }
    }

    fn base(&self) -> Option<u32> {
        self.minutes
            .iter()
            .flatten()
            .copied()
            .reduce(|a, b| if (b.wrapping_sub(a) as i32) < 0 { b } else { a })
    }
}

/// LEDBAT (RFC 6817 as in libtorrent): the window grows while queuing delay stays under the
/// target and shrinks above it, at most `max_cwnd_increase_per_rtt` per round trip; slow start
/// until the first loss or the delay nears the target; halved on loss, one packet on timeout.
#[derive(Debug, Clone)]
pub(crate) struct Ledbat {
    cwnd: f64,
    ssthresh: Option<f64>,
    slow_start: bool,
    base: BaseDelay,
    queuing_delay: Duration,
    target: Duration,
    gain: f64,
    min_cwnd: f64,
    max_cwnd: f64,
}

impl Ledbat {
    pub(crate) fn new(config: &Config) -> Self {
        let mss = config.max_payload as f64;
        Self {
            cwnd: mss * 2.0,
            ssthresh: None,
            slow_start: true,
            base: BaseDelay {
                minutes: [None; 3],
                current: 0,
                rotated_at: None,
            },
            queuing_delay: Duration::ZERO,
            target: config.target_delay,
            gain: config.max_cwnd_increase_per_rtt as f64,
            min_cwnd: mss,
            max_cwnd: config.send_buffer.max(config.max_payload) as f64,
        }
    }

    /// Congestion window in bytes.
    pub(crate) fn window(&self) -> usize {
        self.cwnd as usize
    }

    /// Last measured queuing delay.
    pub(crate) fn queuing_delay(&self) -> Duration {
        self.queuing_delay
    }

    /// A one-way delay sample: the peer's `timestamp_diff` field (0 means "none yet").
    pub(crate) fn delay_sample(&mut self, now: Instant, their_delay: u32) {
        if their_delay == 0 {
            return;
        }
        self.base.update(now, their_delay);
        let base = self.base.base().unwrap_or(their_delay);
        let queued = their_delay.wrapping_sub(base);
        // a "negative" queuing delay means the clocks drifted: treat as empty queue
        let queued = if (queued as i32) < 0 { 0 } else { queued };
        self.queuing_delay = Duration::from_micros(u64::from(queued));
    }

    /// `acked` new bytes were acknowledged; `window_limited` says whether the sender had used
    /// the window (growing an unused window would only allow a later burst).
    pub(crate) fn on_ack(&mut self, acked: usize, window_limited: bool) {
        let target = self.target.as_secs_f64().max(1e-6);
        let off_target = ((target - self.queuing_delay.as_secs_f64()) / target).clamp(-1.0, 1.0);
        let acked = acked as f64;
        let linear = self.gain * off_target * acked / self.cwnd;
        let mut change = linear;
        if self.slow_start {
            let over_ssthresh = self.ssthresh.is_some_and(|s| self.cwnd + acked > s);
            if over_ssthresh || off_target < 0.5 || linear > acked {
                self.slow_start = false;
            } else {
                change = acked;
            }
        }
        if change > 0.0 && !window_limited {
            return;
        }
        self.cwnd = (self.cwnd + change).clamp(self.min_cwnd, self.max_cwnd);
    }

    /// A packet was lost (fast retransmit): halve, leave slow start.
    pub(crate) fn on_loss(&mut self) {
        self.cwnd = (self.cwnd / 2.0).max(self.min_cwnd);
        self.ssthresh = Some(self.cwnd);
        self.slow_start = false;
    }

    /// A retransmission timeout: one packet, slow start up to half the old window.
    pub(crate) fn on_timeout(&mut self) {
        self.ssthresh = Some((self.cwnd / 2.0).max(self.min_cwnd));
        self.cwnd = self.min_cwnd;
        self.slow_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_follows_rfc6298_and_backs_off() {
        let config = Config::default();
        let mut rtt = RttEstimator::new(&config);
        assert_eq!(rtt.rto(), Duration::from_secs(1));
        rtt.sample(Duration::from_millis(200));
        // 200 + 4 * 100
        assert_eq!(rtt.rto(), Duration::from_millis(600));
        rtt.back_off();
        rtt.back_off();
        assert_eq!(rtt.rto(), Duration::from_millis(2400));
        for _ in 0..40 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(), config.max_rto);
        rtt.sample(Duration::from_millis(200));
        assert!(
            rtt.rto() < Duration::from_secs(1),
            "a sample ends the back-off"
        );
        let mut fast = RttEstimator::new(&config);
        fast.sample(Duration::from_millis(10));
        assert_eq!(fast.rto(), config.min_rto);
    }

    #[test]
    fn ledbat_grows_under_target_and_shrinks_over_it() {
        let config = Config::default();
        let now = Instant::now();
        let mut cc = Ledbat::new(&config);
        cc.delay_sample(now, 10_000);
        let start = cc.window();
        for _ in 0..50 {
            cc.on_ack(1400, true);
        }
        let grown = cc.window();
        assert!(grown > start, "{grown} > {start}");
        // 200 ms of queuing: over target, the window shrinks
        cc.delay_sample(now, 210_000);
        assert_eq!(cc.queuing_delay(), Duration::from_millis(200));
        for _ in 0..50 {
            cc.on_ack(1400, true);
        }
        assert!(cc.window() < grown);
        cc.on_timeout();
        assert_eq!(cc.window(), config.max_payload);
    }

    #[test]
    fn base_delay_handles_wrapping_clocks() {
        let config = Config::default();
        let now = Instant::now();
        let mut cc = Ledbat::new(&config);
        cc.delay_sample(now, u32::MAX - 1000);
        cc.delay_sample(now, 49_000); // wrapped: 50_001 us later than the base
        assert_eq!(cc.queuing_delay(), Duration::from_micros(50_001));
    }
}
