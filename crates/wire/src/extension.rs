//! The BEP 10 extension handshake: extended message 0, a bencoded dictionary that maps
//! extension names to the ids the sender wants to receive them under, plus a few optional
//! facts about the sender.
//!
//! Decoding is lenient about what other clients send: unknown keys are ignored and an optional
//! field of the wrong type or out of range reads as absent. Only input that is not bencode, or
//! not a dictionary, is an error.

use bencode::{Encoder, Value};
use bytes::Bytes;

use crate::{Error, Message};

/// Extended message id of the extension handshake itself.
pub const EXTENSION_HANDSHAKE_ID: u8 = 0;

/// Message id of `Extended` messages (for [`Error::Malformed`]).
const EXTENDED_MESSAGE_ID: u8 = 20;

/// The contents of a BEP 10 extension handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// `m`: extension name → the extended message id the sender wants it under (0 = disabled).
    /// Encoded sorted by name; of duplicate names the first one wins.
    pub m: Vec<(String, u8)>,
    /// `p`: the sender's listen port, so that an inbound peer can be dialled back later.
    pub listen_port: Option<u16>,
    /// `v`: client name and version, for logs and status only (never trusted).
    pub client: Option<String>,
    /// `reqq`: how many outstanding requests the sender queues before dropping them.
    pub reqq: Option<u32>,
    /// `metadata_size`: size of the info dictionary (BEP 9), needed for magnet links.
    pub metadata_size: Option<u32>,
    /// `yourip`: the address the sender sees us at (4 or 16 bytes), a hint for our external IP.
    pub yourip: Option<Vec<u8>>,
}

impl ExtensionHandshake {
    /// The bencoded dictionary (keys in canonical order).
    pub fn encode(&self) -> Bytes {
        let mut m: Vec<(&str, u8)> = self.m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        m.sort_by(|a, b| a.0.cmp(b.0)); // stable: the first of equal names stays first
        m.dedup_by(|later, first| later.0 == first.0);
        let mut e = Encoder::new();
        e.dict(|d| {
            d.entry(b"m", |v| {
                v.dict(|md| {
                    for (name, id) in &m {
                        md.entry(name.as_bytes(), |v| v.int(i64::from(*id)));
                    }
                });
            });
            if let Some(n) = self.metadata_size {
                d.entry(b"metadata_size", |v| v.int(i64::from(n)));
            }
            if let Some(p) = self.listen_port {
                d.entry(b"p", |v| v.int(i64::from(p)));
            }
            if let Some(n) = self.reqq {
                d.entry(b"reqq", |v| v.int(i64::from(n)));
            }
            if let Some(c) = &self.client {
                d.entry(b"v", |v| v.bytes(c.as_bytes()));
            }
            if let Some(ip) = &self.yourip {
                d.entry(b"yourip", |v| v.bytes(ip));
            }
        });
        Bytes::from(e.finish())
    }

