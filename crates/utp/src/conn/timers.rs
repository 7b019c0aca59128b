//! Deadlines of a connection: retransmission, keep-alive, idle, zero-window probe, linger.

use std::time::{Duration, Instant};

use crate::Config;

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Timer state; the connection decides what expiry means.
#[derive(Debug)]
pub(crate) struct Timers {
    last_recv: Instant,
    last_send: Instant,
    rto_at: Option<Instant>,
    /// Timeouts since the last ack that made progress.
    timeouts: u32,
    /// Timeouts during which the peer sent nothing valid at all.
    silent_timeouts: u32,
    heard_since_timeout: bool,
    probe_since: Option<Instant>,
    linger_until: Option<Instant>,
}

impl Timers {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            last_recv: now,
            last_send: now,
            rto_at: None,
            timeouts: 0,
            silent_timeouts: 0,
            heard_since_timeout: false,
            probe_since: None,
            linger_until: None,
        }
    }

    pub(crate) fn received(&mut self, now: Instant) {
        self.last_recv = now;
        self.heard_since_timeout = true;
    }

    pub(crate) fn sent(&mut self, now: Instant) {
        self.last_send = now;
    }

    /// An ack acknowledged something new: restart the timer, forget past timeouts.
    pub(crate) fn progress(&mut self, now: Instant, in_flight: bool, rto: Duration) {
        self.timeouts = 0;
        self.silent_timeouts = 0;
        self.probe_since = None;
        self.rto_at = in_flight.then(|| now + rto);
    }

    /// Starts the retransmission timer unless it runs.
    pub(crate) fn arm_rto(&mut self, now: Instant, rto: Duration) {
        self.rto_at.get_or_insert(now + rto);
    }

    pub(crate) fn disarm_rto(&mut self) {
        self.rto_at = None;
    }

    pub(crate) fn rto_expired(&self, now: Instant) -> bool {
        self.rto_at.is_some_and(|t| now >= t)
    }

    /// Counts a timeout and returns the count that decides death: timeouts with a silent peer,
    /// or a quarter of all timeouts without progress (a peer that answers but never acks).
    pub(crate) fn count_timeout(&mut self) -> u32 {
        self.timeouts += 1;
        if !self.heard_since_timeout {
            self.silent_timeouts += 1;
        }
        self.heard_since_timeout = false;
        self.silent_timeouts.max(self.timeouts / 4)
    }

    pub(crate) fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_recv)
    }

    pub(crate) fn keepalive_due(&self, now: Instant, interval: Duration) -> bool {
        now >= self.last_send + interval
    }

    /// Zero-window probing: true once the window has been zero for an RTO.
    pub(crate) fn probe_due(&mut self, now: Instant, rto: Duration) -> bool {
        match self.probe_since {
            None => {
                self.probe_since = Some(now);
                false
            }
            Some(since) if now >= since + rto => {
                self.probe_since = None;
                true
            }
            Some(_) => false,
        }
    }

    pub(crate) fn probe_at(&self, rto: Duration) -> Option<Instant> {
        self.probe_since.map(|t| t + rto)
    }

    pub(crate) fn start_linger(&mut self, now: Instant, linger: Duration) {
        self.linger_until.get_or_insert(now + linger);
    }

    pub(crate) fn linger_over(&self, now: Instant) -> bool {
        self.linger_until.is_some_and(|t| now >= t)
    }

    pub(crate) fn linger_until(&self) -> Option<Instant> {
        self.linger_until
    }

    /// The next deadline: idle (or half-open) limit, RTO while packets are in flight,
    /// keep-alive once established.
    pub(crate) fn next(
        &self,
        config: &Config,
        in_flight: bool,
        half_open: bool,
        established: bool,
    ) -> Option<Instant> {
        let idle = if half_open {
            config.half_open_timeout
        } else {
            config.idle_timeout
        };
        let mut next = Some(self.last_recv + idle);
        if in_flight {
            next = earliest(next, self.rto_at);
        }
        if established {
            next = earliest(next, Some(self.last_send + config.keepalive_interval));
        }
        next
    }
}
