//! Connection set-up under the peer protocol: the byte stream a peer runs over (any
//! [`Transport`]: TCP or uTP), plaintext or wrapped in MSE/PE ([`wire::mse`]), and the
//! handshakes of both directions under an [`EncryptionPolicy`].
//!
//! - Dialling ([`dial`]): over each transport of the session's dial order in turn, `prefer`
//!   tries MSE first and plaintext when the peer drops us, `allow` the other way round,
//!   `require` MSE with RC4 only, `disable` plaintext only.
//! - Accepting ([`accept`]): the first 20 bytes tell plaintext from MSE; the torrent of an MSE
//!   connection comes from the session's `HASH('req2', info_hash)` map in O(1).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metainfo::InfoHash;
use tokio::io::AsyncReadExt;
use tracing::debug;
use wire::Handshake;
use wire::mse::{self, CryptoMethods, Initiator, Method, MseError, MseStream, Responder};

use crate::transport::{self, BoxRead, BoxWrite, Transport, TransportKind};
use crate::udp::UdpEndpoint;

/// Whether peer connections use Message Stream Encryption (MSE/PE).
///
/// Whatever the policy (but `require`), a peer that offers both plaintext and RC4 after an MSE
/// handshake gets plaintext: only the handshake is obfuscated, and seeding costs no cipher CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptionPolicy {
    /// Dial with MSE first, in plaintext again when the peer drops us; accept both.
    #[default]
    Prefer,
    /// Dial in plaintext first, with MSE again when the peer drops us; accept both.
    Allow,
    /// MSE with RC4 only, both ways: plaintext peers are neither dialled nor accepted.
    Require,
    /// Plaintext only: no MSE dialled, incoming MSE refused.
    Disable,
}

impl EncryptionPolicy {
    /// Every policy, in the order of the documentation.
    pub const ALL: [Self; 4] = [Self::Prefer, Self::Allow, Self::Require, Self::Disable];

    /// The lower-case name of configuration files and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prefer => "prefer",
            Self::Allow => "allow",
            Self::Require => "require",
            Self::Disable => "disable",
        }
    }

    /// What an MSE responder accepts under this policy (`None`: MSE refused).
    pub(crate) fn accepted(self) -> Option<CryptoMethods> {
        match self {
            Self::Prefer | Self::Allow => Some(CryptoMethods::BOTH),
            Self::Require => Some(CryptoMethods::RC4),
            Self::Disable => None,
        }
    }
}

impl std::fmt::Display for EncryptionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EncryptionPolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

/// A name that is no [`EncryptionPolicy`].
#[derive(Debug, thiserror::Error)]
#[error("unknown encryption policy {0:?} (expected prefer, allow, require or disable)")]
pub struct UnknownPolicy(pub String);

impl Transport for MseStream<Box<dyn Transport>> {
    fn into_halves(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (inner, decrypt, encrypt) = (*self).into_parts();
        let (r, w) = inner.into_halves();
        (
            Box::new(mse::MseReader::new(r, decrypt)),
            Box::new(mse::MseWriter::new(w, encrypt)),
        )
    }
}

/// What protects a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Crypto {
    /// A plaintext BitTorrent handshake.
    Plaintext,
    /// An MSE handshake, plaintext after it.
    MsePlaintext,
    /// An MSE handshake and RC4 on every byte.
    Rc4,
}

impl Crypto {
    fn of(method: Method) -> Self {
        match method {
            Method::Plaintext => Crypto::MsePlaintext,
            Method::Rc4 => Crypto::Rc4,
        }
    }

    /// The handshake was MSE.
    pub(crate) fn is_mse(self) -> bool {
        self != Crypto::Plaintext
    }
}

/// A connected peer's stream, after the handshake.
pub(crate) struct PeerStream {
    /// Plaintext bytes of the peer protocol, whatever runs underneath.
    pub io: Box<dyn Transport>,
    /// How it is protected.
    pub crypto: Crypto,
    /// What carries it.
    pub transport: TransportKind,
}

