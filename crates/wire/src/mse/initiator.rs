//! The side that dialled: sends `Ya`, waits for `Yb`, sends message 3 with the initial payload,
//! then synchronises on the responder's encrypted `VC` and reads its `crypto_select`.

use metainfo::InfoHash;

use super::dh::{KEY_LEN, KeyPair};
use super::keys::{Keystreams, req1, req2, req3, xor20};
use super::{
    CryptoMethods, MAX_PAD, Method, MseError, Outcome, RandomSource, Stream, VC_LEN,
    find_in_window, random_pad, take, vc_crypto_pad,
};

/// What the initiator waits for.
enum State {
    /// `Yb`.
    PeerKey,
    /// `ENCRYPT(VC)` after PadB; `vc` is what it looks like on the wire.
    SyncVc { keys: Keystreams, vc: [u8; VC_LEN] },
    /// `crypto_select` and `len(PadD)`.
    Select { keys: Keystreams },
    /// `remaining` bytes of PadD.
    PadD {
        keys: Keystreams,
        method: Method,
        remaining: usize,
    },
    /// Over (successfully or not).
    Ended,
}

/// The MSE initiator: construct it, send [`take_output`](Self::take_output), then
/// [`feed`](Self::feed) it what arrives until it returns an [`Outcome`].
pub struct Initiator {
    state: State,
    info_hash: InfoHash,
    offer: CryptoMethods,
    key: KeyPair,
    pad_c: Vec<u8>,
    initial_payload: Vec<u8>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Initiator {
    /// Starts a handshake for `info_hash`, offering `offer`, with `initial_payload` (usually
    /// the 68-byte BitTorrent handshake; may be empty) to send as `IA`. The format allows
    /// 65535 bytes, but libtorrent refuses an `IA` over 68: send anything more afterwards.
    pub fn new(
        info_hash: InfoHash,
        offer: CryptoMethods,
        initial_payload: &[u8],
        rng: &mut dyn RandomSource,
    ) -> Result<Self, MseError> {
        if offer.bits() & CryptoMethods::BOTH.bits() == 0 {
            return Err(MseError::NoMethods);
        }
        if u16::try_from(initial_payload.len()).is_err() {
            return Err(MseError::PayloadTooLong(initial_payload.len()));
        }
        let key = KeyPair::generate(rng)?;
        let mut output = key.public().to_vec();
        output.extend_from_slice(&random_pad(rng)?);
        Ok(Self {
            state: State::PeerKey,
            info_hash,
            offer,
            key,
            pad_c: random_pad(rng)?,
            initial_payload: initial_payload.to_vec(),
            input: Vec::new(),
            output,
        })
    }

    /// Bytes to send now (empties the queue).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Takes received bytes; `Ok(Some(_))` once the handshake is complete.
    pub fn feed(&mut self, received: &[u8]) -> Result<Option<Outcome>, MseError> {
        if matches!(self.state, State::Ended) {
            return Err(MseError::Finished);
        }
        self.input.extend_from_slice(received);
        let state = std::mem::replace(&mut self.state, State::Ended);
        match self.advance(state)? {
            Progress::Waiting(state) => {
                self.state = state;
                Ok(None)
            }
            Progress::Done(outcome) => Ok(Some(outcome)),
        }
    }

    /// Runs the state machine as far as the buffered input allows.
    fn advance(&mut self, mut state: State) -> Result<Progress, MseError> {
        loop {
            state = match state {
                State::PeerKey => match take(&mut self.input, KEY_LEN) {
                    None => return Ok(Progress::Waiting(State::PeerKey)),
                    Some(peer) => self.on_peer_key(&peer)?,
                },
                State::SyncVc { keys, vc } => {
                    match find_in_window(&self.input, &vc, MAX_PAD + VC_LEN) {
                        Err(()) => return Err(MseError::NoSyncVc),
                        Ok(None) => return Ok(Progress::Waiting(State::SyncVc { keys, vc })),
                        Ok(Some(at)) => {
                            self.input.drain(..at + VC_LEN);
                            State::Select { keys }
                        }
                    }
                }
                State::Select { mut keys } => match take(&mut self.input, 6) {
                    None => return Ok(Progress::Waiting(State::Select { keys })),
                    Some(mut field) => {
                        keys.receive.apply(&mut field);
                        let selected = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
                        let method = Method::from_bits(selected)
                            .filter(|m| self.offer.contains(*m))
                            .ok_or(MseError::SelectNotOffered { selected })?;
                        let pad = u16::from_be_bytes([field[4], field[5]]);
                        if usize::from(pad) > MAX_PAD {
                            return Err(MseError::PadTooLong(pad));
                        }
                        State::PadD {
                            keys,
                            method,
                            remaining: usize::from(pad),
                        }
                    }
                },
                State::PadD {
                    mut keys,
                    method,
                    remaining,
                } => {
                    let n = remaining.min(self.input.len());
                    keys.receive.apply(&mut self.input[..n]);
                    self.input.drain(..n);
                    if n < remaining {
                        let remaining = remaining - n;
                        return Ok(Progress::Waiting(State::PadD {
                            keys,
                            method,
                            remaining,
                        }));
                    }
                    return Ok(Progress::Done(self.finish(keys, method)));
                }
                State::Ended => return Err(MseError::Finished),
            }
        }
    }

    /// `Yb` arrived: derive the secret and keys, queue message 3.
    fn on_peer_key(&mut self, peer: &[u8]) -> Result<State, MseError> {
        let peer: &[u8; KEY_LEN] = peer.try_into().map_err(|_| MseError::BadPublicKey)?;
        let secret = self.key.shared_secret(peer)?;
        let mut keys = Keystreams::new(&secret, &self.info_hash, true);
        self.output.extend_from_slice(&req1(&secret));
        self.output
            .extend_from_slice(&xor20(&req2(&self.info_hash), &req3(&secret)));
        let mut encrypted =
            vc_crypto_pad(self.offer.bits() & CryptoMethods::BOTH.bits(), &self.pad_c);
        // Checked in `new`: the payload fits 16 bits.
        let ia_len = self.initial_payload.len() as u16;
        encrypted.extend_from_slice(&ia_len.to_be_bytes());
        encrypted.extend_from_slice(&self.initial_payload);
        keys.send.apply(&mut encrypted);
        self.output.extend_from_slice(&encrypted);
        let mut vc = [0u8; VC_LEN];
        keys.receive.apply(&mut vc);
        Ok(State::SyncVc { keys, vc })
    }

    /// PadD is over: everything after it is payload.
    fn finish(&mut self, mut keys: Keystreams, method: Method) -> Outcome {
        let mut payload = std::mem::take(&mut self.input);
        let stream = match method {
            Method::Plaintext => Stream::Plaintext,
            Method::Rc4 => {
                keys.receive.apply(&mut payload);
                Stream::Rc4 {
                    encrypt: keys.send,
                    decrypt: keys.receive,
                }
            }
        };
        Outcome {
            info_hash: self.info_hash,
            stream,
            payload,
        }
    }
}

/// Where [`Initiator::advance`] stopped.
enum Progress {
    /// Needs more input.
    Waiting(State),
    /// Complete.
    Done(Outcome),
}
