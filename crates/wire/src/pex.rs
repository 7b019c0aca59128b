//! BEP 11 peer exchange (`ut_pex`): the peers a client is connected to, as compact address
//! lists of what was added and dropped since its last message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bencode::Encoder;
use bytes::Bytes;

use crate::Error;

/// The extension name in the BEP 10 handshake.
pub const PEX_EXTENSION: &str = "ut_pex";

/// At most this many addresses are taken from one message (BEP 11 suggests 50 per message;
/// a hostile peer cannot flood us with more).
pub const MAX_PEX_PEERS: usize = 200;

/// The `added.f` flag of a peer that supports uTP (BEP 11).
pub const PEX_FLAG_UTP: u8 = 0x04;

/// A `ut_pex` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers the sender connected to since its last message.
    pub added: Vec<SocketAddr>,
    /// Peers the sender disconnected from.
    pub dropped: Vec<SocketAddr>,
    /// Of `added`, those flagged as supporting uTP (`added.f` bit 0x04).
    pub utp: Vec<SocketAddr>,
}

impl PexMessage {
    /// The bencoded payload (`added`, `added.f`, `added6`, `added6.f`, `dropped`, `dropped6`).
    pub fn encode(&self) -> Bytes {
        let (a4, a6) = compact(&self.added);
        let (d4, d6) = compact(&self.dropped);
        let flag = |a: &SocketAddr| {
            if self.utp.contains(a) {
                PEX_FLAG_UTP
            } else {
                0
            }
        };
        let f4: Vec<u8> = self
            .added
            .iter()
            .filter(|a| a.is_ipv4())
            .map(flag)
            .collect();
        let f6: Vec<u8> = self
            .added
            .iter()
            .filter(|a| a.is_ipv6())
            .map(flag)
            .collect();
        let mut e = Encoder::new();
        e.dict(|d| {
            d.entry(b"added", |v| v.bytes(&a4));
            d.entry(b"added.f", |v| v.bytes(&f4));
            d.entry(b"added6", |v| v.bytes(&a6));
            d.entry(b"added6.f", |v| v.bytes(&f6));
            d.entry(b"dropped", |v| v.bytes(&d4));
            d.entry(b"dropped6", |v| v.bytes(&d6));
        });
        Bytes::from(e.finish())
    }

    /// Parses a payload; malformed address lists are ignored rather than fatal, a payload that
    /// is not a bencoded dictionary is an error.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let v = bencode::decode_lenient(payload).map_err(Error::Bencode)?;
        let Some(d) = v.as_dict() else {
            return Err(Error::Malformed {
                id: 20,
                reason: "ut_pex payload is not a dictionary",
            });
        };
        let list = |key: &[u8], width: usize| -> Vec<SocketAddr> {
            d.get(key)
                .and_then(|x| x.as_bytes())
                .filter(|b| b.len() % width == 0)
                .map(|b| {
                    b.chunks_exact(width)
                        .take(MAX_PEX_PEERS)
                        .filter_map(parse_addr)
                        .collect()
                })
                .unwrap_or_default()
        };
        // The flags of each list, byte i for address i (missing or short lists: no flags).
        let flagged = |key: &[u8], flags_key: &[u8], width: usize| -> Vec<SocketAddr> {
            let (Some(addrs), Some(flags)) = (
                d.get(key).and_then(|x| x.as_bytes()),
                d.get(flags_key).and_then(|x| x.as_bytes()),
            ) else {
                return Vec::new();
            };
            if addrs.len() % width != 0 {
                return Vec::new();
            }
            addrs
                .chunks_exact(width)
                .zip(flags.iter())
                .take(MAX_PEX_PEERS)
                .filter(|(_, f)| *f & PEX_FLAG_UTP != 0)
                .filter_map(|(c, _)| parse_addr(c))
                .collect()
        };
        let mut added = list(b"added", 6);
        added.extend(list(b"added6", 18));
        added.truncate(MAX_PEX_PEERS);
        let mut utp = flagged(b"added", b"added.f", 6);
        utp.extend(flagged(b"added6", b"added6.f", 18));
        utp.retain(|a| added.contains(a));
        let mut dropped = list(b"dropped", 6);
        dropped.extend(list(b"dropped6", 18));
        dropped.truncate(MAX_PEX_PEERS);
        Ok(Self {
            added,
            dropped,
            utp,
        })
    }
}

fn compact(addrs: &[SocketAddr]) -> (Vec<u8>, Vec<u8>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for a in addrs {
        match a.ip() {
            IpAddr::V4(ip) => {
                v4.extend_from_slice(&ip.octets());
                v4.extend_from_slice(&a.port().to_be_bytes());
            }
            IpAddr::V6(ip) => {
                v6.extend_from_slice(&ip.octets());
                v6.extend_from_slice(&a.port().to_be_bytes());
            }
        }
    }
    (v4, v6)
}

fn parse_addr(c: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = match c.len() {
        6 => {
            let o: [u8; 4] = c.get(..4)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(o)),
                u16::from_be_bytes([c[4], c[5]]),
            )
        }
        18 => {
            let o: [u8; 16] = c.get(..16)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(o)),
                u16::from_be_bytes([c[16], c[17]]),
            )
        }
        _ => return None,
    };
    (port != 0).then_some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_v4_and_v6() {
        let m = PexMessage {
            added: vec![
                "127.0.0.1:6881".parse().unwrap(),
                "[::1]:51413".parse().unwrap(),
            ],
            dropped: vec!["127.0.0.2:7000".parse().unwrap()],
            utp: vec!["[::1]:51413".parse().unwrap()],
        };
        let enc = m.encode();
        assert!(bencode::decode(&enc).is_ok(), "canonical bencode");
        assert_eq!(PexMessage::decode(&enc).unwrap(), m);
    }

    #[test]
    fn libtorrent_style_payload_and_garbage() {
        // added: 127.0.0.1:6881, a truncated added6, a port-0 entry in dropped.
        let payload = b"d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x00\x007:added.f2:\x00\x006:added65:xxxxx7:dropped6:\x7f\x00\x00\x03\x00\x00e";
        let m = PexMessage::decode(payload).unwrap();
        assert_eq!(m.added, vec!["127.0.0.1:6881".parse().unwrap()]);
        assert!(m.dropped.is_empty());
        // Flags as libtorrent sends them: the second peer supports uTP (0x04) and is a seed.
        let flagged =
            b"d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe27:added.f2:\x10\x06e";
        let m = PexMessage::decode(flagged).unwrap();
        assert_eq!(m.added.len(), 2);
        assert_eq!(m.utp, vec!["127.0.0.2:6882".parse().unwrap()]);
        assert!(PexMessage::decode(b"le").is_err());
        assert!(PexMessage::decode(b"garbage").is_err());
    }

    #[test]
    fn a_flood_is_capped() {
        let added: Vec<SocketAddr> = (0..1000u16)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], 1000 + p)))
            .collect();
        let m = PexMessage {
            added,
            ..PexMessage::default()
        };
        assert_eq!(
            PexMessage::decode(&m.encode()).unwrap().added.len(),
            MAX_PEX_PEERS
        );
    }
}