impl fmt::Debug for PeerStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerStream")
            .field("crypto", &self.crypto)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Why setting up a connection failed: the connection is dropped, nothing else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SetupError {
    /// Connecting failed.
    #[error("connect failed")]
    Connect(#[source] std::io::Error),
    /// The plaintext handshake failed.
    #[error("handshake failed")]
    Wire(#[source] wire::Error),
    /// The MSE handshake failed.
    #[error("encrypted handshake failed")]
    Mse(#[source] MseError),
    /// Took longer than the handshake timeout.
    #[error("handshake timed out")]
    Timeout,
    /// The policy refuses what the peer speaks.
    #[error("{0} connection refused by the encryption policy")]
    Refused(&'static str),
    /// The BitTorrent handshake inside MSE named another torrent than its stream key.
    #[error("handshake names another torrent than the encrypted stream key")]
    TorrentMismatch,
    /// The session dials over no transport at all.
    #[error("no transport to dial over")]
    NoTransport,
}

impl From<wire::Error> for SetupError {
    fn from(e: wire::Error) -> Self {
        SetupError::Wire(e)
    }
}

impl From<MseError> for SetupError {
    fn from(e: MseError) -> Self {
        SetupError::Mse(e)
    }
}

/// Session-wide counts of connection set-ups, for metrics.
#[derive(Debug, Default)]
pub(crate) struct SetupCounters {
    incoming_plaintext: AtomicU64,
    incoming_mse: AtomicU64,
    incoming_mse_failed: AtomicU64,
    incoming_refused: AtomicU64,
    outgoing_mse: AtomicU64,
    outgoing_plaintext: AtomicU64,
    outgoing_retries: AtomicU64,
}

/// A snapshot of the session's connection set-up counters (since the session started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncryptionCounters {
    /// Incoming plaintext handshakes that named a torrent.
    pub incoming_plaintext: u64,
    /// Incoming MSE handshakes that completed.
    pub incoming_encrypted: u64,
    /// Incoming MSE handshakes that failed (garbage, wrong `VC`, unknown torrent, timeout, ...).
    pub incoming_encrypted_failed: u64,
    /// Incoming connections the policy refused (`require`: plaintext, `disable`: MSE).
    pub incoming_refused: u64,
    /// Outgoing MSE handshakes that completed.
    pub outgoing_encrypted: u64,
    /// Outgoing plaintext handshakes that completed.
    pub outgoing_plaintext: u64,
    /// Outgoing connections retried the other way after the first one failed.
    pub outgoing_retries: u64,
}

impl SetupCounters {
    /// The current values.
    pub(crate) fn snapshot(&self) -> EncryptionCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EncryptionCounters {
            incoming_plaintext: get(&self.incoming_plaintext),
            incoming_encrypted: get(&self.incoming_mse),
            incoming_encrypted_failed: get(&self.incoming_mse_failed),
            incoming_refused: get(&self.incoming_refused),
            outgoing_encrypted: get(&self.outgoing_mse),
            outgoing_plaintext: get(&self.outgoing_plaintext),
            outgoing_retries: get(&self.outgoing_retries),
        }
    }

    /// Counts a finished incoming set-up.
    pub(crate) fn count_incoming<T>(&self, r: &Result<(Crypto, T), SetupError>) {
        let c = match r {
            Ok((Crypto::Plaintext, _)) => &self.incoming_plaintext,
            Ok(_) => &self.incoming_mse,
            Err(SetupError::Refused(_)) => &self.incoming_refused,
            Err(SetupError::Mse(_) | SetupError::TorrentMismatch) => &self.incoming_mse_failed,
            Err(_) => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an incoming MSE handshake that ran out of time.
    pub(crate) fn count_incoming_timeout(&self, mse: bool) {
        if mse {
            self.incoming_mse_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the session needs to answer MSE: its policy, the stream-key map, the counters.
pub(crate) struct Responding<'a> {
    pub policy: EncryptionPolicy,
    /// `HASH('req2', info_hash)` → info-hash of every torrent of the session.
    pub skeys: &'a RwLock<HashMap<[u8; 20], InfoHash>>,
}

/// An accepted connection (over `transport`) up to (and including) the 48-byte handshake head:
/// the stream, how it is protected, the peer's reserved bytes and the torrent. `mse` is set as
/// soon as the first bytes are known to be MSE (so that a timeout can be counted as a failed
/// MSE handshake).
pub(crate) async fn accept(
    mut stream: Box<dyn Transport>,
    transport: TransportKind,
    how: Responding<'_>,
    mse: &mut bool,
) -> Result<(Crypto, (PeerStream, [u8; 8], InfoHash)), SetupError> {
    let mut first = [0u8; 20];
    stream
        .read_exact(&mut first)
        .await
        .map_err(|e| SetupError::Wire(wire::Error::from(e)))?;
    match mse::classify(&first) {
        Some(mse::Incoming::Plaintext) | None => {
            if how.policy == EncryptionPolicy::Require {
                return Err(SetupError::Refused("plaintext"));
            }
            let mut head = (&first[..]).chain(&mut stream);
            let (reserved, info_hash) = wire::read_handshake_head(&mut head).await?;
            let peer = PeerStream {
                io: stream,
                crypto: Crypto::Plaintext,
                transport,
            };
            Ok((Crypto::Plaintext, (peer, reserved, info_hash)))
        }
        Some(mse::Incoming::Encrypted) => {
            *mse = true;
            let Some(accept) = how.policy.accepted() else {
                return Err(SetupError::Refused("encrypted"));
            };
            let responder = Responder::new(accept, &mut ring::rand::SystemRandom::new())?;
            let lookup = mse::LookupFn(|h: &[u8; 20]| how.skeys.read().ok()?.get(h).copied());
            let mut enc = mse::respond(stream, responder, &first, &lookup).await?;
            let (reserved, info_hash) = wire::read_handshake_head(&mut enc).await?;
            if info_hash != enc.info_hash() {
                return Err(SetupError::TorrentMismatch);
            }
            let crypto = Crypto::of(enc.method());
            let peer = PeerStream {
                io: Box::new(enc),
                crypto,
                transport,
            };
            Ok((crypto, (peer, reserved, info_hash)))
        }
    }
}

/// One way of dialling.
#[derive(Clone, Copy, Debug)]
enum Attempt {
    Plaintext,
    Mse(CryptoMethods),
}

/// What dialling needs besides the peer: the transports to try and the session's policy, UDP
/// socket and counters.
pub(crate) struct Dialing<'a> {
    /// The transports to try, in order (see `Transports::dial_order`).
    pub order: &'a [TransportKind],
    pub policy: EncryptionPolicy,
    /// The shared UDP socket uTP connections are opened on.
    pub udp: &'a UdpEndpoint,
    /// For connecting and for each handshake.
    pub timeout: Duration,
    pub counters: &'a SetupCounters,
}

/// Dials `addr` over each transport of `how.order` in turn until one connection completes the
/// handshake for `ours` as the policy says: returns the stream and the peer's handshake, or the
/// last transport's error.
pub(crate) async fn dial(
    addr: SocketAddr,
    ours: &Handshake,
    how: &Dialing<'_>,
) -> Result<(PeerStream, Handshake), SetupError> {
    let mut last = SetupError::NoTransport;
    for &kind in how.order {
        match dial_over(kind, addr, ours, how).await {
            Ok(r) => return Ok(r),
            Err(e) => {
                debug!(%addr, transport = kind.as_str(), policy = %how.policy, error = %crate::error_chain(&e), "dial failed");
                last = e;
            }
        }
    }
    Err(last)
}

/// Dials `addr` over `kind` as the policy says, each attempt within the timeout.
async fn dial_over(
    kind: TransportKind,
    addr: SocketAddr,
    ours: &Handshake,
    how: &Dialing<'_>,
) -> Result<(PeerStream, Handshake), SetupError> {
    let attempts: &[Attempt] = match how.policy {
        EncryptionPolicy::Prefer => &[Attempt::Mse(CryptoMethods::BOTH), Attempt::Plaintext],
        EncryptionPolicy::Allow => &[Attempt::Plaintext, Attempt::Mse(CryptoMethods::BOTH)],
        EncryptionPolicy::Require => &[Attempt::Mse(CryptoMethods::RC4)],
        EncryptionPolicy::Disable => &[Attempt::Plaintext],
    };
    let counters = how.counters;
    let mut last = SetupError::Timeout;
    for (i, attempt) in attempts.iter().enumerate() {
        if i > 0 {
            counters.outgoing_retries.fetch_add(1, Ordering::Relaxed);
        }
        let io = match transport::connect(kind, addr, how.udp, how.timeout).await {
            Ok(io) => io,
            // Nobody there: the other way would not fare better.
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(SetupError::Timeout);
            }
            Err(e) => return Err(SetupError::Connect(e)),
        };
        match tokio::time::timeout(how.timeout, dial_once(io, kind, ours, *attempt)).await {
            Ok(Ok((peer, theirs))) => {
                let c = if peer.crypto.is_mse() {
                    &counters.outgoing_mse
                } else {
                    &counters.outgoing_plaintext
                };
                c.fetch_add(1, Ordering::Relaxed);
                return Ok((peer, theirs));
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = SetupError::Timeout,
        }
    }
    Err(last)
}

/// One handshake over a fresh connection.
async fn dial_once(
    mut stream: Box<dyn Transport>,
    transport: TransportKind,
    ours: &Handshake,
    attempt: Attempt,
) -> Result<(PeerStream, Handshake), SetupError> {
    match attempt {
        Attempt::Plaintext => {
            wire::write_handshake(&mut stream, ours).await?;
            let theirs = wire::read_handshake(&mut stream).await?;
            let peer = PeerStream {
                io: stream,
                crypto: Crypto::Plaintext,
                transport,
            };
            Ok((peer, theirs))
        }
        Attempt::Mse(offer) => {
            // Our BitTorrent handshake travels as the initial payload `IA`.
            let initiator = Initiator::new(
                ours.info_hash,
                offer,
                &ours.encode(),
                &mut ring::rand::SystemRandom::new(),
            )?;
            let mut enc = mse::initiate(stream, initiator).await?;
            let theirs = wire::read_handshake(&mut enc).await?;
            let crypto = Crypto::of(enc.method());
            let peer = PeerStream {
                io: Box::new(enc),
                crypto,
                transport,
            };
            Ok((peer, theirs))
        }
    }
}
