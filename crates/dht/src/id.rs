//! 160-bit node ids and info-hashes, the XOR metric, and BEP 42 ids derived from an address.

use std::fmt;
use std::net::IpAddr;

/// A 160-bit DHT id: a node id, an info-hash or a lookup target.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// The id from exactly 20 bytes, or `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(bytes).ok().map(NodeId)
    }

    /// A uniformly random id.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        let mut id = [0u8; 20];
        rng.fill(&mut id);
        NodeId(id)
    }

    /// The XOR distance to `other`, itself an id (compare distances with `Ord`).
    pub fn distance(&self, other: &NodeId) -> NodeId {
        NodeId(std::array::from_fn(|i| self.0[i] ^ other.0[i]))
    }

    /// Number of leading bits `self` and `other` share (160 when equal).
    pub fn common_prefix_len(&self, other: &NodeId) -> usize {
        match self.0.iter().zip(&other.0).position(|(a, b)| a != b) {
            Some(i) => i * 8 + (self.0[i] ^ other.0[i]).leading_zeros() as usize,
            None => 160,
        }
    }

    /// Bit `i` (0 = most significant).
    pub fn bit(&self, i: usize) -> bool {
        self.0
            .get(i / 8)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// A random id sharing the first `prefix` bits with `self`, bit `prefix` flipped
    /// (an id inside the routing-table bucket at depth `prefix`, for refreshes).
    pub fn random_in_bucket(&self, prefix: usize, rng: &mut fastrand::Rng) -> NodeId {
        let mut out = NodeId::random(rng);
        for i in 0..prefix.min(160) {
            set_bit(&mut out, i, self.bit(i));
        }
        if prefix < 160 {
            set_bit(&mut out, prefix, !self.bit(prefix));
        }
        out
    }
}

fn set_bit(id: &mut NodeId, i: usize, v: bool) {
    if let Some(b) = id.0.get_mut(i / 8) {
        let mask = 0x80 >> (i % 8);
        if v {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// True for addresses BEP 42 exempts from id checks (loopback, private, link-local, unique local).
pub fn bep42_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            v6.is_loopback() || (seg0 & 0xfe00) == 0xfc00 || (seg0 & 0xffc0) == 0xfe80
        }
    }
}

/// The BEP 42 prefix hash of `ip` with the 3-bit salt `r`.
fn bep42_crc(ip: IpAddr, r: u8) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = (u32::from(v4) & 0x030f_3fff).to_be_bytes();
            b[0] |= (r & 7) << 5;
            crc32c(&b)
        }
        IpAddr::V6(v6) => {
            const MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
            let o = v6.octets();
            let mut b = [0u8; 8];
            for i in 0..8 {
                b[i] = o[i] & MASK[i];
            }
            b[0] |= (r & 7) << 5;
            crc32c(&b)
        }
    }
}

/// A BEP 42 node id for the public address `ip`: its first 21 bits come from the address, the
/// last byte is the salt `rand` (only its low 3 bits enter the hash), the rest is random.
pub fn bep42_id(ip: IpAddr, rand: u8, rng: &mut fastrand::Rng) -> NodeId {
    let crc = bep42_crc(ip, rand & 7);
    let mut id = NodeId::random(rng);
    id.0[0] = (crc >> 24) as u8;
    id.0[1] = (crc >> 16) as u8;
    id.0[2] = ((crc >> 8) as u8 & 0xf8) | (id.0[2] & 7);
    id.0[19] = rand;
    id
}

/// Whether `id` is a valid BEP 42 id for `ip` (always true for exempt addresses).
pub fn bep42_valid(id: &NodeId, ip: IpAddr) -> bool {
    if bep42_exempt(ip) {
        return true;
    }
    let crc = bep42_crc(ip, id.0[19] & 7);
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && (id.0[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
}

/// CRC-32C (Castagnoli), bitwise: it hashes 4 or 8 bytes a few times per minute.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82f6_3b78 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn bep42_test_vectors() {
        // (ip, rand, first three bytes of the id (masked) as in BEP 42's table)
        let vectors: [(&str, u8, [u8; 3]); 5] = [
            ("124.31.75.21", 1, [0x5f, 0xbf, 0xb8]),
            ("21.75.31.124", 86, [0x5a, 0x3c, 0xe8]),
            ("65.23.51.170", 22, [0xa5, 0xd4, 0x30]),
            ("84.124.73.14", 65, [0x1b, 0x03, 0x20]),
            ("43.213.53.83", 90, [0xe5, 0x6f, 0x68]),
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for (ip, r, prefix) in vectors {
            let ip: IpAddr = ip.parse().unwrap();
            let id = bep42_id(ip, r, &mut rng);
            assert_eq!([id.0[0], id.0[1], id.0[2] & 0xf8], prefix, "{ip}");
            assert_eq!(id.0[19], r);
            assert!(bep42_valid(&id, ip));
            let mut bad = id;
            bad.0[0] ^= 1;
            assert!(!bep42_valid(&bad, ip));
        }
    }

    #[test]
    fn loopback_and_private_are_exempt() {
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fd00::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(bep42_exempt(ip));
            assert!(bep42_valid(&NodeId([0; 20]), ip));
        }
        assert!(!bep42_exempt("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn prefix_and_bucket_ids() {
        let mut rng = fastrand::Rng::with_seed(1);
        let a = NodeId::random(&mut rng);
        assert_eq!(a.common_prefix_len(&a), 160);
        for depth in [0, 1, 7, 8, 33, 159] {
            let b = a.random_in_bucket(depth, &mut rng);
            assert_eq!(a.common_prefix_len(&b), depth);
        }
    }
}
