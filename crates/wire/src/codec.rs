//! Length-prefixed framing of [`Message`]s: `length: u32 BE`, then `id: u8` and the payload.
//!
//! Decoding checks the announced length against the limit before reserving anything, then
//! reserves room for the whole frame at once, and hands out `Piece`, `Bitfield` and `Extended`
//! payloads as slices of the read buffer (no copy).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{BlockRequest, Error, Message};

/// Largest message accepted: a 16 KiB block plus header, or a bitfield for 2^20 pieces... whichever
/// is larger (checked before any allocation).
pub const MAX_MESSAGE_LEN: u32 = 1 << 18;

/// Length of the length prefix.
const PREFIX_LEN: usize = 4;

/// Length of a `Piece` frame before its data: prefix, id, index, begin.
pub const PIECE_HEADER_LEN: usize = 13;

/// Message ids (BEP 3, BEP 5, BEP 6, BEP 10, BEP 52).
mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const SUGGEST_PIECE: u8 = 13;
    pub const HAVE_ALL: u8 = 14;
    pub const HAVE_NONE: u8 = 15;
    pub const REJECT_REQUEST: u8 = 16;
    pub const ALLOWED_FAST: u8 = 17;
    pub const EXTENDED: u8 = 20;
    pub const HASH_REQUEST: u8 = 21;
    pub const HASHES: u8 = 22;
    pub const HASH_REJECT: u8 = 23;
}

/// Length of the head of a hash request, hashes or hash reject: root and four numbers.
const HASH_HEAD_LEN: usize = 48;

/// `tokio_util::codec` Decoder/Encoder for [`Message`] (after the handshake).
///
/// It encodes both `Message` and `&Message`, so a sink call that names no item (a bare
/// `flush()` or `close()`) needs it spelled out: `SinkExt::<&Message>::flush(&mut framed)`.
#[derive(Debug, Clone)]
pub struct Codec {
    /// Largest accepted message length (the prefix value, excluding the prefix itself).
    max_len: u32,
}

impl Default for Codec {
    fn default() -> Self {
        Self {
            max_len: MAX_MESSAGE_LEN,
        }
    }
}

impl Codec {
    /// A codec with a custom message length limit.
    pub fn with_max_len(max_len: u32) -> Self {
        Self { max_len }
    }

    /// The message length limit.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }
}

impl Decoder for Codec {
    type Item = Message;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        let Some(prefix) = src.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix);
        if len > self.max_len {
            return Err(Error::TooLong(len));
        }
        let frame_len = PREFIX_LEN + len as usize;
        if src.len() < frame_len {
            // One reservation for the whole frame: a 16 KiB block arrives without regrowing.
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        if len == 0 {
            return Ok(Some(Message::KeepAlive));
        }
        parse(src.split_to(len as usize).freeze()).map(Some)
    }
}