    /// Parses the payload of extended message 0.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let root = bencode::decode_lenient(payload).map_err(Error::Bencode)?;
        if root.as_dict().is_none() {
            return Err(Error::Malformed {
                id: EXTENDED_MESSAGE_ID,
                reason: "extension handshake is not a dictionary",
            });
        }
        let m = root
            .get(b"m")
            .and_then(Value::as_dict)
            .map(|d| {
                d.iter()
                    .filter_map(|(name, id)| {
                        let name = std::str::from_utf8(name).ok()?;
                        Some((name.to_owned(), int::<u8>(id)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            m,
            listen_port: root.get(b"p").and_then(int::<u16>).filter(|&p| p != 0),
            client: root
                .get(b"v")
                .and_then(Value::as_bytes)
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            reqq: root.get(b"reqq").and_then(int::<u32>),
            metadata_size: root.get(b"metadata_size").and_then(int::<u32>),
            yourip: root
                .get(b"yourip")
                .and_then(Value::as_bytes)
                .filter(|ip| ip.len() == 4 || ip.len() == 16)
                .map(<[u8]>::to_vec),
        })
    }

    /// The id the sender wants extension `name` under, `None` when absent or disabled (0).
    pub fn id_of(&self, name: &str) -> Option<u8> {
        self.m
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, id)| id)
            .filter(|&id| id != 0)
    }

    /// This handshake as a message ready for the codec.
    pub fn to_message(&self) -> Message {
        Message::Extended {
            id: EXTENSION_HANDSHAKE_ID,
            payload: self.encode(),
        }
    }
}

/// An integer value that fits `T`.
fn int<T: TryFrom<i64>>(v: &Value<'_>) -> Option<T> {
    v.as_int().and_then(|i| T::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> ExtensionHandshake {
        ExtensionHandshake {
            m: vec![("ut_pex".into(), 2), ("ut_metadata".into(), 1)],
            listen_port: Some(6881),
            client: Some("btmirror 0.1.0".into()),
            reqq: Some(500),
            metadata_size: Some(31235),
            yourip: Some(vec![127, 0, 0, 1]),
        }
    }

    #[test]
    fn encode_is_canonical_bencode() {
        let enc = ours().encode();
        assert_eq!(
            &enc[..],
            &b"d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e\
               4:reqqi500e1:v14:btmirror 0.1.06:yourip4:\x7f\x00\x00\x01e"[..]
        );
        assert!(
            bencode::decode(&enc).is_ok(),
            "strict decoder accepts our encoding"
        );
    }

    #[test]
    fn round_trip() {
        let h = ours();
        let d = ExtensionHandshake::decode(&h.encode()).unwrap();
        // `m` comes back sorted by name.
        assert_eq!(
            d.m,
            vec![("ut_metadata".to_string(), 1), ("ut_pex".to_string(), 2)]
        );
        assert_eq!(
            ExtensionHandshake {
                m: h.m.clone(),
                ..d.clone()
            },
            h
        );
        assert_eq!(d.id_of("ut_pex"), Some(2));
        assert_eq!(d.id_of("lt_donthave"), None);

        let empty = ExtensionHandshake::default();
        assert_eq!(&empty.encode()[..], b"d1:mdee");
        assert_eq!(ExtensionHandshake::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn duplicate_names_keep_the_first() {
        let h = ExtensionHandshake {
            m: vec![("a".into(), 3), ("b".into(), 1), ("a".into(), 4)],
            ..Default::default()
        };
        assert_eq!(&h.encode()[..], b"d1:md1:ai3e1:bi1eee");
    }

    #[test]
    fn decodes_libtorrent_style_handshake_with_unknown_keys() {
        // Shape of a libtorrent 2.0 handshake: unsorted keys, extra keys, `upload_only`,
        // an IPv6 `yourip`, a disabled extension (0) and one id out of range.
        let raw: &[u8] = b"d12:complete_agoi-1e1:md11:lt_donthavei7e\
            10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e\
            6:ut_pexi1e8:ut_bogusi300e7:ut_zeroi0ee13:metadata_sizei4211e1:pi51413e\
            4:reqqi2000e11:upload_onlyi1e1:v17:libtorrent 2.0.116:yourip16:\
            \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x7f\x00\x00\x01\
            4:ipv416:abcdabcdabcdabcde";
        let h = ExtensionHandshake::decode(raw).unwrap();
        assert_eq!(h.id_of("ut_metadata"), Some(2));
        assert_eq!(h.id_of("ut_pex"), Some(1));
        assert_eq!(h.id_of("ut_zero"), None);
        assert_eq!(
            h.id_of("ut_bogus"),
            None,
            "300 does not fit a u8 and is dropped"
        );
        assert_eq!(h.m.len(), 7);
        assert_eq!(h.listen_port, Some(51413));
        assert_eq!(h.client.as_deref(), Some("libtorrent 2.0.11"));
        assert_eq!(h.reqq, Some(2000));
        assert_eq!(h.metadata_size, Some(4211));
        assert_eq!(h.yourip.as_deref().map(<[u8]>::len), Some(16));
    }

    #[test]
    fn odd_optional_fields_read_as_absent() {
        let raw = b"d1:mi5e13:metadata_sizei-1e1:pi70000e4:reqq3:abc1:vi1e6:yourip3:abce";
        let h = ExtensionHandshake::decode(raw).unwrap();
        assert_eq!(h, ExtensionHandshake::default());
    }

    #[test]
    fn rejects_non_dictionaries_and_bad_bencode() {
        assert!(matches!(
            ExtensionHandshake::decode(b"li1ee"),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            ExtensionHandshake::decode(b"d1:m"),
            Err(Error::Bencode(_))
        ));
        assert!(matches!(
            ExtensionHandshake::decode(b""),
            Err(Error::Bencode(_))
        ));
        assert!(matches!(
            ExtensionHandshake::decode(b"de junk"),
            Err(Error::Bencode(_))
        ));
    }

    #[test]
    fn to_message_uses_id_zero() {
        let Message::Extended { id, payload } = ours().to_message() else {
            panic!("not an extended message");
        };
        assert_eq!(id, 0);
        assert_eq!(payload, ours().encode());
    }
}
