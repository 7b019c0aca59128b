//! The sending half of [`Connection`]: which datagram goes out next and how it is encoded.

use std::time::Instant;

use super::{Connection, State};
use crate::packet::{Header, PacketType};

impl Connection {
    fn header(&self, now: Instant, kind: PacketType, seq_nr: u16) -> Header {
        let syn = kind == PacketType::Syn;
        Header {
            kind,
            conn_id: if syn { self.recv_id } else { self.send_id },
            timestamp: self.micros(now),
            timestamp_diff: self.reply_micro,
            wnd_size: u32::try_from(self.recv.window()).unwrap_or(u32::MAX),
            seq_nr,
            ack_nr: if syn { 0 } else { self.recv.ack_nr() },
            sack: if syn { None } else { self.recv.sack() },
        }
    }

    fn encode(&mut self, now: Instant, header: &Header, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(header.encoded_len() + payload.len());
        header.encode(&mut out);
        out.extend_from_slice(payload);
        self.after_send(now, header);
        out
    }

    fn after_send(&mut self, now: Instant, header: &Header) {
        self.stats.packets_sent += 1;
        if header.kind != PacketType::Reset {
            self.ack_pending = false;
            self.advertised_wnd = usize::try_from(header.wnd_size).unwrap_or(usize::MAX);
            self.timers.sent(now);
        }
    }

    /// The next datagram to send, if any. Runs expired timers first.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.handle_timeout(now);
        if let State::Failed(_) = self.state {
            if !self.reset_pending {
                return None;
            }
            self.reset_pending = false;
            let header = self.header(now, PacketType::Reset, self.send.next_seq());
            return Some(self.encode(now, &header, &[]));
        }
        if let Some(datagram) = self.poll_sequenced(now) {
            return Some(datagram);
        }
        let keepalive = self
            .timers
            .keepalive_due(now, self.config.keepalive_interval);
        if (self.ack_pending || keepalive) && self.state != State::SynSent {
            let header = self.header(now, PacketType::State, self.send.next_seq());
            return Some(self.encode(now, &header, &[]));
        }
        None
    }

    /// A packet that consumes a sequence number: a resend, new data, a FIN or a probe.
    fn poll_sequenced(&mut self, now: Instant) -> Option<Vec<u8>> {
        let window = self.cc.window().min(self.peer_wnd);
        let outstanding = self.send.outstanding();
        if let Some((idx, p)) = self.send.next_resend() {
            let fits = outstanding + p.payload.len() <= window;
            if idx == 0 || fits || p.transmissions == 0 {
                let resend = p.transmissions > 0 && p.kind != PacketType::Syn;
                return self.transmit(now, idx, resend);
            }
            self.window_limited = true;
            return None;
        }
        if !self.is_established() {
            return None;
        }
        let unsent = self.send.unsent_len();
        if unsent > 0 {
            let size = unsent.min(self.config.max_payload);
            if self.peer_wnd == 0 {
                if outstanding == 0 && self.timers.probe_due(now, self.rtt.rto()) {
                    let idx = self.send.packetize(PacketType::Data, 1);
                    return self.transmit(now, idx, false);
                }
                return None;
            }
            if outstanding + size > window && outstanding > 0 {
                self.window_limited = true;
                return None;
            }
            // Nagle: a short packet waits while anything is in flight
            if size < self.config.max_payload && outstanding > 0 {
                return None;
            }
            self.window_limited = outstanding + size >= self.cc.window();
            let size = size.min(self.peer_wnd.max(1));
            let idx = self.send.packetize(PacketType::Data, size);
            return self.transmit(now, idx, false);
        }
        if self.shutdown && !self.fin_sent && self.state == State::Connected {
            self.fin_sent = true;
            let idx = self.send.packetize(PacketType::Fin, 0);
            return self.transmit(now, idx, false);
        }
        None
    }

    fn transmit(&mut self, now: Instant, idx: usize, resend: bool) -> Option<Vec<u8>> {
        let rto = self.rtt.rto();
        let (kind, seq) = {
            let p = self.send.mark_sent(idx, now)?;
            (p.kind, p.seq)
        };
        if resend {
            self.stats.retransmits += 1;
        }
        self.timers.arm_rto(now, rto);
        let header = self.header(now, kind, seq);
        let payload = self.send.payload(idx);
        let mut out = Vec::with_capacity(header.encoded_len() + payload.len());
        header.encode(&mut out);
        out.extend_from_slice(payload);
        self.after_send(now, &header);
        Some(out)
    }
}
