//! The BEP 29 packet header, its extension chain and selective acks.

use crate::error::PacketError;

/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 20;
/// The only protocol version BEP 29 defines.
pub const VERSION: u8 = 1;
/// Extension type of a selective ack.
const EXT_SACK: u8 = 1;
/// Longest selective-ack bitmask we send or keep (bits for 256 packets past `ack_nr + 1`).
pub const MAX_SACK_BYTES: usize = 32;

/// The five packet types of BEP 29.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Regular data packet (consumes a sequence number).
    Data = 0,
    /// Finalize: the last sequence number of the stream (consumes one).
    Fin = 1,
    /// State: an ack, no payload, does not consume a sequence number.
    State = 2,
    /// Terminate the connection forcefully.
    Reset = 3,
    /// Connect: starts a connection (consumes a sequence number).
    Syn = 4,
}

impl PacketType {
    fn from_nibble(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Data,
            1 => Self::Fin,
            2 => Self::State,
            3 => Self::Reset,
            4 => Self::Syn,
            _ => return None,
        })
    }
}

/// A selective ack: bit `k` set means packet `ack_nr + 2 + k` arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectiveAck {
    bytes: Vec<u8>,
}

impl SelectiveAck {
    /// A bitmask from a list of "received" flags for `ack_nr + 2`, `ack_nr + 3`, ...; trailing
    /// flags past [`MAX_SACK_BYTES`] are dropped, the length is rounded up to 4 bytes.
    pub fn from_flags(flags: impl IntoIterator<Item = bool>) -> Self {
        let mut bytes = Vec::new();
        for (k, set) in flags.into_iter().take(MAX_SACK_BYTES * 8).enumerate() {
            if k / 8 >= bytes.len() {
                bytes.push(0);
            }
            if set {
                bytes[k / 8] |= 1 << (k % 8);
            }
        }
        while bytes.len() % 4 != 0 || bytes.is_empty() {
            bytes.push(0);
        }
        Self { bytes }
    }

    /// Whether packet `ack_nr + 2 + k` is acked.
    pub fn is_set(&self, k: usize) -> bool {
        self.bytes
            .get(k / 8)
            .is_some_and(|b| b & (1 << (k % 8)) != 0)
    }

    /// Number of packets the mask covers.
    pub fn len_bits(&self) -> usize {
        self.bytes.len() * 8
    }

    /// The raw bitmask.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A decoded packet header plus the extensions we understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Packet type.
    pub kind: PacketType,
    /// Connection id (the receiver's `conn_id_recv`, or for a SYN the sender's).
    pub conn_id: u16,
    /// Sender's clock in microseconds (wrapping).
    pub timestamp: u32,
    /// Sender's measured one-way delay of the last packet it got from us (wrapping).
    pub timestamp_diff: u32,
    /// Sender's free receive window in bytes.
    pub wnd_size: u32,
    /// Sequence number of this packet.
    pub seq_nr: u16,
    /// Last in-order sequence number the sender received.
    pub ack_nr: u16,
    /// Selective ack extension, if present.
    pub sack: Option<SelectiveAck>,
}

impl Header {
    /// Encoded length of this header including extensions.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.sack.as_ref().map_or(0, |s| 2 + s.bytes.len())
    }

    /// Appends the encoded header (and extensions) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(((self.kind as u8) << 4) | VERSION);
        out.push(if self.sack.is_some() { EXT_SACK } else { 0 });
        out.extend_from_slice(&self.conn_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.timestamp_diff.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.to_be_bytes());
        if let Some(sack) = &self.sack {
            out.push(0);
            // from_flags keeps the mask at most MAX_SACK_BYTES long, so it fits a u8
            out.push(u8::try_from(sack.bytes.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&sack.bytes);
        }
    }

    /// Decodes a datagram into its header and payload. Unknown extensions are skipped, a
    /// malformed chain is an error.
    pub fn decode(buf: &[u8]) -> Result<(Header, &[u8]), PacketError> {
        if buf.len() < HEADER_LEN {
            return Err(PacketError::TooShort(buf.len()));
        }
        let version = buf[0] & 0x0f;
        if version != VERSION {
            return Err(PacketError::BadVersion(version));
        }
        let kind = PacketType::from_nibble(buf[0] >> 4).ok_or(PacketError::BadType(buf[0] >> 4))?;
        let be16 = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let mut header = Header {
            kind,
            conn_id: be16(2),
            timestamp: be32(4),
            timestamp_diff: be32(8),
            wnd_size: be32(12),
            seq_nr: be16(16),
            ack_nr: be16(18),
            sack: None,
        };
        let mut ext = buf[1];
        let mut pos = HEADER_LEN;
        while ext != 0 {
            let (next, len) = match buf.get(pos..pos + 2) {
                Some(&[next, len]) => (next, usize::from(len)),
                _ => return Err(PacketError::TruncatedExtension),
            };
            let data = buf
                .get(pos + 2..pos + 2 + len)
                .ok_or(PacketError::TruncatedExtension)?;
            if ext == EXT_SACK {
                // BEP 29 says a multiple of 4, but libtorrent sends (span + 7) / 8 bytes
                if len == 0 {
                    return Err(PacketError::BadSack(len));
                }
                let keep = len.min(MAX_SACK_BYTES);
                header.sack = Some(SelectiveAck {
                    bytes: data[..keep].to_vec(),
                });
            }
            ext = next;
            pos += 2 + len;
        }
        Ok((header, &buf[pos..]))
    }
}

