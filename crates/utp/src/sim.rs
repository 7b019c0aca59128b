//! A simulated link between two endpoints for the unit tests: delay, jitter (reordering),
//! loss, duplication and a bandwidth limit (so LEDBAT sees queuing delay). Time is virtual.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Config, ConnectionHandle, Endpoint, Error};

/// Impairments of the link, the same both ways.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) delay: Duration,
    pub(crate) jitter: Duration,
    pub(crate) loss: f64,
    pub(crate) duplicate: f64,
    /// Bytes per second; `None` is unlimited.
    pub(crate) bandwidth: Option<f64>,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            bandwidth: None,
        }
    }
}

/// One side of the simulation.
pub(crate) struct Side {
    pub(crate) ep: Endpoint,
    pub(crate) addr: SocketAddr,
    link_free: Instant,
}

impl Side {
    /// How long a datagram sent now would wait behind the queue of this side's uplink.
    pub(crate) fn link_free_in(&self, now: Instant) -> Duration {
        self.link_free.saturating_duration_since(now)
    }
}

/// A datagram on the wire: arrival time, a tie-breaker, receiving side, payload.
type InFlight = (Instant, u64, usize, Vec<u8>);

/// Two endpoints joined by a simulated link.
pub(crate) struct Sim {
    pub(crate) now: Instant,
    pub(crate) sides: [Side; 2],
    pub(crate) link: Link,
    rng: fastrand::Rng,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    pub(crate) delivered: u64,
    pub(crate) lost: u64,
    /// Most payload bytes any endpoint held in its buffers at once.
    pub(crate) peak_buffered: usize,
}

impl Sim {
    pub(crate) fn new(config: Config, link: Link, seed: u64) -> Self {
        let now = Instant::now();
        let side = |port: u16, seed: u64| Side {
            ep: Endpoint::new(config.clone(), now, seed),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            link_free: now,
        };
        Self {
            now,
            sides: [side(1000, seed), side(2000, seed ^ 0x5555)],
            link,
            rng: fastrand::Rng::with_seed(seed.wrapping_mul(31)),
            queue: BinaryHeap::new(),
            order: 0,
            delivered: 0,
            lost: 0,
            peak_buffered: 0,
        }
    }

    /// Side 0 connects to side 1; returns the handle on side 0.
    pub(crate) fn connect(&mut self) -> ConnectionHandle {
        let to = self.sides[1].addr;
        self.sides[0]
            .ep
            .connect(self.now, to)
            .expect("room for a connection")
    }

    /// Moves every datagram the endpoints want to send onto the link.
    pub(crate) fn flush(&mut self) {
        for from in 0..2 {
            while let Some(t) = self.sides[from].ep.poll_transmit(self.now) {
                debug_assert_eq!(t.destination, self.sides[1 - from].addr);
                self.send_raw(from, t.payload);
            }
        }
    }

    /// Puts a datagram from side `from` on the link, subject to its impairments.
    pub(crate) fn send_raw(&mut self, from: usize, payload: Vec<u8>) {
        if self.rng.f64() < self.link.loss {
            self.lost += 1;
            return;
        }
        let copies = if self.rng.f64() < self.link.duplicate {
            2
        } else {
            1
        };
        let side = &mut self.sides[from];
        let departure = side.link_free.max(self.now);
        if let Some(bw) = self.link.bandwidth {
            side.link_free = departure + Duration::from_secs_f64(payload.len() as f64 / bw);
        }
        for _ in 0..copies {
            let jitter = self.link.jitter.mul_f64(self.rng.f64());
            let arrival = departure + self.link.delay + jitter;
            self.order += 1;
            self.queue
                .push(Reverse((arrival, self.order, 1 - from, payload.clone())));
        }
    }

    /// Advances virtual time to the next arrival or timer and processes it. False when
    /// nothing is scheduled at all.
    pub(crate) fn step(&mut self) -> bool {
        self.flush();
        let arrival = self.queue.peek().map(|Reverse((t, ..))| *t);
        let timers = self.sides.iter().filter_map(|s| s.ep.next_timeout()).min();
        let Some(next) = [arrival, timers].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some(Reverse((t, ..))) = self.queue.peek() {
            if *t > self.now {
                break;
            }
            let Some(Reverse((_, _, to, payload))) = self.queue.pop() else {
                break;
            };
            let from = self.sides[1 - to].addr;
            self.sides[to].ep.handle_datagram(self.now, from, &payload);
            self.delivered += 1;
        }
        for side in &mut self.sides {
            side.ep.handle_timeout(self.now);
            self.peak_buffered = self.peak_buffered.max(side.ep.buffered_bytes());
        }
        self.flush();
        // with timers run and datagrams drained, no deadline may already be due (a driver
        // would spin on it)
        for side in &self.sides {
            let next = side.ep.next_timeout();
            assert!(
                next.is_none_or(|t| t > self.now),
                "deadline {next:?} is not after now {:?}",
                self.now
            );
        }
        true
    }
}

/// An application on one side: writes `send` then shuts down, reads into `received`.
pub(crate) struct App {
    pub(crate) handle: Option<ConnectionHandle>,
    pub(crate) send: Vec<u8>,
    pub(crate) sent: usize,
    pub(crate) received: Vec<u8>,
    pub(crate) eof: bool,
    pub(crate) error: Option<Error>,
    pub(crate) shutdown: bool,
}

impl App {
    pub(crate) fn new(send: Vec<u8>) -> Self {
        Self {
            handle: None,
            send,
            sent: 0,
            received: Vec::new(),
            eof: false,
            error: None,
            shutdown: false,
        }
    }

    /// Writes what fits, reads what is there; shuts down once everything is written.
    pub(crate) fn pump(&mut self, ep: &mut Endpoint) {
        if self.handle.is_none() {
            self.handle = ep.accept();
        }
        let Some(conn) = self.handle.and_then(|h| ep.connection(h)) else {
            return;
        };
        while self.sent < self.send.len() {
            match conn.write(&self.send[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        if self.sent == self.send.len() && !self.shutdown {
            conn.shutdown();
            self.shutdown = true;
        }
        let mut buf = [0u8; 16384];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
    }
}

/// Runs the simulation with an app on each side until `done` or `limit` of virtual time.
pub(crate) fn run(
    sim: &mut Sim,
    apps: &mut [App; 2],
    limit: Duration,
    done: impl Fn(&[App; 2]) -> bool,
) -> bool {
    let start = sim.now;
    while sim.now - start < limit {
        for (app, side) in apps.iter_mut().zip(sim.sides.iter_mut()) {
            app.pump(&mut side.ep);
        }
        if done(apps) {
            return true;
        }
        if !sim.step() {
            for (app, side) in apps.iter_mut().zip(sim.sides.iter_mut()) {
                app.pump(&mut side.ep);
            }
            return done(apps);
        }
    }
    false
}

/// Deterministic test data.
pub(crate) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}
