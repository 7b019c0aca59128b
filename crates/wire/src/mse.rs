//! Message Stream Encryption / Protocol Encryption (MSE/PE), the obfuscated handshake that
//! libtorrent, Transmission, aria2, rtorrent and WebTorrent speak, as two sans-IO state
//! machines: [`Initiator`] (we dialled) and [`Responder`] (we accepted).
//!
//! # Messages
//!
//! `A` is the initiator, `B` the responder; `S` the Diffie-Hellman secret, `SKEY` the
//! info-hash, `HASH` SHA-1, `ENCRYPT` RC4 keyed with `HASH('keyA', S, SKEY)` (A to B) or
//! `HASH('keyB', S, SKEY)` (B to A), the first 1024 keystream bytes discarded:
//!
//! ```text
//! 1 A->B: Ya (96 bytes), PadA (0..=512 random bytes)
//! 2 B->A: Yb (96 bytes), PadB (0..=512 random bytes)
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//! 5 A->B: ENCRYPT2(payload)
//! ```
//!
//! `Y = 2^X mod P` with the 768-bit prime `P` and 160-bit random `X`, 96 bytes big-endian.
//! `VC` is 8 zero bytes; `crypto_provide` and `crypto_select` are 32-bit big-endian bit sets
//! (`0x01` plaintext, `0x02` RC4; `select` has exactly one bit, one that was provided); the
//! `len(..)` fields are 16-bit big-endian. `IA` (initial payload, here the BitTorrent
//! handshake) is always RC4-encrypted; `ENCRYPT2` is RC4 continuing the same keystreams when
//! RC4 was selected and nothing when plaintext was.
//!
//! Neither side knows the other's padding length, so each synchronises by scanning: `B` for
//! `HASH('req1', S)` within the 512 + 20 bytes after `Ya`, `A` for `ENCRYPT(VC)` within the
//! 512 + 8 bytes after `Yb`. Nothing found there is an error, so a machine never buffers more
//! than that window (plus `IA`, at most 65535 bytes) beyond what one call hands it.
//!
//! # Driving a machine
//!
//! Feed every received chunk to `feed`; after each call (and after constructing an
//! [`Initiator`]) send what `take_output` returns. When `feed` returns an [`Outcome`], the
//! handshake is over: flush the output, then keep using the connection as
//! [`Outcome::stream`] says, starting with the already decrypted [`Outcome::payload`].
//! Over tokio I/O, [`initiate`] and [`respond`] do that loop and return an [`MseStream`] that
//! reads and writes plaintext (split it with [`MseStream::into_parts`] into an [`MseReader`]
//! and an [`MseWriter`]), so the plaintext handshake code runs on it unchanged.
//! Time is the caller's: close a connection that does not finish within its handshake timeout.
//! [`classify`] tells from the first bytes of an accepted connection whether to start a
//! [`Responder`] or read a plaintext handshake.

mod dh;
mod initiator;
mod io;
mod keys;
mod rc4;
mod responder;

use metainfo::InfoHash;

pub use initiator::Initiator;
pub use io::{Decryptor, Encryptor, MseReader, MseStream, MseWriter, initiate, respond};
pub use keys::{Keystream, req2};
pub use responder::Responder;

/// Most padding either side may send (`PadA`, `PadB`, `PadC`, `PadD`).
pub const MAX_PAD: usize = 512;

/// The handshake's first 20 bytes in plaintext BitTorrent.
const PLAINTEXT_PROTOCOL: &[u8; 20] = b"\x13BitTorrent protocol";

/// `crypto_provide` / `crypto_select` bit of plaintext.
const BIT_PLAINTEXT: u32 = 0x01;
/// `crypto_provide` / `crypto_select` bit of RC4.
const BIT_RC4: u32 = 0x02;

