//! The peer wire protocol (BEP 3, with the fast extension BEP 6 and the extension protocol
//! BEP 10): handshake, messages and a length-checked codec.
//!
//! Sans-IO: the codec works over any `AsyncRead + AsyncWrite` through `tokio_util::codec`;
//! this crate never opens a socket or spawns a task.

// Tests unwrap freely (the workspace has no clippy.toml with allow-unwrap-in-tests).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod codec;
mod extension;
mod handshake;
mod message;
mod metadata;
pub mod mse;
mod pex;

pub use codec::{Codec, MAX_MESSAGE_LEN, PIECE_HEADER_LEN, encode_piece_header};
pub use extension::{EXTENSION_HANDSHAKE_ID, ExtensionHandshake};
pub use handshake::{
    HANDSHAKE_HEAD_LEN, HANDSHAKE_LEN, Handshake, read_handshake, read_handshake_head,
    read_peer_id, supports_dht, supports_extended, supports_fast, supports_v2, write_handshake,
};
pub use message::{BlockRequest, HashRequest, Message, validate_bitfield};
pub use metadata::{
    MAX_METADATA_SIZE, METADATA_EXTENSION, METADATA_PIECE_LEN, MetadataAssembler, MetadataError,
    MetadataMessage, metadata_piece, metadata_piece_count,
};
pub use pex::{MAX_PEX_PEERS, PEX_EXTENSION, PexMessage};

/// Why a peer's bytes were refused. Every variant means "drop this peer".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("i/o")]
    Io(#[from] std::io::Error),
    /// The handshake's protocol string is not "BitTorrent protocol".
    #[error("not a BitTorrent handshake")]
    BadProtocol,
    /// A message length above the limit (a peer announcing a 4 GiB message is dropped, not obeyed).
    #[error("message of {0} bytes exceeds the limit")]
    TooLong(u32),
    /// An unknown or malformed message.
    #[error("malformed message id {id}: {reason}")]
    Malformed {
        /// The message id.
        id: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// A BEP 10 extension message that is not valid bencode.
    #[error("invalid bencode in an extension message")]
    Bencode(#[source] bencode::Error),
}
