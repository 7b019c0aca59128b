//! Magnet URIs (BEP 9, BEP 53 `x.pe`, v2 `btmh`): `magnet:?xt=urn:btih:HASH&dn=NAME&tr=URL…`.
//!
//! Accepted: `xt=urn:btih:` with 40 hex or 32 base32 digits, `xt=urn:btmh:1220` + 64 hex (a
//! SHA-256 multihash, BitTorrent v2), `dn`, `tr` (several), `ws` (several), `x.pe` (peer
//! addresses, IPv6 in brackets). Keys may carry a `.N` index (`tr.1=`). Other keys are
//! ignored. Every value is percent-decoded; `+` is a space only in `dn`.

use std::fmt;
use std::net::SocketAddr;

use crate::InfoHash;

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Magnet {
    /// The v1 info-hash (`urn:btih:`).
    pub info_hash: Option<InfoHash>,
    /// The v2 info-hash (`urn:btmh:1220…`, SHA-256).
    pub info_hash_v2: Option<[u8; 32]>,
    /// Display name (`dn`).
    pub name: Option<String>,
    /// Trackers (`tr`), in order.
    pub trackers: Vec<String>,
    /// Web seeds (`ws`), in order.
    pub web_seeds: Vec<String>,
    /// Peers to contact (`x.pe`).
    pub peers: Vec<SocketAddr>,
}

/// Why a string is not a usable magnet URI. Each message is one line for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MagnetError {
    /// Does not start with `magnet:?`.
    #[error("not a magnet URI: it must start with `magnet:?`")]
    NotMagnet,
    /// A `key=value` pair without `=`.
    #[error("malformed magnet parameter `{0}`: expected key=value")]
    MalformedParam(String),
    /// Bad `%XX` escape, or a value that is not UTF-8 once decoded.
    #[error("bad percent-encoding in magnet parameter `{0}`")]
    BadEncoding(String),
    /// An `xt` that is not `urn:btih:` or `urn:btmh:`.
    #[error("unsupported magnet `xt` value `{0}` (expected urn:btih: or urn:btmh:)")]
    UnsupportedXt(String),
    /// A btih that is neither 40 hex nor 32 base32 characters.
    #[error("magnet info-hash `{0}` is neither 40 hex nor 32 base32 characters")]
    BadInfoHash(String),
    /// A btmh that is not a SHA-256 multihash (`1220` + 64 hex).
    #[error("magnet v2 hash `{0}` is not a SHA-256 multihash (1220 followed by 64 hex digits)")]
    BadMultihash(String),
    /// Two different hashes of the same kind.
    #[error("magnet URI names two different info-hashes")]
    ConflictingHashes,
    /// No `xt` at all.
    #[error("magnet URI has no info-hash (xt=urn:btih:… or xt=urn:btmh:…)")]
    MissingHash,
    /// An `x.pe` that is not `IP:PORT` / `[IPv6]:PORT`.
    #[error("magnet peer address `{0}` is not IP:PORT or [IPv6]:PORT")]
    BadPeer(String),
}