/// Parses one non-empty frame body (`id` and payload). Payload slices share `frame`'s memory.
fn parse(frame: Bytes) -> Result<Message, Error> {
    let Some((&id, body)) = frame.split_first() else {
        return Ok(Message::KeepAlive);
    };
    let msg = match id {
        id::CHOKE => fixed::<0>(id, body).map(|_| Message::Choke)?,
        id::UNCHOKE => fixed::<0>(id, body).map(|_| Message::Unchoke)?,
        id::INTERESTED => fixed::<0>(id, body).map(|_| Message::Interested)?,
        id::NOT_INTERESTED => fixed::<0>(id, body).map(|_| Message::NotInterested)?,
        id::HAVE_ALL => fixed::<0>(id, body).map(|_| Message::HaveAll)?,
        id::HAVE_NONE => fixed::<0>(id, body).map(|_| Message::HaveNone)?,
        id::HAVE => Message::Have(u32::from_be_bytes(fixed(id, body)?)),
        id::SUGGEST_PIECE => Message::SuggestPiece(u32::from_be_bytes(fixed(id, body)?)),
        id::ALLOWED_FAST => Message::AllowedFast(u32::from_be_bytes(fixed(id, body)?)),
        id::PORT => Message::Port(u16::from_be_bytes(fixed(id, body)?)),
        id::REQUEST => Message::Request(block_request(fixed(id, body)?)),
        id::CANCEL => Message::Cancel(block_request(fixed(id, body)?)),
        id::REJECT_REQUEST => Message::RejectRequest(block_request(fixed(id, body)?)),
        id::BITFIELD => Message::Bitfield(frame.slice(1..)),
        id::HASH_REQUEST => Message::HashRequest(hash_request(fixed(id, body)?)),
        id::HASH_REJECT => Message::HashReject(hash_request(fixed(id, body)?)),
        id::HASHES => {
            let Some((head, rest)) = body.split_first_chunk::<HASH_HEAD_LEN>() else {
                return Err(Error::Malformed {
                    id,
                    reason: "hashes shorter than its header",
                });
            };
            if rest.len() % 32 != 0 {
                return Err(Error::Malformed {
                    id,
                    reason: "hashes not a multiple of 32 bytes",
                });
            }
            Message::Hashes {
                request: hash_request(*head),
                hashes: frame.slice(1 + HASH_HEAD_LEN..),
            }
        }
        id::PIECE => {
            let Some((head, _)) = body.split_first_chunk::<8>() else {
                return Err(Error::Malformed {
                    id,
                    reason: "piece shorter than its header",
                });
            };
            let mut head = &head[..];
            let (index, begin) = (head.get_u32(), head.get_u32());
            Message::Piece {
                index,
                begin,
                data: frame.slice(9..),
            }
        }
        id::EXTENDED => {
            let Some(&ext) = body.first() else {
                return Err(Error::Malformed {
                    id,
                    reason: "extended message without its id",
                });
            };
            Message::Extended {
                id: ext,
                payload: frame.slice(2..),
            }
        }
        _ => {
            return Err(Error::Malformed {
                id,
                reason: "unknown message id",
            });
        }
    };
    Ok(msg)
}

/// The payload as an array of exactly `N` bytes, or [`Error::Malformed`].
fn fixed<const N: usize>(id: u8, body: &[u8]) -> Result<[u8; N], Error> {
    body.try_into().map_err(|_| Error::Malformed {
        id,
        reason: "wrong length",
    })
}

/// `index`, `begin`, `length` of a request, cancel or reject.
fn block_request(b: [u8; 12]) -> BlockRequest {
    let mut b = &b[..];
    BlockRequest {
        index: b.get_u32(),
        begin: b.get_u32(),
        length: b.get_u32(),
    }
}

/// The head of a hash request, hashes or hash reject.
fn hash_request(b: [u8; HASH_HEAD_LEN]) -> crate::HashRequest {
    let (root, mut rest) = b.split_at(32);
    let mut pieces_root = [0u8; 32];
    pieces_root.copy_from_slice(root);
    crate::HashRequest {
        pieces_root,
        base_layer: rest.get_u32(),
        index: rest.get_u32(),
        length: rest.get_u32(),
        proof_layers: rest.get_u32(),
    }
}

/// Writes a hash request or reject with `extra` more payload bytes to follow.
fn put_hash_head(
    id: u8,
    r: &crate::HashRequest,
    extra: usize,
    dst: &mut BytesMut,
) -> Result<(), Error> {
    header(id, HASH_HEAD_LEN + extra, dst)?;
    dst.put_slice(&r.pieces_root);
    dst.put_u32(r.base_layer);
    dst.put_u32(r.index);
    dst.put_u32(r.length);
    dst.put_u32(r.proof_layers);
    Ok(())
}

/// Writes the 13-byte header of a `Piece` message carrying `data_len` bytes (prefix, id 7,
/// index, begin), so that the caller can append the block from its own buffer without an
/// intermediate copy.
///
/// `data_len` must be at most `u32::MAX - 9`; blocks are at most [`metainfo::BLOCK_SIZE`].
pub fn encode_piece_header(index: u32, begin: u32, data_len: u32, dst: &mut BytesMut) {
    debug_assert!(data_len <= u32::MAX - 9, "piece data too long for a frame");
    dst.reserve(PIECE_HEADER_LEN);
    dst.put_u32(data_len.saturating_add(9));
    dst.put_u8(id::PIECE);
    dst.put_u32(index);
    dst.put_u32(begin);
}

