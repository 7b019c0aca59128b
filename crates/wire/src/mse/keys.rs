//! Everything derived from the shared secret `S` and the stream key `SKEY` (the info-hash):
//! the `req1`/`req2`/`req3` hashes and the two RC4 keystreams.

use super::rc4::Rc4;
use metainfo::InfoHash;
use sha1::{Digest, Sha1};

use super::dh::KEY_LEN;

/// Bytes of RC4 keystream both sides discard before the first byte they use.
const DISCARD: usize = 1024;

/// `HASH(parts...)`: SHA-1 over the concatenation.
fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part);
    }
    sha.finalize().into()
}

/// `HASH('req1', S)`: the synchronisation point the responder scans for.
pub(crate) fn req1(secret: &[u8; KEY_LEN]) -> [u8; 20] {
    hash(&[b"req1", secret])
}

/// `HASH('req2', SKEY)`: what identifies a torrent to a responder. A responder keys its torrent
/// map by this value (see [`SkeyLookup`](super::SkeyLookup)).
pub fn req2(info_hash: &InfoHash) -> [u8; 20] {
    hash(&[b"req2", &info_hash.0])
}

/// `HASH('req3', S)`: the mask over `HASH('req2', SKEY)` on the wire.
pub(crate) fn req3(secret: &[u8; KEY_LEN]) -> [u8; 20] {
    hash(&[b"req3", secret])
}

/// `a xor b`.
pub(crate) fn xor20(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// An RC4 keystream, its first 1024 bytes already discarded. Encrypting and decrypting are the
/// same operation: [`Keystream::apply`].
pub struct Keystream(Box<Rc4>);

impl Keystream {
    /// RC4 keyed with `key`, first 1024 bytes dropped.
    fn new(key: &[u8; 20]) -> Self {
        let mut rc4 = Rc4::new(key);
        let mut discard = [0u8; DISCARD];
        rc4.apply(&mut discard);
        Self(Box::new(rc4))
    }

    /// XORs the next `buf.len()` keystream bytes into `buf` (encrypts or decrypts in place).
    pub fn apply(&mut self, buf: &mut [u8]) {
        self.0.apply(buf);
    }
}

impl std::fmt::Debug for Keystream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keystream(..)")
    }
}

/// The pair of keystreams one side uses: `keyA = HASH('keyA', S, SKEY)` for what the initiator
/// sends, `keyB = HASH('keyB', S, SKEY)` for what the responder sends.
#[derive(Debug)]
pub(crate) struct Keystreams {
    /// Encrypts what we send.
    pub(crate) send: Keystream,
    /// Decrypts what we receive.
    pub(crate) receive: Keystream,
}

impl Keystreams {
    /// The keystreams of the initiator (sends with keyA) or the responder (sends with keyB).
    pub(crate) fn new(secret: &[u8; KEY_LEN], skey: &InfoHash, initiator: bool) -> Self {
        let key_a = Keystream::new(&hash(&[b"keyA", secret, &skey.0]));
        let key_b = Keystream::new(&hash(&[b"keyB", secret, &skey.0]));
        if initiator {
            Self {
                send: key_a,
                receive: key_b,
            }
        } else {
            Self {
                send: key_b,
                receive: key_a,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 6229 test vectors: keystream of a 40-bit and of a 128-bit key at offset 1024 (where
    /// MSE starts using it).
    #[test]
    fn keystream_after_the_1024_byte_discard_matches_rfc_6229() {
        let cases: [(&[u8], &str); 2] = [
            (&[1, 2, 3, 4, 5], "30abbcc7c20b01609f23ee2d5f6bb7df"),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
                "bdf0324e6083dcc6d3cedd3ca8c53c16",
            ),
        ];
        for (key, expected) in cases {
            let mut rc4 = Rc4::new(key);
            let mut discard = [0u8; DISCARD];
            rc4.apply(&mut discard);
            let mut out = [0u8; 16];
            rc4.apply(&mut out);
            assert_eq!(hex(&out), expected, "key {key:?}");
        }
    }

    #[test]
    fn keystream_drops_the_first_1024_bytes() {
        let key = [7u8; 20];
        let mut full = Rc4::new(&key);
        let mut first = [0u8; DISCARD + 32];
        full.apply(&mut first);
        let mut ours = [0u8; 32];
        Keystream::new(&key).apply(&mut ours);
        assert_eq!(ours, first[DISCARD..]);
    }

    #[test]
    fn req_hashes_match_known_answers() {
        // Computed independently with python3 hashlib.
        assert_eq!(
            hex(&req2(&InfoHash([0; 20]))),
            "a2310e5196f70e3bc4377b442d9bcb53c9d1c4f6"
        );
        let secret = [0u8; KEY_LEN];
        assert_eq!(
            hex(&req1(&secret)),
            "4537f2615276f60fb7b87299df4aef4a6ff144ae"
        );
        assert_eq!(
            hex(&hash(&[b"keyA", &secret, &[0u8; 20]])),
            "3c40e353550d292107334c64298ad190be48e885"
        );
        assert_ne!(req1(&secret), req3(&secret));
        assert_eq!(xor20(&req1(&secret), &req1(&secret)), [0; 20]);
    }

    #[test]
    fn initiator_send_is_responder_receive() {
        let secret = [9u8; KEY_LEN];
        let skey = InfoHash([3; 20]);
        let mut a = Keystreams::new(&secret, &skey, true);
        let mut b = Keystreams::new(&secret, &skey, false);
        let mut msg = *b"hello, responder";
        a.send.apply(&mut msg);
        assert_ne!(&msg, b"hello, responder");
        b.receive.apply(&mut msg);
        assert_eq!(&msg, b"hello, responder");
        let mut back = *b"hello, initiator";
        b.send.apply(&mut back);
        a.receive.apply(&mut back);
        assert_eq!(&back, b"hello, initiator");
    }
}