/// Cheap test whether a datagram looks like uTP, for a socket shared with the DHT (bencoded,
/// starts with `d`) and UDP tracker replies (start with a 32-bit action 0..=3, so a 0 byte).
pub fn is_utp_packet(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf[0] & 0x0f == VERSION
        && buf[0] >> 4 <= PacketType::Syn as u8
        && buf[1] < 3
}

/// Whether sequence number `a` comes before `b` in wrapping 16-bit order.
pub fn seq_less(a: u16, b: u16) -> bool {
    (b.wrapping_sub(a) as i16) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sack: Option<SelectiveAck>) -> Header {
        Header {
            kind: PacketType::Data,
            conn_id: 0xbeef,
            timestamp: 0x0102_0304,
            timestamp_diff: 7,
            wnd_size: 1 << 20,
            seq_nr: 65535,
            ack_nr: 3,
            sack,
        }
    }

    #[test]
    fn round_trip_with_and_without_sack() {
        for sack in [
            None,
            Some(SelectiveAck::from_flags([false, true, true, false, true])),
        ] {
            let h = sample(sack);
            let mut buf = Vec::new();
            h.encode(&mut buf);
            assert_eq!(buf.len(), h.encoded_len());
            buf.extend_from_slice(b"payload");
            let (back, payload) = Header::decode(&buf).expect("decodes");
            assert_eq!(back, h);
            assert_eq!(payload, b"payload");
            assert!(is_utp_packet(&buf));
        }
    }

    #[test]
    fn sack_bit_order_is_lsb_first() {
        let s = SelectiveAck::from_flags([
            true, false, false, false, false, false, false, false, false, true,
        ]);
        assert_eq!(s.as_bytes(), &[0b0000_0001, 0b0000_0010, 0, 0]);
        assert!(s.is_set(0) && s.is_set(9) && !s.is_set(1) && !s.is_set(200));
    }

    #[test]
    fn malformed_input_is_rejected() {
        let mut buf = Vec::new();
        sample(None).encode(&mut buf);
        assert!(matches!(
            Header::decode(&buf[..19]),
            Err(PacketError::TooShort(19))
        ));
        let mut bad = buf.clone();
        bad[0] = 0x02;
        assert!(matches!(
            Header::decode(&bad),
            Err(PacketError::BadVersion(2))
        ));
        bad[0] = 0x71;
        assert!(matches!(Header::decode(&bad), Err(PacketError::BadType(7))));
        let mut ext = buf.clone();
        ext[1] = 1;
        assert!(matches!(
            Header::decode(&ext),
            Err(PacketError::TruncatedExtension)
        ));
        let mut empty_sack = ext.clone();
        empty_sack.extend_from_slice(&[0, 0]);
        assert!(matches!(
            Header::decode(&empty_sack),
            Err(PacketError::BadSack(0))
        ));
        // libtorrent's odd-length sack (3 bytes: 24 packets) is accepted
        ext.extend_from_slice(&[0, 3, 1, 2, 0x80]);
        let (h, _) = Header::decode(&ext).expect("odd sack length");
        let sack = h.sack.expect("sack");
        assert!(sack.is_set(0) && sack.is_set(9) && sack.is_set(23) && !sack.is_set(24));
        // an unknown extension is skipped
        let mut unknown = buf.clone();
        unknown[1] = 9;
        unknown.extend_from_slice(&[0, 2, 0xaa, 0xbb, b'x']);
        let (_, payload) = Header::decode(&unknown).expect("unknown ext skipped");
        assert_eq!(payload, b"x");
    }

    #[test]
    fn demultiplexes_dht_and_tracker_replies() {
        assert!(!is_utp_packet(
            b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe"
        ));
        let mut tracker = vec![0u8, 0, 0, 1];
        tracker.extend_from_slice(&[0; 16]);
        assert!(!is_utp_packet(&tracker));
        assert!(!is_utp_packet(&[0x41; 10]));
    }

    #[test]
    fn wrapping_sequence_order() {
        assert!(seq_less(65535, 0));
        assert!(seq_less(1, 2));
        assert!(!seq_less(2, 1));
        assert!(!seq_less(5, 5));
    }
}