/// Why an MSE handshake failed. Every variant means "close this connection".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MseError {
    /// The peer's Diffie-Hellman key is outside `2..=P-2`.
    #[error("peer sent an invalid Diffie-Hellman key")]
    BadPublicKey,
    /// The responder found no `HASH('req1', S)` within 512 bytes after the key: garbage, or a
    /// peer that does not speak MSE.
    #[error("no MSE synchronisation hash within the padding window")]
    NoSyncHash,
    /// The initiator found no encrypted verification constant within 512 bytes after the key.
    #[error("no MSE verification constant within the padding window")]
    NoSyncVc,
    /// The obfuscated info-hash names no torrent of ours.
    #[error("MSE stream key of no known torrent")]
    UnknownTorrent,
    /// The decrypted verification constant is not 8 zero bytes.
    #[error("wrong MSE verification constant")]
    BadVc,
    /// A padding length field above 512.
    #[error("MSE padding of {0} bytes exceeds 512")]
    PadTooLong(u16),
    /// The initiator offered no method we accept.
    #[error("peer provides crypto methods {provided:#x}, none of which we accept")]
    NoCommonMethod {
        /// The peer's `crypto_provide`.
        provided: u32,
    },
    /// The responder selected something other than exactly one of the methods we offered.
    #[error("peer selected crypto method {selected:#x}, which we did not offer")]
    SelectNotOffered {
        /// The peer's `crypto_select`.
        selected: u32,
    },
    /// [`CryptoMethods::NONE`] given to a machine.
    #[error("no crypto method to offer or accept")]
    NoMethods,
    /// An initial payload above 65535 bytes.
    #[error("initial payload of {0} bytes exceeds 65535")]
    PayloadTooLong(usize),
    /// The random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// `feed` called again after the handshake ended (successfully or not).
    #[error("the MSE handshake has already ended")]
    Finished,
    /// The connection failed during the handshake ([`initiate`] / [`respond`]).
    #[error("i/o during the MSE handshake")]
    Io(#[source] std::io::Error),
    /// The peer closed the connection during the handshake ([`initiate`] / [`respond`]).
    #[error("peer closed the connection during the MSE handshake")]
    Closed,
}

/// A set of crypto methods: what an initiator offers (`crypto_provide`) or a responder accepts.
///
/// The engine's policies map onto it: `require` is [`RC4`](Self::RC4); `prefer` and `allow`
/// offer and accept [`BOTH`](Self::BOTH). A responder given a choice picks plaintext (only the
/// handshake is obfuscated, no cipher CPU afterwards) unless plaintext is not in its set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CryptoMethods(u32);

impl CryptoMethods {
    /// Nothing (invalid for a machine; the identity of [`union`](Self::union)).
    pub const NONE: Self = Self(0);
    /// Plaintext after the handshake.
    pub const PLAINTEXT: Self = Self(BIT_PLAINTEXT);
    /// RC4 on every byte.
    pub const RC4: Self = Self(BIT_RC4);
    /// Either.
    pub const BOTH: Self = Self(BIT_PLAINTEXT | BIT_RC4);

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `method` is in the set.
    pub const fn contains(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    /// The wire bit set (`crypto_provide`).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// What a responder accepting `self` selects from a peer's `crypto_provide`: plaintext if
    /// both allow it, else RC4 if both allow it.
    fn select(self, provided: u32) -> Option<Method> {
        [Method::Plaintext, Method::Rc4]
            .into_iter()
            .find(|m| self.contains(*m) && provided & m.bit() != 0)
    }
}

/// The method a handshake settled on for the rest of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Bytes after the handshake travel as they are.
    Plaintext,
    /// Bytes after the handshake are RC4-encrypted both ways.
    Rc4,
}

impl Method {
    /// The `crypto_select` bit.
    const fn bit(self) -> u32 {
        match self {
            Method::Plaintext => BIT_PLAINTEXT,
            Method::Rc4 => BIT_RC4,
        }
    }

    /// The method of a `crypto_select` holding exactly this one bit.
    fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            BIT_PLAINTEXT => Some(Method::Plaintext),
            BIT_RC4 => Some(Method::Rc4),
            _ => None,
        }
    }
}

/// How to treat the connection's bytes after the handshake.
#[derive(Debug)]
pub enum Stream {
    /// Send and receive as they are.
    Plaintext,
    /// RC4 both ways: `encrypt` what is sent, `decrypt` what is received.
    Rc4 {
        /// Applied to every byte sent.
        encrypt: Keystream,
        /// Applied to every byte received.
        decrypt: Keystream,
    },
}

impl Stream {
    /// Encrypts bytes about to be sent (nothing to do in plaintext).
    pub fn encrypt(&mut self, buf: &mut [u8]) {
        if let Stream::Rc4 { encrypt, .. } = self {
            encrypt.apply(buf);
        }
    }

    /// Decrypts received bytes (nothing to do in plaintext).
    pub fn decrypt(&mut self, buf: &mut [u8]) {
        if let Stream::Rc4 { decrypt, .. } = self {
            decrypt.apply(buf);
        }
    }
}

/// A finished handshake.
#[derive(Debug)]
pub struct Outcome {
    /// The torrent: the one dialled for, or the one the responder matched.
    pub info_hash: InfoHash,
    /// The chosen method with its ciphers.
    pub stream: Stream,
    /// Payload bytes that arrived with the handshake, already decrypted: for a responder the
    /// initiator's `IA` (its BitTorrent handshake) first, then anything after it.
    pub payload: Vec<u8>,
}

