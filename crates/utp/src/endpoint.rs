//! Many connections over one UDP socket: routing by (address, connection id), a bounded
//! half-open table for incoming SYNs, RESETs for strangers.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::conn::{Connection, State};
use crate::packet::{Header, PacketType};
use crate::{Config, Error};

/// Most RESETs queued for unknown connections at once; more are dropped (counted).
const MAX_PENDING_RESETS: usize = 64;

/// Names one connection of an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(u64);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// Counters of an endpoint (what it dropped and why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams that did not decode as uTP.
    pub malformed: u64,
    /// Packets for no known connection (answered with RESET or dropped).
    pub unknown_connection: u64,
    /// RESETs sent for unknown connections.
    pub resets_sent: u64,
    /// RESETs not sent because the queue was full.
    pub resets_dropped: u64,
    /// Incoming SYNs that created a half-open connection.
    pub syns_accepted: u64,
    /// SYNs dropped: half-open table full (in total or for that IP).
    pub syns_dropped_half_open: u64,
    /// SYNs dropped: connection table full.
    pub syns_dropped_full: u64,
    /// Half-open connections that expired without the peer sending data.
    pub half_open_expired: u64,
    /// Established incoming connections reset because the accept backlog was full.
    pub backlog_full: u64,
    /// Connections removed after closing or failing.
    pub connections_removed: u64,
}

#[derive(Debug)]
struct Entry {
    conn: Connection,
    addr: SocketAddr,
    half_open: bool,
}

/// Sans-IO uTP endpoint for one UDP socket.
#[derive(Debug)]
pub struct Endpoint {
    config: Arc<Config>,
    epoch: Instant,
    rng: fastrand::Rng,
    conns: HashMap<ConnectionHandle, Entry>,
    routes: HashMap<(SocketAddr, u16), ConnectionHandle>,
    order: Vec<ConnectionHandle>,
    cursor: usize,
    half_open_total: usize,
    half_open_per_ip: HashMap<IpAddr, usize>,
    accept_queue: VecDeque<ConnectionHandle>,
    resets: VecDeque<Transmit>,
    next_handle: u64,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint; `now` is the origin of its microsecond clock, `seed` seeds connection ids
    /// and initial sequence numbers.
    pub fn new(config: Config, now: Instant, seed: u64) -> Self {
        Self {
            config: Arc::new(config),
            epoch: now,
            rng: fastrand::Rng::with_seed(seed),
            conns: HashMap::new(),
            routes: HashMap::new(),
            order: Vec::new(),
            cursor: 0,
            half_open_total: 0,
            half_open_per_ip: HashMap::new(),
            accept_queue: VecDeque::new(),
            resets: VecDeque::new(),
            next_handle: 0,
            stats: EndpointStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Number of connections, half-open ones included.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether there are no connections.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Payload bytes buffered by all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.conns.values().map(|e| e.conn.buffered_bytes()).sum()
    }

    /// Handles of all connections (half-open ones included).
    pub fn handles(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.conns.keys().copied()
    }

    /// The connection behind a handle.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.conns.get_mut(&handle).map(|e| &mut e.conn)
    }

    /// The peer of a connection.
    pub fn peer_addr(&self, handle: ConnectionHandle) -> Option<SocketAddr> {
        self.conns.get(&handle).map(|e| e.addr)
    }

    /// Starts a connection to `addr` (the SYN goes out on the next `poll_transmit`).
    pub fn connect(&mut self, now: Instant, addr: SocketAddr) -> Result<ConnectionHandle, Error> {
        if self.conns.len() >= self.config.max_connections {
            return Err(Error::TooManyConnections);
        }
        let recv_id = (0..64)
            .map(|_| self.rng.u16(..))
            .find(|id| !self.routes.contains_key(&(addr, *id)))
            .ok_or(Error::TooManyConnections)?;
        let seq = self.rng.u16(..);
        let conn = Connection::connect(self.config.clone(), self.epoch, now, recv_id, seq);
        Ok(self.insert(conn, addr, false))
    }

    fn insert(&mut self, conn: Connection, addr: SocketAddr, half_open: bool) -> ConnectionHandle {
        let handle = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.routes.insert((addr, conn.recv_id()), handle);
        self.order.push(handle);
        if half_open {
            self.half_open_total += 1;
            *self.half_open_per_ip.entry(addr.ip()).or_default() += 1;
        }
        self.conns.insert(
            handle,
            Entry {
                conn,
                addr,
                half_open,
            },
        );
        handle
    }

    /// The next established incoming connection.
    pub fn accept(&mut self) -> Option<ConnectionHandle> {
        self.accept_queue.pop_front()
    }

    /// Whether `accept` would return a connection.
    pub fn has_incoming(&self) -> bool {
        !self.accept_queue.is_empty()
    }

    /// The owner is done with a connection: it closes (FIN) and is removed once finished.
    pub fn release(&mut self, now: Instant, handle: ConnectionHandle) {
        if let Some(entry) = self.conns.get_mut(&handle) {
            entry.conn.release();
        }
        self.accept_queue.retain(|h| *h != handle);
        self.remove_if_finished(now, handle);
    }

