//! Receive side of a connection: in-order bytes for the reader, a bounded reordering buffer,
//! and the selective ack that describes it.

use std::collections::VecDeque;

use crate::packet::SelectiveAck;

/// An out-of-order packet kept until the gap before it fills.
#[derive(Debug)]
struct Segment {
    payload: Vec<u8>,
    fin: bool,
}

/// What became of an incoming data or FIN packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// In order: delivered (possibly with buffered packets after it).
    Delivered,
    /// Ahead of a gap: kept in the reordering buffer.
    Buffered,
    /// Already had it (or it is before the stream start).
    Duplicate,
    /// No room (buffer full, too far ahead, or past the FIN): dropped, the sender retries.
    Dropped,
}

/// Bounded receive buffer. `reorder[i]` holds sequence number `ack_nr + 2 + i`.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    readable: VecDeque<u8>,
    reorder: VecDeque<Option<Segment>>,
    reorder_bytes: usize,
    ack_nr: u16,
    fin_seq: Option<u16>,
    eof: bool,
    capacity: usize,
    max_reorder: usize,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize, max_reorder: usize, ack_nr: u16) -> Self {
        Self {
            readable: VecDeque::new(),
            reorder: VecDeque::new(),
            reorder_bytes: 0,
            ack_nr,
            fin_seq: None,
            eof: false,
            capacity,
            max_reorder,
        }
    }

    /// Last in-order sequence number received.
    pub(crate) fn ack_nr(&self) -> u16 {
        self.ack_nr
    }

    /// Sets the sequence base once the peer's first sequence number is known.
    pub(crate) fn reset_ack_nr(&mut self, ack_nr: u16) {
        self.ack_nr = ack_nr;
    }

    /// Free space, advertised as our `wnd_size`.
    pub(crate) fn window(&self) -> usize {
        self.capacity
            .saturating_sub(self.readable.len() + self.reorder_bytes)
    }

    /// Whether the peer's FIN arrived in order (reads end once `readable` drains).
    pub(crate) fn fin_received(&self) -> bool {
        self.eof
    }

    /// In-order bytes waiting for the reader.
    pub(crate) fn readable_len(&self) -> usize {
        self.readable.len()
    }

    /// Bytes held in total (for memory accounting).
    pub(crate) fn buffered(&self) -> usize {
        self.readable.len() + self.reorder_bytes
    }

    /// Takes a data (`fin == false`) or FIN packet with sequence number `seq`.
    pub(crate) fn insert(&mut self, seq: u16, payload: &[u8], fin: bool) -> Arrival {
        if self.eof {
            return Arrival::Duplicate;
        }
        let dist = seq.wrapping_sub(self.ack_nr.wrapping_add(1)) as i16;
        if dist < 0 {
            return Arrival::Duplicate;
        }
        if let Some(fin_seq) = self.fin_seq {
            let past_fin = fin_seq.wrapping_sub(seq) as i16;
            if past_fin < 0 || (past_fin == 0 && !fin) {
                return Arrival::Dropped;
            }
        }
        if payload.len() > self.window() {
            return Arrival::Dropped;
        }
        if dist == 0 {
            self.deliver(payload, fin);
            while let Some(slot) = self.reorder.pop_front() {
                let Some(seg) = slot else { break };
                self.reorder_bytes -= seg.payload.len();
                self.deliver(&seg.payload, seg.fin);
            }
            return Arrival::Delivered;
        }
        let idx = usize::from(dist.unsigned_abs()) - 1;
        if idx >= self.max_reorder {
            return Arrival::Dropped;
        }
        if self.reorder.len() <= idx {
            self.reorder.resize_with(idx + 1, || None);
        }
        if self.reorder[idx].is_some() {
            return Arrival::Duplicate;
        }
        if fin {
            self.fin_seq = Some(seq);
            // anything buffered past the FIN is bogus
            for slot in self.reorder.drain(idx + 1..) {
                self.reorder_bytes -= slot.map_or(0, |s| s.payload.len());
            }
        }
        self.reorder_bytes += payload.len();
        self.reorder[idx] = Some(Segment {
            payload: payload.to_vec(),
            fin,
        });
        Arrival::Buffered
    }

    fn deliver(&mut self, payload: &[u8], fin: bool) {
        self.ack_nr = self.ack_nr.wrapping_add(1);
        self.readable.extend(payload);
        if fin {
            self.eof = true;
            self.fin_seq = Some(self.ack_nr);
            self.reorder.clear();
            self.reorder_bytes = 0;
        }
    }

    /// Copies in-order bytes into `buf`, returns how many.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable.len());
        let (a, b) = self.readable.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.readable.drain(..n);
        n
    }

    /// The selective ack describing buffered out-of-order packets, if any.
    pub(crate) fn sack(&self) -> Option<SelectiveAck> {
        if self.reorder.is_empty() {
            return None;
        }
        Some(SelectiveAck::from_flags(
            self.reorder.iter().map(Option::is_some),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_and_sacks() {
        let mut rx = RecvBuffer::new(100, 16, 9);
        assert_eq!(rx.insert(12, b"c", false), Arrival::Buffered);
        assert_eq!(rx.insert(11, b"b", false), Arrival::Buffered);
        let sack = rx.sack().expect("gap");
        assert!(sack.is_set(0) && sack.is_set(1) && !sack.is_set(2));
        assert_eq!(rx.insert(11, b"b", false), Arrival::Duplicate);
        assert_eq!(rx.insert(10, b"a", false), Arrival::Delivered);
        assert_eq!(rx.ack_nr(), 12);
        assert!(rx.sack().is_none());
        let mut buf = [0; 8];
        assert_eq!(rx.read(&mut buf), 3);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(rx.insert(5, b"old", false), Arrival::Duplicate);
    }

    #[test]
    fn bounded_by_bytes_and_slots() {
        let mut rx = RecvBuffer::new(10, 4, 0);
        assert_eq!(rx.insert(1, &[0; 8], false), Arrival::Delivered);
        assert_eq!(rx.insert(2, &[0; 3], false), Arrival::Dropped);
        assert_eq!(rx.window(), 2);
        assert_eq!(
            rx.insert(7, &[0; 1], false),
            Arrival::Dropped,
            "past the reorder slots"
        );
        assert_eq!(
            rx.insert(60000, &[0; 1], false),
            Arrival::Duplicate,
            "far behind"
        );
    }

    #[test]
    fn fin_ends_the_stream_even_across_wrap() {
        let mut rx = RecvBuffer::new(100, 16, 65534);
        assert_eq!(rx.insert(1, b"", true), Arrival::Buffered);
        assert_eq!(
            rx.insert(2, b"zz", false),
            Arrival::Dropped,
            "after the FIN"
        );
        assert_eq!(rx.insert(65535, b"x", false), Arrival::Delivered);
        assert!(!rx.fin_received());
        assert_eq!(rx.insert(0, b"y", false), Arrival::Delivered);
        assert!(rx.fin_received());
        assert_eq!(rx.ack_nr(), 1);
        assert_eq!(rx.insert(2, b"z", false), Arrival::Duplicate);
    }
}