impl Magnet {
    /// Parses a magnet URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query = uri
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
            .and_then(|_| uri.get(8..))
            .ok_or(MagnetError::NotMagnet)?;
        let mut m = Magnet::default();
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = param
                .split_once('=')
                .ok_or_else(|| MagnetError::MalformedParam(param.to_string()))?;
            let key = strip_index(key);
            let value = |plus_is_space| {
                percent_decode(raw, plus_is_space)
                    .ok_or_else(|| MagnetError::BadEncoding(key.to_string()))
            };
            match key {
                "xt" => m.add_xt(&value(false)?)?,
                "dn" => m.name = Some(value(true)?),
                "tr" => m.trackers.push(value(false)?),
                "ws" => m.web_seeds.push(value(false)?),
                "x.pe" => {
                    let v = value(false)?;
                    let peer = v.parse().map_err(|_| MagnetError::BadPeer(v.clone()))?;
                    m.peers.push(peer);
                }
                _ => {}
            }
        }
        if m.info_hash.is_none() && m.info_hash_v2.is_none() {
            return Err(MagnetError::MissingHash);
        }
        Ok(m)
    }

    fn add_xt(&mut self, xt: &str) -> Result<(), MagnetError> {
        let lower = xt.to_ascii_lowercase();
        if let Some(h) = lower.strip_prefix("urn:btih:") {
            let hash = parse_btih(h).ok_or_else(|| {
                MagnetError::BadInfoHash(xt.get(9..).unwrap_or_default().to_string())
            })?;
            if self.info_hash.is_some_and(|old| old != hash) {
                return Err(MagnetError::ConflictingHashes);
            }
            self.info_hash = Some(hash);
        } else if let Some(h) = lower.strip_prefix("urn:btmh:") {
            let hash = h.strip_prefix("1220").and_then(hex32).ok_or_else(|| {
                MagnetError::BadMultihash(xt.get(9..).unwrap_or_default().to_string())
            })?;
            if self.info_hash_v2.is_some_and(|old| old != hash) {
                return Err(MagnetError::ConflictingHashes);
            }
            self.info_hash_v2 = Some(hash);
        } else {
            return Err(MagnetError::UnsupportedXt(xt.to_string()));
        }
        Ok(())
    }

    /// The 20-byte hash the torrent's swarm is found under (trackers, DHT, handshakes): the v1
    /// info-hash, else the v2 one truncated (BEP 52). Every parsed magnet has one.
    pub fn swarm_hash(&self) -> Option<InfoHash> {
        self.info_hash
            .or_else(|| self.info_hash_v2.map(|h| crate::InfoHashV2(h).truncated()))
    }

    /// The URI again: parsing it gives back an equal `Magnet`.
    pub fn to_uri(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(h) = &self.info_hash {
            parts.push(format!("xt=urn:btih:{}", h.to_hex()));
        }
        if let Some(h) = &self.info_hash_v2 {
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            parts.push(format!("xt=urn:btmh:1220{hex}"));
        }
        if let Some(n) = &self.name {
            parts.push(format!("dn={}", percent_encode(n)));
        }
        parts.extend(
            self.trackers
                .iter()
                .map(|t| format!("tr={}", percent_encode(t))),
        );
        parts.extend(
            self.web_seeds
                .iter()
                .map(|w| format!("ws={}", percent_encode(w))),
        );
        parts.extend(
            self.peers
                .iter()
                .map(|p| format!("x.pe={}", percent_encode(&p.to_string()))),
        );
        format!("magnet:?{}", parts.join("&"))
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

impl std::str::FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Magnet::parse(s)
    }
}

/// `tr.1` → `tr`; `x.pe` stays.
fn strip_index(key: &str) -> &str {
    match key.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => key,
    }
}

fn parse_btih(s: &str) -> Option<InfoHash> {
    match s.len() {
        40 => InfoHash::from_hex(s),
        32 => base32_20(s).map(InfoHash),
        _ => None,
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
    }
    Some(out)
}

/// RFC 4648 base32 (case-insensitive, no padding), 32 characters → 20 bytes.
fn base32_20(s: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut n = 0;
    for c in s.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
        }
    }
    (n == 20).then_some(out)
}

fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = hex_val(*b.get(i + 1)?)?;
                let lo = hex_val(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c9e15763f722f23e98a29decdfae341b98d53056";

    #[test]
    fn full_magnet() {
        let uri = format!(
            "magnet:?xt=urn:btih:{HEX}&dn=Arch+Linux%20ISO&tr=udp%3A%2F%2Ft.example%3A6969%2Fannounce\
             &tr.1=http://t2.example/a?x=1%26y&ws=https%3A%2F%2Fmirror.example%2Fiso%2F\
             &x.pe=10.0.0.1:6881&x.pe=%5B2001:db8::1%5D:51413&xl=123&so=0-3"
        );
        let m = Magnet::parse(&uri).unwrap();
        assert_eq!(m.info_hash.unwrap().to_hex(), HEX);
        assert_eq!(m.name.as_deref(), Some("Arch Linux ISO"));
        assert_eq!(
            m.trackers,
            ["udp://t.example:6969/announce", "http://t2.example/a?x=1&y"]
        );
        assert_eq!(m.web_seeds, ["https://mirror.example/iso/"]);
        assert_eq!(
            m.peers,
            [
                "10.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:51413".parse().unwrap()
            ]
        );
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn base32_hex_and_v2() {
        // Base32 of the same 20 bytes as HEX.
        let bytes = InfoHash::from_hex(HEX).unwrap().0;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut b32 = String::new();
        for chunk in bytes.chunks(5) {
            let mut v: u64 = 0;
            for b in chunk {
                v = v << 8 | u64::from(*b);
            }
            for i in (0..8).rev() {
                b32.push(char::from(alphabet[((v >> (i * 5)) & 31) as usize]));
            }
        }
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", b32.to_lowercase())).unwrap();
        assert_eq!(m.info_hash.unwrap().0, bytes);

        let v2 = "1220".to_string() + &"ab".repeat(32);
        let m = Magnet::parse(&format!("MAGNET:?xt=urn:btmh:{v2}&xt=urn:btih:{HEX}")).unwrap();
        assert_eq!(m.info_hash_v2, Some([0xab; 32]));
        assert!(m.info_hash.is_some());
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        let only_v2 = Magnet::parse(&format!("magnet:?xt=urn:btmh:{v2}")).unwrap();
        assert_eq!(only_v2.info_hash, None);
        assert_eq!(only_v2.swarm_hash().unwrap().0, [0xab; 20]);
        assert_eq!(m.swarm_hash(), m.info_hash);
    }

    #[test]
    fn malformed_uris_have_one_clear_error_each() {
        let cases: [(&str, MagnetError); 10] = [
            ("http://x", MagnetError::NotMagnet),
            ("magnet:?dn=x", MagnetError::MissingHash),
            ("magnet:?xt", MagnetError::MalformedParam("xt".into())),
            (
                "magnet:?xt=urn:btih:abc",
                MagnetError::BadInfoHash("abc".into()),
            ),
            (
                "magnet:?xt=urn:btih:zz1cc1cc1cc1cc1cc1cc1cc1cc1cc1cc1cc1cc1c",
                MagnetError::BadInfoHash("zz1cc1cc1cc1cc1cc1cc1cc1cc1cc1cc1cc1cc1c".into()),
            ),
            (
                "magnet:?xt=urn:sha1:abc",
                MagnetError::UnsupportedXt("urn:sha1:abc".into()),
            ),
            (
                "magnet:?xt=urn:btmh:1114ab",
                MagnetError::BadMultihash("1114ab".into()),
            ),
            ("magnet:?dn=%zz", MagnetError::BadEncoding("dn".into())),
            ("magnet:?dn=%ff", MagnetError::BadEncoding("dn".into())),
            ("magnet:?x.pe=host", MagnetError::BadPeer("host".into())),
        ];
        for (uri, want) in cases {
            let got = Magnet::parse(uri).unwrap_err();
            assert_eq!(got, want, "{uri}");
            assert!(!got.to_string().contains('\n'));
        }
        let other = "0".repeat(40);
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{other}")),
            Err(MagnetError::ConflictingHashes)
        );
    }

    #[test]
    fn arbitrary_names_round_trip() {
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..200 {
            let name: String = (0..rng.usize(0..20)).map(|_| rng.char(..)).collect();
            let m = Magnet {
                info_hash: Some(InfoHash([rng.u8(..); 20])),
                name: Some(name),
                trackers: vec!["udp://a:1/?b=c&d=+e".into()],
                ..Magnet::default()
            };
            assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        }
    }
}