    /// Handles one datagram from `from`; returns the connection it concerned, if any.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Option<ConnectionHandle> {
        self.stats.datagrams_received += 1;
        let Ok((header, payload)) = Header::decode(datagram) else {
            self.stats.malformed += 1;
            return None;
        };
        let handle = match header.kind {
            PacketType::Syn => match self.routes.get(&(from, header.conn_id.wrapping_add(1))) {
                Some(h) => *h,
                None => return self.incoming_syn(now, from, &header),
            },
            PacketType::Reset => match self.route_reset(from, header.conn_id) {
                Some(h) => h,
                None => {
                    self.stats.unknown_connection += 1;
                    return None;
                }
            },
            _ => match self.routes.get(&(from, header.conn_id)) {
                Some(h) => *h,
                None => {
                    self.unknown(from, &header);
                    return None;
                }
            },
        };
        let entry = self.conns.get_mut(&handle)?;
        entry.conn.handle_packet(now, &header, payload);
        if entry.half_open && *entry.conn.state() != State::SynReceived {
            self.leave_half_open(handle);
            let entry = self.conns.get_mut(&handle)?;
            if entry.conn.is_established() {
                if self.accept_queue.len() < self.config.accept_backlog {
                    self.accept_queue.push_back(handle);
                } else {
                    self.stats.backlog_full += 1;
                    entry.conn.abort();
                    entry.conn.release();
                }
            } else {
                entry.conn.release();
            }
        }
        Some(handle)
    }

    /// A RESET names our recv id, or (as some implementations send it) our send id.
    fn route_reset(&self, from: SocketAddr, id: u16) -> Option<ConnectionHandle> {
        if let Some(h) = self.routes.get(&(from, id)) {
            return Some(*h);
        }
        [id.wrapping_sub(1), id.wrapping_add(1)]
            .into_iter()
            .find_map(|recv_id| {
                let h = self.routes.get(&(from, recv_id))?;
                (self.conns.get(h)?.conn.send_id() == id).then_some(*h)
            })
    }

    fn incoming_syn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        syn: &Header,
    ) -> Option<ConnectionHandle> {
        if self.conns.len() >= self.config.max_connections {
            self.stats.syns_dropped_full += 1;
            return None;
        }
        let per_ip = self.half_open_per_ip.get(&from.ip()).copied().unwrap_or(0);
        if self.half_open_total >= self.config.max_half_open
            || per_ip >= self.config.max_half_open_per_ip
        {
            self.stats.syns_dropped_half_open += 1;
            return None;
        }
        self.stats.syns_accepted += 1;
        let seq = self.rng.u16(..);
        let conn = Connection::accept(self.config.clone(), self.epoch, now, syn, seq);
        Some(self.insert(conn, from, true))
    }

    fn unknown(&mut self, from: SocketAddr, header: &Header) {
        self.stats.unknown_connection += 1;
        if !self.config.reset_unknown || !matches!(header.kind, PacketType::Data | PacketType::Fin)
        {
            return;
        }
        if self.resets.len() >= MAX_PENDING_RESETS {
            self.stats.resets_dropped += 1;
            return;
        }
        let reset = Header {
            kind: PacketType::Reset,
            conn_id: header.conn_id,
            timestamp: 0,
            timestamp_diff: 0,
            wnd_size: 0,
            seq_nr: self.rng.u16(..),
            ack_nr: header.seq_nr,
            sack: None,
        };
        let mut payload = Vec::with_capacity(reset.encoded_len());
        reset.encode(&mut payload);
        self.resets.push_back(Transmit {
            destination: from,
            payload,
        });
        self.stats.resets_sent += 1;
    }

    fn leave_half_open(&mut self, handle: ConnectionHandle) {
        let Some(entry) = self.conns.get_mut(&handle) else {
            return;
        };
        if !entry.half_open {
            return;
        }
        entry.half_open = false;
        self.half_open_total -= 1;
        let ip = entry.addr.ip();
        if let Some(n) = self.half_open_per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.half_open_per_ip.remove(&ip);
            }
        }
    }

    fn remove_if_finished(&mut self, now: Instant, handle: ConnectionHandle) -> bool {
        let Some(entry) = self.conns.get(&handle) else {
            return false;
        };
        let removable = entry.half_open || entry.conn.is_released();
        if !removable || !entry.conn.is_finished(now) {
            return false;
        }
        if entry.half_open {
            self.stats.half_open_expired += 1;
        }
        self.leave_half_open(handle);
        let Some(entry) = self.conns.remove(&handle) else {
            return false;
        };
        self.routes.remove(&(entry.addr, entry.conn.recv_id()));
        if let Some(pos) = self.order.iter().position(|h| *h == handle) {
            self.order.swap_remove(pos);
        }
        self.stats.connections_removed += 1;
        true
    }

    /// The next datagram to send (RESETs first, then connections in turn). Runs expired timers.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(reset) = self.resets.pop_front() {
            return Some(reset);
        }
        let mut tried = 0;
        while tried < self.order.len() {
            if self.cursor >= self.order.len() {
                self.cursor = 0;
            }
            let handle = self.order[self.cursor];
            let Some(entry) = self.conns.get_mut(&handle) else {
                self.order.swap_remove(self.cursor);
                continue;
            };
            if let Some(payload) = entry.conn.poll_transmit(now) {
                let destination = entry.addr;
                self.cursor += 1;
                return Some(Transmit {
                    destination,
                    payload,
                });
            }
            if !self.remove_if_finished(now, handle) {
                self.cursor += 1;
            }
            tried += 1;
        }
        None
    }

    /// The earliest deadline of any connection.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter_map(|e| e.conn.next_timeout())
            .min()
    }

    /// Runs expired timers of every connection and removes finished ones.
    pub fn handle_timeout(&mut self, now: Instant) {
        let handles: Vec<ConnectionHandle> = self.order.clone();
        for handle in handles {
            if let Some(entry) = self.conns.get_mut(&handle) {
                entry.conn.handle_timeout(now);
            }
            self.remove_if_finished(now, handle);
        }
    }
}
