//! One uTP connection as a sans-IO state machine: feed it datagrams and time, take datagrams
//! out, read and write bytes.

mod recv;
mod send;
mod timers;
mod transmit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::congestion::{Ledbat, RttEstimator};
use crate::packet::{Header, PacketType};
use crate::{Config, Error};
use recv::{Arrival, RecvBuffer};
use send::SendBuffer;

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// We sent a SYN and wait for the peer's ST_STATE.
    SynSent,
    /// We got a SYN and answered; the peer has not sent anything else yet (half-open).
    SynReceived,
    /// Data flows (possibly after one side sent its FIN).
    Connected,
    /// Both FINs are acked; lingering to ack retransmitted FINs until the deadline.
    Closed,
    /// Reset or timed out; nothing more is sent except a pending RESET.
    Failed(Error),
}

/// Counters of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Datagrams produced.
    pub packets_sent: u64,
    /// Datagrams accepted.
    pub packets_received: u64,
    /// Data packets sent again (timeouts and fast retransmits).
    pub retransmits: u64,
    /// Fast retransmits (three duplicate acks or selective acks).
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Packets dropped as invalid (acks for data never sent, wrong state).
    pub invalid: u64,
    /// Data packets dropped for lack of buffer room.
    pub dropped_no_room: u64,
    /// Duplicate data packets.
    pub duplicates: u64,
}

/// Gauges of one connection, for logs and status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// LEDBAT congestion window in bytes.
    pub cwnd: usize,
    /// The peer's last advertised receive window.
    pub peer_window: usize,
    /// Payload bytes sent and not acked (nor known lost).
    pub in_flight: usize,
    /// Bytes written and not yet sent.
    pub unsent: usize,
    /// Our free receive window.
    pub recv_window: usize,
    /// Smoothed RTT, once measured.
    pub rtt: Option<Duration>,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// LEDBAT's queuing-delay estimate.
    pub queuing_delay: Duration,
}

/// A uTP connection (BEP 29). Sans-IO: the owner passes datagrams in with
/// [`handle_datagram`](Self::handle_datagram), sends what [`poll_transmit`](Self::poll_transmit)
/// returns, and calls [`handle_timeout`](Self::handle_timeout) at [`next_timeout`](Self::next_timeout).
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    epoch: Instant,
    state: State,
    recv_id: u16,
    send_id: u16,
    send: SendBuffer,
    recv: RecvBuffer,
    rtt: RttEstimator,
    cc: Ledbat,
    peer_wnd: usize,
    last_ack: u16,
    dup_acks: u32,
    reply_micro: u32,
    ack_pending: bool,
    advertised_wnd: usize,
    window_limited: bool,
    loss_recovery_until: Option<u16>,
    timers: timers::Timers,
    shutdown: bool,
    fin_sent: bool,
    fin_acked: bool,
    reset_pending: bool,
    released: bool,
    stats: ConnectionStats,
}

impl Connection {
    /// A connection that will send a SYN with `recv_id` and initial sequence number `seq`.
    /// `epoch` is the origin of the microsecond timestamps.
    pub fn connect(
        config: Arc<Config>,
        epoch: Instant,
        now: Instant,
        recv_id: u16,
        seq: u16,
    ) -> Self {
        let mut conn = Self::new(config, epoch, now, recv_id, recv_id.wrapping_add(1), seq, 0);
        conn.state = State::SynSent;
        conn.send.packetize(PacketType::Syn, 0);
        conn
    }

    /// A connection answering the SYN `syn` with initial sequence number `seq`; its ST_STATE
    /// reply is the first thing [`poll_transmit`](Self::poll_transmit) returns.
    pub fn accept(
        config: Arc<Config>,
        epoch: Instant,
        now: Instant,
        syn: &Header,
        seq: u16,
    ) -> Self {
        let mut conn = Self::new(
            config,
            epoch,
            now,
            syn.conn_id.wrapping_add(1),
            syn.conn_id,
            seq,
            syn.seq_nr,
        );
        conn.state = State::SynReceived;
        conn.note_peer(now, syn);
        conn.ack_pending = true;
        conn
    }

    fn new(
        config: Arc<Config>,
        epoch: Instant,
        now: Instant,
        recv_id: u16,
        send_id: u16,
        seq: u16,
        ack_nr: u16,
    ) -> Self {
        Self {
            send: SendBuffer::new(config.send_buffer, seq),
            recv: RecvBuffer::new(config.recv_buffer, config.max_reorder_packets, ack_nr),
            rtt: RttEstimator::new(&config),
            cc: Ledbat::new(&config),
            peer_wnd: config.max_payload,
            advertised_wnd: config.recv_buffer,
            timers: timers::Timers::new(now),
            config,
            epoch,
            state: State::SynSent,
            recv_id,
            send_id,
            last_ack: ack_nr,
            dup_acks: 0,
            reply_micro: 0,
            ack_pending: false,
            window_limited: false,
            loss_recovery_until: None,
            shutdown: false,
            fin_sent: false,
            fin_acked: false,
            reset_pending: false,
            released: false,
            stats: ConnectionStats::default(),
        }
    }

