//! Send side of a connection: bytes written but not yet packetized, packets in flight, and
//! what acks, selective acks and timeouts do to them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::packet::{PacketType, SelectiveAck};

/// A packet that consumed a sequence number and waits for its ack.
#[derive(Debug)]
pub(crate) struct SentPacket {
    pub(crate) seq: u16,
    pub(crate) kind: PacketType,
    pub(crate) payload: Vec<u8>,
    pub(crate) sent_at: Option<Instant>,
    pub(crate) transmissions: u32,
    sacked: bool,
    /// Lost (timeout or fast retransmit): to be sent again.
    pub(crate) need_resend: bool,
    /// Counted in `outstanding` (sent, not sacked, not marked lost).
    counted: bool,
    fast_resent: bool,
}

/// The result of processing an ack.
#[derive(Debug, Default)]
pub(crate) struct AckOutcome {
    /// Payload bytes newly acked (cumulatively or selectively).
    pub(crate) acked_bytes: usize,
    /// Number of packets the cumulative ack removed.
    pub(crate) acked_packets: usize,
    /// RTT of a newly acked packet sent only once.
    pub(crate) rtt: Option<Duration>,
    /// Selective acks show a hole with three packets acked after it: marked for resend.
    pub(crate) loss: bool,
    /// The FIN (or SYN) was acked.
    pub(crate) fin_acked: bool,
}

/// The ack number is outside what we sent: ignore the packet.
#[derive(Debug)]
pub(crate) struct InvalidAck;

/// Send buffer bounded by `capacity` bytes (unsent plus in flight).
#[derive(Debug)]
pub(crate) struct SendBuffer {
    unsent: VecDeque<u8>,
    in_flight: VecDeque<SentPacket>,
    in_flight_payload: usize,
    outstanding: usize,
    resends: usize,
    next_seq: u16,
    capacity: usize,
}

impl SendBuffer {
    pub(crate) fn new(capacity: usize, next_seq: u16) -> Self {
        Self {
            unsent: VecDeque::new(),
            in_flight: VecDeque::new(),
            in_flight_payload: 0,
            outstanding: 0,
            resends: 0,
            next_seq,
            capacity,
        }
    }

    /// Sequence number the next new packet gets (and that ST_STATE carries).
    pub(crate) fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Room for more `write`s.
    pub(crate) fn free(&self) -> usize {
        self.capacity
            .saturating_sub(self.unsent.len() + self.in_flight_payload)
    }

    /// Bytes written, not yet packetized.
    pub(crate) fn unsent_len(&self) -> usize {
        self.unsent.len()
    }

    /// Payload bytes sent, not acked, not sacked and not known lost.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Whether any packet waits for an ack.
    pub(crate) fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Bytes held in total (for memory accounting).
    pub(crate) fn buffered(&self) -> usize {
        self.unsent.len() + self.in_flight_payload
    }

