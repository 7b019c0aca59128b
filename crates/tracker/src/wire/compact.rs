//! Compact peer lists: 6 bytes per IPv4 peer (BEP 23), 18 per IPv6 peer (BEP 7), address then
//! port, big-endian.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::Error;

/// Bytes of one compact IPv4 peer.
pub const V4_LEN: usize = 6;
/// Bytes of one compact IPv6 peer.
pub const V6_LEN: usize = 18;

/// Appends `addr` in compact form (6 bytes for IPv4, 18 for IPv6).
pub fn push(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Appends compact IPv4 peers; entries with port 0 are skipped.
pub fn parse_v4(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), Error> {
    if !bytes.len().is_multiple_of(V4_LEN) {
        return Err(Error::Malformed(format!(
            "compact peers length {} is not a multiple of 6",
            bytes.len()
        )));
    }
    out.extend(bytes.chunks_exact(V4_LEN).filter_map(|c| {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        let port = u16::from_be_bytes([c[4], c[5]]);
        (port != 0).then(|| SocketAddr::V4(SocketAddrV4::new(ip, port)))
    }));
    Ok(())
}

/// Appends compact IPv6 peers; entries with port 0 are skipped.
pub fn parse_v6(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), Error> {
    if !bytes.len().is_multiple_of(V6_LEN) {
        return Err(Error::Malformed(format!(
            "compact peers6 length {} is not a multiple of 18",
            bytes.len()
        )));
    }
    out.extend(bytes.chunks_exact(V6_LEN).filter_map(|c| {
        let mut ip = [0u8; 16];
        ip.copy_from_slice(&c[..16]);
        let port = u16::from_be_bytes([c[16], c[17]]);
        (port != 0).then(|| SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0)))
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_then_parse_round_trips() {
        let v4: SocketAddr = "127.0.0.1:6881".parse().expect("v4");
        let v6: SocketAddr = "[::1]:6882".parse().expect("v6");
        let (mut b4, mut b6) = (Vec::new(), Vec::new());
        push(&v4, &mut b4);
        push(&v6, &mut b6);
        assert_eq!((b4.len(), b6.len()), (V4_LEN, V6_LEN));
        let mut out = Vec::new();
        parse_v4(&b4, &mut out).expect("v4 parses");
        parse_v6(&b6, &mut out).expect("v6 parses");
        assert_eq!(out, vec![v4, v6]);
        assert!(parse_v4(&b6[..7], &mut out).is_err());
        assert!(parse_v6(&b4, &mut out).is_err());
    }
}
