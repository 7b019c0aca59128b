//! The side that accepted: answers `Ya` with `Yb`, synchronises on `HASH('req1', S)`, finds the
//! torrent from the obfuscated stream key, selects a method and reads the initial payload.

use metainfo::InfoHash;

use super::dh::{KEY_LEN, KeyPair};
use super::keys::{Keystreams, req1, req3, xor20};
use super::{
    CryptoMethods, MAX_PAD, Method, MseError, Outcome, RandomSource, SkeyLookup, Stream, VC_LEN,
    find_in_window, random_pad, take, vc_crypto_pad,
};

/// `VC`, `crypto_provide` and `len(PadC)`.
const PROVIDE_LEN: usize = VC_LEN + 4 + 2;

/// What the responder waits for.
enum State {
    /// `Ya`.
    PeerKey,
    /// `HASH('req1', S)` after PadA.
    SyncHash {
        secret: Box<[u8; KEY_LEN]>,
        sync: [u8; 20],
    },
    /// `HASH('req2', SKEY) xor HASH('req3', S)`.
    StreamKey { secret: Box<[u8; KEY_LEN]> },
    /// `ENCRYPT(VC, crypto_provide, len(PadC))`.
    Provide { found: Found },
    /// `remaining` bytes of PadC, then `len(IA)`.
    PadC { found: Found, remaining: usize },
    /// `len(IA)`.
    IaLen { found: Found },
    /// `remaining` bytes of IA, decrypted into `ia`.
    Ia {
        found: Found,
        ia: Vec<u8>,
        remaining: usize,
    },
    /// Over (successfully or not).
    Ended,
}

/// What is known once the stream key matched.
struct Found {
    info_hash: InfoHash,
    keys: Keystreams,
    /// Set once `crypto_provide` has been read.
    method: Method,
}