/// Writes the prefix and id of a message whose payload after the id is `payload_len` bytes,
/// reserving room for the whole frame once.
fn header(id: u8, payload_len: usize, dst: &mut BytesMut) -> Result<(), Error> {
    let len = payload_len
        .checked_add(1)
        .and_then(|l| u32::try_from(l).ok())
        .ok_or(Error::Malformed {
            id,
            reason: "payload too long to encode",
        })?;
    dst.reserve(PREFIX_LEN + 1 + payload_len);
    dst.put_u32(len);
    dst.put_u8(id);
    Ok(())
}

/// Writes a have, suggest or allowed-fast.
fn put_index(id: u8, index: u32, dst: &mut BytesMut) -> Result<(), Error> {
    header(id, 4, dst)?;
    dst.put_u32(index);
    Ok(())
}

/// Writes a request, cancel or reject.
fn put_request(id: u8, r: &BlockRequest, dst: &mut BytesMut) -> Result<(), Error> {
    header(id, 12, dst)?;
    dst.put_u32(r.index);
    dst.put_u32(r.begin);
    dst.put_u32(r.length);
    Ok(())
}

impl Encoder<&Message> for Codec {
    type Error = Error;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), Error> {
        match msg {
            Message::KeepAlive => {
                dst.reserve(PREFIX_LEN);
                dst.put_u32(0);
            }
            Message::Choke => header(id::CHOKE, 0, dst)?,
            Message::Unchoke => header(id::UNCHOKE, 0, dst)?,
            Message::Interested => header(id::INTERESTED, 0, dst)?,
            Message::NotInterested => header(id::NOT_INTERESTED, 0, dst)?,
            Message::HaveAll => header(id::HAVE_ALL, 0, dst)?,
            Message::HaveNone => header(id::HAVE_NONE, 0, dst)?,
            Message::Have(i) => put_index(id::HAVE, *i, dst)?,
            Message::SuggestPiece(i) => put_index(id::SUGGEST_PIECE, *i, dst)?,
            Message::AllowedFast(i) => put_index(id::ALLOWED_FAST, *i, dst)?,
            Message::Port(p) => {
                header(id::PORT, 2, dst)?;
                dst.put_u16(*p);
            }
            Message::Request(r) => put_request(id::REQUEST, r, dst)?,
            Message::Cancel(r) => put_request(id::CANCEL, r, dst)?,
            Message::RejectRequest(r) => put_request(id::REJECT_REQUEST, r, dst)?,
            Message::Bitfield(bits) => {
                header(id::BITFIELD, bits.len(), dst)?;
                dst.extend_from_slice(bits);
            }
            Message::Piece { index, begin, data } => {
                let data_len = u32::try_from(data.len())
                    .ok()
                    .filter(|&l| l <= u32::MAX - 9)
                    .ok_or(Error::Malformed {
                        id: id::PIECE,
                        reason: "block too long to encode",
                    })?;
                dst.reserve(PIECE_HEADER_LEN + data.len());
                encode_piece_header(*index, *begin, data_len, dst);
                dst.extend_from_slice(data);
            }
            Message::HashRequest(r) => put_hash_head(id::HASH_REQUEST, r, 0, dst)?,
            Message::HashReject(r) => put_hash_head(id::HASH_REJECT, r, 0, dst)?,
            Message::Hashes { request, hashes } => {
                put_hash_head(id::HASHES, request, hashes.len(), dst)?;
                dst.put_slice(hashes);
            }
            Message::Extended { id: ext, payload } => {
                header(id::EXTENDED, 1 + payload.len(), dst)?;
                dst.put_u8(*ext);
                dst.extend_from_slice(payload);
            }
        }
        Ok(())
    }
}

impl Encoder<Message> for Codec {
    type Error = Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), Error> {
        Encoder::<&Message>::encode(self, &msg, dst)
    }
}

#[cfg(test)]
mod tests;