    /// Current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The connection id peers use to reach us (`conn_id_recv`).
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// The connection id we put in packets (`conn_id_send`).
    pub fn send_id(&self) -> u16 {
        self.send_id
    }

    /// Counters.
    pub fn stats(&self) -> &ConnectionStats {
        &self.stats
    }

    /// Gauges: windows, bytes in flight, RTT.
    pub fn status(&self) -> ConnectionStatus {
        ConnectionStatus {
            cwnd: self.cc.window(),
            peer_window: self.peer_wnd,
            in_flight: self.send.outstanding(),
            unsent: self.send.unsent_len(),
            recv_window: self.recv.window(),
            rtt: self.rtt.srtt(),
            rto: self.rtt.rto(),
            queuing_delay: self.cc.queuing_delay(),
        }
    }

    /// Congestion window in bytes.
    pub fn congestion_window(&self) -> usize {
        self.cc.window()
    }

    /// LEDBAT's last queuing-delay estimate.
    pub fn queuing_delay(&self) -> Duration {
        self.cc.queuing_delay()
    }

    /// Smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Bytes of payload held in the send and receive buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.send.buffered() + self.recv.buffered()
    }

    /// Whether the handshake completed (data may flow both ways).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Connected | State::Closed)
    }

    /// Queues bytes for sending; returns how many fit in the send buffer (0 when full).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if self.shutdown || self.state == State::Closed {
            return Err(Error::Closed);
        }
        match self.send.write(data) {
            0 if !data.is_empty() => Err(Error::WouldBlock),
            n => Ok(n),
        }
    }

    /// Room left in the send buffer.
    pub fn writable(&self) -> usize {
        if self.shutdown { 0 } else { self.send.free() }
    }

    /// Bytes sent or queued and not yet acknowledged.
    pub fn unacked_bytes(&self) -> usize {
        self.send.buffered()
    }

    /// Reads received bytes. `Ok(0)` (with a non-empty `buf`) is the end of the stream,
    /// `Err(WouldBlock)` means nothing yet.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.recv.readable_len() > 0 {
            let n = self.recv.read(buf);
            self.maybe_window_update();
            return Ok(n);
        }
        if self.recv.fin_received() {
            return Ok(0);
        }
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Whether `read` would return data or the end of the stream.
    pub fn readable(&self) -> bool {
        self.recv.readable_len() > 0 || self.recv.fin_received()
    }

    fn maybe_window_update(&mut self) {
        let window = self.recv.window();
        let step = (self.config.recv_buffer / 4).max(self.config.max_payload);
        if window >= self.advertised_wnd.saturating_add(step)
            || (self.advertised_wnd == 0 && window > 0)
        {
            self.ack_pending = true;
        }
    }

    /// Sends a FIN once everything written has been sent; later writes fail.
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    /// Aborts: a RESET goes out on the next `poll_transmit`, the connection fails.
    pub fn abort(&mut self) {
        if !matches!(self.state, State::Failed(_)) {
            self.reset_pending = !matches!(self.state, State::Closed);
            self.state = State::Failed(Error::ConnectionReset);
        }
    }

    /// The owner no longer uses this connection: finish closing, then it may be dropped.
    pub fn release(&mut self) {
        self.released = true;
        self.shutdown();
    }

    /// Whether [`release`](Self::release) was called.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Whether the owner may forget the connection: failed (and the RESET is out), or closed and
    /// lingered, or released with our FIN acked and the linger time over.
    pub fn is_finished(&self, now: Instant) -> bool {
        match self.state {
            State::Failed(_) => !self.reset_pending,
            State::Closed => self.timers.linger_over(now),
            _ => self.released && self.fin_acked && self.timers.linger_over(now),
        }
    }

    /// Decodes and handles one datagram addressed to this connection.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        match Header::decode(datagram) {
            Ok((header, payload)) => self.handle_packet(now, &header, payload),
            Err(_) => self.stats.invalid += 1,
        }
    }

    fn note_peer(&mut self, now: Instant, header: &Header) {
        self.reply_micro = self.micros(now).wrapping_sub(header.timestamp);
        self.peer_wnd = usize::try_from(header.wnd_size).unwrap_or(usize::MAX);
        self.timers.received(now);
        self.cc.delay_sample(now, header.timestamp_diff);
    }

    fn micros(&self, now: Instant) -> u32 {
        // wrapping on purpose: uTP timestamps are 32-bit microsecond clocks
        now.saturating_duration_since(self.epoch).as_micros() as u32
    }

    /// Handles an already decoded packet addressed to this connection.
    pub fn handle_packet(&mut self, now: Instant, header: &Header, payload: &[u8]) {
        if matches!(self.state, State::Failed(_)) {
            return;
        }
        if header.kind == PacketType::Reset {
            self.stats.packets_received += 1;
            let error = if self.state == State::SynSent {
                Error::ConnectionRefused
            } else {
                Error::ConnectionReset
            };
            self.state = State::Failed(error);
            return;
        }
        if header.kind == PacketType::Syn {
            // our ST_STATE got lost: answer again
            if self.state == State::SynReceived && header.seq_nr == self.recv.ack_nr() {
                self.note_peer(now, header);
                self.ack_pending = true;
            } else {
                self.stats.invalid += 1;
            }
            return;
        }
        if self.state == State::SynSent {
            if header.ack_nr != self.send.next_seq().wrapping_sub(1) {
                self.stats.invalid += 1;
                return;
            }
            // ST_STATE carries the peer's next sequence number without consuming it
            self.recv.reset_ack_nr(header.seq_nr.wrapping_sub(1));
            self.state = State::Connected;
        }
        let outcome = match self.send.on_ack(now, header.ack_nr, header.sack.as_ref()) {
            Ok(outcome) => outcome,
            Err(_) => {
                self.stats.invalid += 1;
                return;
            }
        };
        self.stats.packets_received += 1;
        if self.state == State::SynReceived {
            self.state = State::Connected;
        }
        self.note_peer(now, header);
        self.on_ack_outcome(now, header, outcome);
        if matches!(header.kind, PacketType::Data | PacketType::Fin) {
            self.on_data(header, payload);
        }
        if self.fin_acked && self.recv.fin_received() && self.state == State::Connected {
            self.state = State::Closed;
            self.timers.start_linger(now, self.config.linger);
        }
    }

    fn on_ack_outcome(&mut self, now: Instant, header: &Header, outcome: send::AckOutcome) {
        if let Some(rtt) = outcome.rtt {
            self.rtt.sample(rtt);
        }
        if outcome.fin_acked && self.fin_sent {
            self.fin_acked = true;
            self.timers.start_linger(now, self.config.linger);
        }
        let mut loss = outcome.loss;
        if outcome.acked_packets > 0 || outcome.acked_bytes > 0 {
            self.dup_acks = 0;
            self.timers
                .progress(now, self.send.has_in_flight(), self.rtt.rto());
            self.cc.on_ack(outcome.acked_bytes, self.window_limited);
            if let Some(until) = self.loss_recovery_until
                && !crate::packet::seq_less(header.ack_nr, until)
            {
                self.loss_recovery_until = None;
            }
        } else if header.kind == PacketType::State
            && header.ack_nr == self.last_ack
            && header.wnd_size > 0
            && self.send.outstanding() > 0
        {
            self.dup_acks += 1;
            if self.dup_acks == 3 && self.send.fast_resend_front() {
                loss = true;
            }
        }
        self.last_ack = header.ack_nr;
        if loss {
            self.stats.fast_retransmits += 1;
            if self.loss_recovery_until.is_none() {
                self.cc.on_loss();
                self.loss_recovery_until = Some(self.send.next_seq().wrapping_sub(1));
            }
        }
    }

    fn on_data(&mut self, header: &Header, payload: &[u8]) {
        let fin = header.kind == PacketType::Fin;
        match self.recv.insert(header.seq_nr, payload, fin) {
            Arrival::Delivered | Arrival::Buffered => {}
            Arrival::Duplicate => self.stats.duplicates += 1,
            Arrival::Dropped => self.stats.dropped_no_room += 1,
        }
        self.ack_pending = true;
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Failed(_) => return None,
            // the linger only matters to an owner that released the connection (then the
            // endpoint removes it); an unreleased closed connection has no deadline, or a
            // driver would wake for the past linger deadline again and again
            State::Closed => return self.timers.linger_until().filter(|_| self.released),
            _ => {}
        }
        let half_open = self.state == State::SynReceived;
        let mut next = self.timers.next(
            &self.config,
            self.send.has_in_flight(),
            half_open,
            self.is_established(),
        );
        if self.peer_wnd == 0 && self.send.unsent_len() > 0 && self.send.outstanding() == 0 {
            next = timers::earliest(next, self.timers.probe_at(self.rtt.rto()));
        }
        if self.released && self.fin_acked {
            next = timers::earliest(next, self.timers.linger_until());
        }
        next
    }

    /// Runs expired timers: retransmission timeout with back-off, idle and half-open timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Failed(_) | State::Closed) {
            return;
        }
        let idle_limit = if self.state == State::SynReceived {
            self.config.half_open_timeout
        } else {
            self.config.idle_timeout
        };
        if self.timers.idle_for(now) >= idle_limit {
            self.state = State::Failed(Error::TimedOut);
            return;
        }
        if !self.timers.rto_expired(now) || !self.send.has_in_flight() {
            return;
        }
        self.stats.timeouts += 1;
        let limit = if self.state == State::SynSent {
            self.config.syn_retries
        } else {
            self.config.max_retransmissions
        };
        if self.timers.count_timeout() > limit {
            self.state = State::Failed(Error::TimedOut);
            return;
        }
        self.rtt.back_off();
        self.cc.on_timeout();
        self.send.mark_all_lost();
        self.loss_recovery_until = None;
        self.dup_acks = 0;
        self.timers.disarm_rto();
    }
}
