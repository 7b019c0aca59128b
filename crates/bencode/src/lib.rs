//! Strict (and, for `.torrent` files from the field, forgiving), zero-copy bencode (BEP 3): a decoder that keeps the raw byte span of every value
//! (the info-hash is the SHA-1 of the raw `info` bytes) and a small encoder.
//!
//! Depends on nothing of ours. Every length and depth is checked; no input can panic it.

mod decode;
mod encode;

pub use decode::{
    Dict, Error, Value, decode, decode_forgiving_prefix, decode_lenient, decode_prefix,
};
pub use encode::{DictEncoder, Encoder};

/// Deepest nesting of lists/dicts the decoder accepts.
pub const MAX_DEPTH: usize = 64;