/// The MSE responder: [`feed`](Self::feed) it what arrives (from the very first byte, `Ya`),
/// sending [`take_output`](Self::take_output) after each call, until it returns an
/// [`Outcome`].
pub struct Responder {
    state: State,
    accept: CryptoMethods,
    key: KeyPair,
    pad_b: Vec<u8>,
    pad_d: Vec<u8>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Responder {
    /// A responder accepting the methods in `accept`.
    pub fn new(accept: CryptoMethods, rng: &mut dyn RandomSource) -> Result<Self, MseError> {
        if accept.bits() & CryptoMethods::BOTH.bits() == 0 {
            return Err(MseError::NoMethods);
        }
        Ok(Self {
            state: State::PeerKey,
            accept,
            key: KeyPair::generate(rng)?,
            pad_b: random_pad(rng)?,
            pad_d: random_pad(rng)?,
            input: Vec::new(),
            output: Vec::new(),
        })
    }

    /// Bytes to send now (empties the queue).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Takes received bytes; `Ok(Some(_))` once the handshake is complete. `torrents` resolves
    /// the stream key when it arrives.
    pub fn feed(
        &mut self,
        received: &[u8],
        torrents: &dyn SkeyLookup,
    ) -> Result<Option<Outcome>, MseError> {
        if matches!(self.state, State::Ended) {
            return Err(MseError::Finished);
        }
        self.input.extend_from_slice(received);
        let mut state = std::mem::replace(&mut self.state, State::Ended);
        loop {
            state = match self.step(state, torrents)? {
                Step::Next(next) => next,
                Step::Waiting(waiting) => {
                    self.state = waiting;
                    return Ok(None);
                }
                Step::Done(outcome) => return Ok(Some(outcome)),
            }
        }
    }

    /// One transition, if the buffered input allows it.
    fn step(&mut self, state: State, torrents: &dyn SkeyLookup) -> Result<Step, MseError> {
        Ok(match state {
            State::PeerKey => match take(&mut self.input, KEY_LEN) {
                None => Step::Waiting(State::PeerKey),
                Some(peer) => Step::Next(self.on_peer_key(&peer)?),
            },
            State::SyncHash { secret, sync } => {
                match find_in_window(&self.input, &sync, MAX_PAD + sync.len()) {
                    Err(()) => return Err(MseError::NoSyncHash),
                    Ok(None) => Step::Waiting(State::SyncHash { secret, sync }),
                    Ok(Some(at)) => {
                        self.input.drain(..at + sync.len());
                        Step::Next(State::StreamKey { secret })
                    }
                }
            }
            State::StreamKey { secret } => match take(&mut self.input, 20) {
                None => Step::Waiting(State::StreamKey { secret }),
                Some(masked) => {
                    let masked: [u8; 20] =
                        masked.try_into().map_err(|_| MseError::UnknownTorrent)?;
                    let info_hash = torrents
                        .lookup(&xor20(&masked, &req3(&secret)))
                        .ok_or(MseError::UnknownTorrent)?;
                    let keys = Keystreams::new(&secret, &info_hash, false);
                    Step::Next(State::Provide {
                        found: Found {
                            info_hash,
                            keys,
                            method: Method::Rc4,
                        },
                    })
                }
            },
            State::Provide { found } => match take(&mut self.input, PROVIDE_LEN) {
                None => Step::Waiting(State::Provide { found }),
                Some(field) => Step::Next(self.on_provide(found, field)?),
            },
            State::PadC {
                mut found,
                remaining,
            } => {
                let n = remaining.min(self.input.len());
                found.keys.receive.apply(&mut self.input[..n]);
                self.input.drain(..n);
                if n < remaining {
                    let remaining = remaining - n;
                    Step::Waiting(State::PadC { found, remaining })
                } else {
                    Step::Next(State::IaLen { found })
                }
            }
            State::IaLen { mut found } => match take(&mut self.input, 2) {
                None => Step::Waiting(State::IaLen { found }),
                Some(mut len) => {
                    found.keys.receive.apply(&mut len);
                    let remaining = usize::from(u16::from_be_bytes([len[0], len[1]]));
                    Step::Next(State::Ia {
                        found,
                        ia: Vec::with_capacity(remaining),
                        remaining,
                    })
                }
            },
            State::Ia {
                mut found,
                mut ia,
                remaining,
            } => {
                let n = remaining.min(self.input.len());
                let start = ia.len();
                ia.extend(self.input.drain(..n));
                found.keys.receive.apply(&mut ia[start..]);
                if n < remaining {
                    let remaining = remaining - n;
                    Step::Waiting(State::Ia {
                        found,
                        ia,
                        remaining,
                    })
                } else {
                    Step::Done(self.finish(found, ia))
                }
            }
            State::Ended => return Err(MseError::Finished),
        })
    }

    /// `Ya` arrived: queue `Yb` and PadB, derive the secret.
    fn on_peer_key(&mut self, peer: &[u8]) -> Result<State, MseError> {
        let peer: &[u8; KEY_LEN] = peer.try_into().map_err(|_| MseError::BadPublicKey)?;
        let secret = Box::new(self.key.shared_secret(peer)?);
        self.output.extend_from_slice(self.key.public());
        self.output.extend_from_slice(&self.pad_b);
        let sync = req1(&secret);
        Ok(State::SyncHash { secret, sync })
    }

    /// `VC`, `crypto_provide`, `len(PadC)` arrived: check, select, queue message 4.
    fn on_provide(&mut self, mut found: Found, mut field: Vec<u8>) -> Result<State, MseError> {
        found.keys.receive.apply(&mut field);
        if field[..VC_LEN] != [0u8; VC_LEN] {
            return Err(MseError::BadVc);
        }
        let provided = u32::from_be_bytes([field[8], field[9], field[10], field[11]]);
        let pad = u16::from_be_bytes([field[12], field[13]]);
        if usize::from(pad) > MAX_PAD {
            return Err(MseError::PadTooLong(pad));
        }
        found.method = self
            .accept
            .select(provided)
            .ok_or(MseError::NoCommonMethod { provided })?;
        let mut reply = vc_crypto_pad(found.method.bit(), &self.pad_d);
        found.keys.send.apply(&mut reply);
        self.output.extend_from_slice(&reply);
        Ok(State::PadC {
            found,
            remaining: usize::from(pad),
        })
    }

    /// IA is in: it and everything after it is payload.
    fn finish(&mut self, found: Found, mut payload: Vec<u8>) -> Outcome {
        let Found {
            info_hash,
            mut keys,
            method,
        } = found;
        let mut rest = std::mem::take(&mut self.input);
        let stream = match method {
            Method::Plaintext => Stream::Plaintext,
            Method::Rc4 => {
                keys.receive.apply(&mut rest);
                Stream::Rc4 {
                    encrypt: keys.send,
                    decrypt: keys.receive,
                }
            }
        };
        payload.append(&mut rest);
        Outcome {
            info_hash,
            stream,
            payload,
        }
    }
}

/// Where one [`Responder::step`] led.
enum Step {
    /// Another state to try at once.
    Next(State),
    /// Needs more input.
    Waiting(State),
    /// Complete.
    Done(Outcome),
}
