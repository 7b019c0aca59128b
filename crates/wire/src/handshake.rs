//! The 68-byte handshake: `19 "BitTorrent protocol" reserved[8] info_hash[20] peer_id[20]`.
//!
//! A dialer writes its handshake and reads the peer's with [`read_handshake`]. A listener does
//! not know which torrent a connection is for until it has seen the info-hash, so it reads the
//! first 48 bytes with [`read_handshake_head`], routes by info-hash, sends its own handshake and
//! then reads the remaining 20 bytes with [`read_peer_id`].

use metainfo::{InfoHash, PeerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Error;

/// Length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 68;

/// Length of the part before the peer id: protocol string, reserved bytes and info-hash.
pub const HANDSHAKE_HEAD_LEN: usize = 48;

/// `pstrlen` followed by `pstr`: the first 20 bytes of every handshake.
const PROTOCOL: &[u8; 20] = b"\x13BitTorrent protocol";

/// Reserved byte and bit of the BEP 10 extension protocol.
const EXTENDED_BIT: (usize, u8) = (5, 0x10);

/// Reserved byte and bit of BitTorrent v2 (BEP 52).
const V2_BIT: (usize, u8) = (7, 0x10);

/// Reserved byte and bit of the BEP 6 fast extension.
const FAST_BIT: (usize, u8) = (7, 0x04);

/// Reserved byte and bit of the BEP 5 DHT (the sender answers KRPC on its `port` message).
const DHT_BIT: (usize, u8) = (7, 0x01);

/// A BitTorrent handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Reserved bytes (extension bits).
    pub reserved: [u8; 8],
    /// The torrent.
    pub info_hash: InfoHash,
    /// The sender.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Our handshake: advertises the BEP 6 fast extension and the BEP 10 extension protocol.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        let mut reserved = [0u8; 8];
        reserved[EXTENDED_BIT.0] |= EXTENDED_BIT.1;
        reserved[FAST_BIT.0] |= FAST_BIT.1;
        Self {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// Also advertises BitTorrent v2 (BEP 52), for a v2 or hybrid torrent.
    pub fn with_v2(mut self) -> Self {
        self.reserved[V2_BIT.0] |= V2_BIT.1;
        self
    }

    /// Whether the sender supports BitTorrent v2 (BEP 52).
    pub fn supports_v2(&self) -> bool {
        supports_v2(&self.reserved)
    }

    /// The 68 wire bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Parses 68 wire bytes; [`Error::BadProtocol`] unless they start with
    /// `19 "BitTorrent protocol"`.
    pub fn decode(buf: &[u8; HANDSHAKE_LEN]) -> Result<Self, Error> {
        let (head, peer_id) = buf.split_at(HANDSHAKE_HEAD_LEN);
        let (reserved, info_hash) = decode_head(head)?;
        let peer_id = PeerId(peer_id.try_into().map_err(|_| Error::BadProtocol)?);
        Ok(Self {
            reserved,
            info_hash,
            peer_id,
        })
    }

    /// Whether the sender supports the BEP 6 fast extension.
    pub fn supports_fast(&self) -> bool {
        supports_fast(&self.reserved)
    }

    /// Whether the sender supports the BEP 10 extension protocol.
    pub fn supports_extended(&self) -> bool {
        supports_extended(&self.reserved)
    }

    /// The same handshake advertising (or not) a BEP 5 DHT node.
    pub fn with_dht(mut self, dht: bool) -> Self {
        if dht {
            self.reserved[DHT_BIT.0] |= DHT_BIT.1;
        } else {
            self.reserved[DHT_BIT.0] &= !DHT_BIT.1;
        }
        self
    }
}

/// Whether `reserved` (from a handshake) advertises a BEP 5 DHT node.
pub fn supports_dht(reserved: &[u8; 8]) -> bool {
    reserved[DHT_BIT.0] & DHT_BIT.1 != 0
}

/// Whether `reserved` (from a handshake) advertises the BEP 6 fast extension.
pub fn supports_fast(reserved: &[u8; 8]) -> bool {
    reserved[FAST_BIT.0] & FAST_BIT.1 != 0
}

/// Whether `reserved` (from a handshake) advertises BitTorrent v2 (BEP 52).
pub fn supports_v2(reserved: &[u8; 8]) -> bool {
    reserved[V2_BIT.0] & V2_BIT.1 != 0
}

/// Whether `reserved` (from a handshake) advertises the BEP 10 extension protocol.
pub fn supports_extended(reserved: &[u8; 8]) -> bool {
    reserved[EXTENDED_BIT.0] & EXTENDED_BIT.1 != 0
}

/// Checks the protocol string of a 48-byte head and splits out reserved bytes and info-hash.
fn decode_head(head: &[u8]) -> Result<([u8; 8], InfoHash), Error> {
    let bad = |_| Error::BadProtocol;
    let (protocol, rest) = head
        .split_at_checked(PROTOCOL.len())
        .ok_or(Error::BadProtocol)?;
    if protocol != PROTOCOL {
        return Err(Error::BadProtocol);
    }
    let (reserved, info_hash) = rest.split_at_checked(8).ok_or(Error::BadProtocol)?;
    Ok((
        reserved.try_into().map_err(bad)?,
        InfoHash(info_hash.try_into().map_err(bad)?),
    ))
}

/// Reads a whole 68-byte handshake.
///
/// Fails with [`Error::Io`] (`UnexpectedEof`) when the stream ends early and with
/// [`Error::BadProtocol`] when it is not a BitTorrent handshake.
pub async fn read_handshake<R: AsyncRead + Unpin>(r: &mut R) -> Result<Handshake, Error> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    r.read_exact(&mut buf).await?;
    Handshake::decode(&buf)
}