impl Outcome {
    /// The chosen method.
    pub fn method(&self) -> Method {
        match self.stream {
            Stream::Plaintext => Method::Plaintext,
            Stream::Rc4 { .. } => Method::Rc4,
        }
    }
}

/// Where the random keys and padding come from: `ring::rand::SystemRandom` in production, a
/// seeded generator in tests.
pub trait RandomSource {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), MseError>;
}

impl RandomSource for ring::rand::SystemRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), MseError> {
        ring::rand::SecureRandom::fill(self, buf).map_err(|_| MseError::Random)
    }
}

/// How a responder finds the torrent of an obfuscated stream key: from `HASH('req2', SKEY)`
/// (see [`req2`]) to the info-hash. Implemented for a `HashMap` keyed that way, so one map
/// serves any number of torrents in O(1); wrap a closure in [`LookupFn`] for anything else.
pub trait SkeyLookup {
    /// The torrent whose `HASH('req2', info_hash)` is `req2_hash`, if any.
    fn lookup(&self, req2_hash: &[u8; 20]) -> Option<InfoHash>;
}

impl<S: std::hash::BuildHasher> SkeyLookup for std::collections::HashMap<[u8; 20], InfoHash, S> {
    fn lookup(&self, req2_hash: &[u8; 20]) -> Option<InfoHash> {
        self.get(req2_hash).copied()
    }
}

/// A closure as a [`SkeyLookup`].
pub struct LookupFn<F>(pub F);

impl<F: Fn(&[u8; 20]) -> Option<InfoHash>> SkeyLookup for LookupFn<F> {
    fn lookup(&self, req2_hash: &[u8; 20]) -> Option<InfoHash> {
        (self.0)(req2_hash)
    }
}

/// What an accepted connection speaks, told from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A plaintext BitTorrent handshake (`19 "BitTorrent protocol"`).
    Plaintext,
    /// Anything else: an MSE key (hand the same bytes to a [`Responder`]).
    Encrypted,
}

/// Classifies an accepted connection by its first bytes (peek them, or feed them to the
/// machine that follows): `None` while they are a proper prefix of the plaintext protocol
/// string (at most 20 bytes are needed; one byte suffices unless it is 19).
pub fn classify(first: &[u8]) -> Option<Incoming> {
    let n = first.len().min(PLAINTEXT_PROTOCOL.len());
    if first[..n] != PLAINTEXT_PROTOCOL[..n] {
        Some(Incoming::Encrypted)
    } else if n == PLAINTEXT_PROTOCOL.len() {
        Some(Incoming::Plaintext)
    } else {
        None
    }
}

/// A random padding of 0..=512 bytes.
fn random_pad(rng: &mut dyn RandomSource) -> Result<Vec<u8>, MseError> {
    let mut len = [0u8; 2];
    rng.fill(&mut len)?;
    let mut pad = vec![0u8; usize::from(u16::from_be_bytes(len)) % (MAX_PAD + 1)];
    rng.fill(&mut pad)?;
    Ok(pad)
}

/// `ENCRYPT(VC, crypto_field, len(pad), pad)`: the start of messages 3 and 4, unencrypted.
fn vc_crypto_pad(crypto_field: u32, pad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(VC_LEN + 6 + pad.len());
    out.extend_from_slice(&[0u8; VC_LEN]);
    out.extend_from_slice(&crypto_field.to_be_bytes());
    // Pads are at most 512 bytes.
    out.extend_from_slice(&(pad.len() as u16).to_be_bytes());
    out.extend_from_slice(pad);
    out
}

/// Length of the verification constant.
const VC_LEN: usize = 8;

/// Where `pattern` starts within the first `window` bytes of `buf`: `Ok(None)` while it may
/// still arrive, `Err(())` once the window is full without it.
fn find_in_window(buf: &[u8], pattern: &[u8], window: usize) -> Result<Option<usize>, ()> {
    let searched = &buf[..buf.len().min(window)];
    match searched.windows(pattern.len()).position(|w| w == pattern) {
        Some(at) => Ok(Some(at)),
        None if searched.len() >= window => Err(()),
        None => Ok(None),
    }
}

/// Takes the first `n` bytes of `buf` once it has them.
fn take(buf: &mut Vec<u8>, n: usize) -> Option<Vec<u8>> {
    (buf.len() >= n).then(|| buf.drain(..n).collect())
}

#[cfg(test)]
mod tests;