    /// Appends up to `free()` bytes, returns how many.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.unsent.extend(&data[..n]);
        n
    }

    /// Turns up to `max` unsent bytes (or a FIN/SYN with no payload) into a new packet and
    /// returns its index in flight.
    pub(crate) fn packetize(&mut self, kind: PacketType, max: usize) -> usize {
        let n = if kind == PacketType::Data {
            max.min(self.unsent.len())
        } else {
            0
        };
        let mut payload = Vec::with_capacity(n);
        let (a, b) = self.unsent.as_slices();
        let from_a = n.min(a.len());
        payload.extend_from_slice(&a[..from_a]);
        payload.extend_from_slice(&b[..n - from_a]);
        self.unsent.drain(..n);
        self.in_flight_payload += payload.len();
        self.in_flight.push_back(SentPacket {
            seq: self.next_seq,
            kind,
            payload,
            sent_at: None,
            transmissions: 0,
            sacked: false,
            need_resend: true,
            counted: false,
            fast_resent: false,
        });
        self.resends += 1;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.in_flight.len() - 1
    }

    /// First packet waiting to be (re)sent, with its index.
    pub(crate) fn next_resend(&self) -> Option<(usize, &SentPacket)> {
        if self.resends == 0 {
            return None;
        }
        self.in_flight
            .iter()
            .enumerate()
            .find(|(_, p)| p.need_resend)
    }

    /// The payload of packet `idx` in flight.
    pub(crate) fn payload(&self, idx: usize) -> &[u8] {
        self.in_flight.get(idx).map_or(&[], |p| &p.payload)
    }

    /// Records that packet `idx` went out now and returns it.
    pub(crate) fn mark_sent(&mut self, idx: usize, now: Instant) -> Option<&SentPacket> {
        let p = self.in_flight.get_mut(idx)?;
        if p.need_resend {
            p.need_resend = false;
            self.resends -= 1;
        }
        if !p.counted {
            p.counted = true;
            self.outstanding += p.payload.len();
        }
        p.sent_at = Some(now);
        p.transmissions += 1;
        Some(p)
    }

    fn mark_lost(&mut self, idx: usize) {
        let Some(p) = self.in_flight.get_mut(idx) else {
            return;
        };
        if p.counted {
            p.counted = false;
            self.outstanding -= p.payload.len();
        }
        if !p.need_resend && !p.sacked {
            p.need_resend = true;
            self.resends += 1;
        }
    }

    /// Marks every unacked packet for resend (after a retransmission timeout).
    pub(crate) fn mark_all_lost(&mut self) {
        // a sacked packet the cumulative ack never passes means the receiver dropped it
        // after all (reneged): the oldest packet always goes again
        if let Some(front) = self.in_flight.front_mut()
            && front.sacked
            && front.transmissions > 0
        {
            front.sacked = false;
        }
        for idx in 0..self.in_flight.len() {
            if self.in_flight[idx].transmissions > 0 {
                self.mark_lost(idx);
            }
        }
    }

    /// Fast retransmit of the oldest packet (three duplicate acks). False if already done.
    pub(crate) fn fast_resend_front(&mut self) -> bool {
        match self.in_flight.front_mut() {
            Some(p) if !p.fast_resent && !p.sacked && p.transmissions > 0 => {
                p.fast_resent = true;
                self.mark_lost(0);
                true
            }
            _ => false,
        }
    }

    /// Processes a cumulative ack `ack_nr` and an optional selective ack.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        ack_nr: u16,
        sack: Option<&SelectiveAck>,
    ) -> Result<AckOutcome, InvalidAck> {
        let first = self.next_seq.wrapping_sub(self.in_flight.len() as u16);
        let n = usize::from(ack_nr.wrapping_add(1).wrapping_sub(first));
        if n > self.in_flight.len() || self.in_flight.iter().take(n).any(|p| p.transmissions == 0) {
            return Err(InvalidAck);
        }
        let mut out = AckOutcome::default();
        for p in self.in_flight.drain(..n) {
            self.in_flight_payload -= p.payload.len();
            if p.counted {
                self.outstanding -= p.payload.len();
            }
            if p.need_resend {
                self.resends -= 1;
            }
            if !p.sacked {
                out.acked_bytes += p.payload.len();
            }
            if p.transmissions == 1 {
                out.rtt = p.sent_at.map(|t| now.saturating_duration_since(t));
            }
            out.fin_acked |= matches!(p.kind, PacketType::Fin | PacketType::Syn);
        }
        out.acked_packets = n;
        if let Some(sack) = sack {
            self.apply_sack(now, sack, &mut out);
        }
        Ok(out)
    }

    fn apply_sack(&mut self, now: Instant, sack: &SelectiveAck, out: &mut AckOutcome) {
        // bit k is packet ack_nr + 2 + k, which is in_flight[k + 1] after the cumulative ack
        let bits = sack.len_bits().min(self.in_flight.len().saturating_sub(1));
        let mut highest_sacked = None;
        for k in 0..bits {
            if !sack.is_set(k) {
                continue;
            }
            highest_sacked = Some(k + 1);
            let p = &mut self.in_flight[k + 1];
            if p.sacked || p.transmissions == 0 {
                continue;
            }
            p.sacked = true;
            out.acked_bytes += p.payload.len();
            if p.transmissions == 1 {
                out.rtt = p.sent_at.map(|t| now.saturating_duration_since(t));
            }
            if p.counted {
                p.counted = false;
                self.outstanding -= p.payload.len();
            }
            if p.need_resend {
                p.need_resend = false;
                self.resends -= 1;
            }
        }
        // a packet with three or more sacked packets after it is lost
        let Some(highest) = highest_sacked else {
            return;
        };
        let mut sacked_after = 0;
        for idx in (0..=highest).rev() {
            let p = &self.in_flight[idx];
            if p.sacked {
                sacked_after += 1;
            } else if sacked_after >= 3 && !p.fast_resent && p.transmissions > 0 && !p.need_resend {
                self.in_flight[idx].fast_resent = true;
                self.mark_lost(idx);
                out.loss = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_all(tx: &mut SendBuffer, now: Instant, packets: usize) {
        for _ in 0..packets {
            let idx = tx.packetize(PacketType::Data, 10);
            tx.mark_sent(idx, now);
        }
    }

    #[test]
    fn cumulative_and_selective_acks() {
        let now = Instant::now();
        let mut tx = SendBuffer::new(1000, 100);
        assert_eq!(tx.write(&[7; 60]), 60);
        send_all(&mut tx, now, 6);
        assert_eq!(tx.outstanding(), 60);
        assert!(
            tx.on_ack(now, 200, None).is_err(),
            "ack for data never sent"
        );
        let out = tx.on_ack(now, 100, None).expect("valid");
        assert_eq!((out.acked_packets, out.acked_bytes), (1, 10));
        // 101 missing; 102, 103, 104 sacked: 101 is lost
        let sack = SelectiveAck::from_flags([true, true, true]);
        let out = tx.on_ack(now, 100, Some(&sack)).expect("valid");
        assert!(out.loss);
        assert_eq!(out.acked_bytes, 30);
        let (idx, p) = tx.next_resend().expect("101 resend");
        assert_eq!((idx, p.seq), (0, 101));
        assert_eq!(tx.outstanding(), 10, "only 105 still counts");
        tx.mark_sent(idx, now);
        let out = tx.on_ack(now, 105, None).expect("valid");
        assert_eq!(out.acked_bytes, 20, "sacked bytes are not counted twice");
        assert!(!tx.has_in_flight());
        assert_eq!(tx.free(), 1000);
    }

    #[test]
    fn timeout_marks_everything_lost_and_bounds_hold() {
        let now = Instant::now();
        let mut tx = SendBuffer::new(25, 0);
        assert_eq!(tx.write(&[1; 40]), 25);
        send_all(&mut tx, now, 3);
        tx.mark_all_lost();
        assert_eq!(tx.outstanding(), 0);
        assert_eq!(tx.next_resend().map(|(i, _)| i), Some(0));
        assert!(
            tx.on_ack(now, 65535, None).is_ok(),
            "ack of nothing new is valid"
        );
        assert!(tx.on_ack(now, 65000, None).is_err());
    }
}