/// Reads the first 48 bytes of a handshake (protocol, reserved bytes, info-hash), so that a
/// listener can pick the torrent before answering. Follow with [`read_peer_id`].
///
/// The protocol string is checked as soon as its 20 bytes have arrived.
pub async fn read_handshake_head<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<([u8; 8], InfoHash), Error> {
    let mut buf = [0u8; HANDSHAKE_HEAD_LEN];
    let (protocol, rest) = buf.split_at_mut(PROTOCOL.len());
    r.read_exact(protocol).await?;
    if protocol != PROTOCOL {
        return Err(Error::BadProtocol);
    }
    r.read_exact(rest).await?;
    decode_head(&buf)
}

/// Reads the last 20 bytes of a handshake: the sender's peer id.
pub async fn read_peer_id<R: AsyncRead + Unpin>(r: &mut R) -> Result<PeerId, Error> {
    let mut id = [0u8; 20];
    r.read_exact(&mut id).await?;
    Ok(PeerId(id))
}

/// Writes (and flushes) a handshake.
pub async fn write_handshake<W: AsyncWrite + Unpin>(w: &mut W, h: &Handshake) -> Result<(), Error> {
    w.write_all(&h.encode()).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(InfoHash([0xab; 20]), PeerId(*b"-BM0100-123456789012"))
    }

    #[test]
    fn encode_layout_and_bits() {
        let h = sample();
        let b = h.encode();
        assert_eq!(b[0], 19);
        assert_eq!(&b[1..20], b"BitTorrent protocol");
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert_eq!(&b[28..48], &[0xab; 20]);
        assert_eq!(&b[48..], b"-BM0100-123456789012");
        assert!(h.supports_fast());
        assert!(h.supports_extended());
        assert_eq!(Handshake::decode(&b).unwrap(), h);
    }

    #[test]
    fn plain_peer_supports_nothing() {
        let mut h = sample();
        h.reserved = [0; 8];
        let d = Handshake::decode(&h.encode()).unwrap();
        assert!(!d.supports_fast());
        assert!(!d.supports_extended());
        h.reserved = [0xff, 0xff, 0xff, 0xff, 0xff, !0x10, 0xff, !0x04];
        assert!(!h.supports_fast() && !h.supports_extended());
    }

    #[test]
    fn bad_protocol_rejected() {
        let good = sample().encode();
        let mut b = good;
        b[0] = 18;
        assert!(matches!(Handshake::decode(&b), Err(Error::BadProtocol)));
        let mut b = good;
        b[5] = b'X';
        assert!(matches!(Handshake::decode(&b), Err(Error::BadProtocol)));
        let mut b = [0u8; HANDSHAKE_LEN];
        b[..18].copy_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(Handshake::decode(&b), Err(Error::BadProtocol)));
    }

    #[tokio::test]
    async fn read_and_write_over_duplex() {
        let (mut a, mut b) = tokio::io::duplex(16);
        let h = sample();
        let writer = tokio::spawn(async move {
            write_handshake(&mut a, &h).await.unwrap();
            a
        });
        assert_eq!(read_handshake(&mut b).await.unwrap(), h);
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn listener_reads_head_then_peer_id() {
        let (mut a, mut b) = tokio::io::duplex(256);
        let h = sample();
        let mut bytes = h.encode().to_vec();
        bytes.extend_from_slice(b"\x00\x00\x00\x01\x02"); // a following message stays unread
        a.write_all(&bytes).await.unwrap();
        let (reserved, info_hash) = read_handshake_head(&mut b).await.unwrap();
        assert_eq!(reserved, h.reserved);
        assert_eq!(info_hash, h.info_hash);
        assert_eq!(read_peer_id(&mut b).await.unwrap(), h.peer_id);
        let mut next = [0u8; 5];
        b.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"\x00\x00\x00\x01\x02");
    }

    #[tokio::test]
    async fn head_rejects_bad_protocol_after_20_bytes() {
        let (mut a, mut b) = tokio::io::duplex(256);
        // Only 20 bytes ever arrive: the check must not wait for the other 28.
        a.write_all(b"\x13BitTorrent protocoX").await.unwrap();
        assert!(matches!(
            read_handshake_head(&mut b).await,
            Err(Error::BadProtocol)
        ));
    }

    #[tokio::test]
    async fn truncated_handshake_is_io_error() {
        let (mut a, mut b) = tokio::io::duplex(256);
        a.write_all(&sample().encode()[..40]).await.unwrap();
        drop(a);
        match read_handshake(&mut b).await {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("expected eof, got {other:?}"),
        }
    }
}
