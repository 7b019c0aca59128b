//! The encoder: a byte buffer with typed appends. The caller writes dict keys in sorted order
//! (debug builds assert it).

use crate::Value;

/// Builds bencode into a `Vec<u8>`.
///
/// ```
/// let mut e = bencode::Encoder::new();
/// e.dict(|d| {
///     d.entry(b"a", |v| v.int(1));
///     d.entry(b"b", |v| v.bytes(b"xy"));
/// });
/// assert_eq!(e.finish(), b"d1:ai1e1:b2:xye");
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

/// Writes the entries of a dictionary (see [`Encoder::dict`]).
#[derive(Debug)]
pub struct DictEncoder<'e> {
    enc: &'e mut Encoder,
    last_key: Option<Vec<u8>>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an integer.
    pub fn int(&mut self, i: i64) {
        self.buf.push(b'i');
        self.buf.extend_from_slice(i.to_string().as_bytes());
        self.buf.push(b'e');
    }

    /// Appends a byte string.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b.len().to_string().as_bytes());
        self.buf.push(b':');
        self.buf.extend_from_slice(b);
    }

    /// Appends already-encoded bencode verbatim (e.g. the raw `info` dictionary).
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }

    /// Appends a decoded value by walking its structure (not by copying [`Value::raw`]). Dict
    /// entries are written in the order they were decoded, so a value from [`crate::decode`]
    /// re-encodes to exactly its input.
    pub fn value(&mut self, v: &Value<'_>) {
        // Values only come from the decoder, so this recursion is at most `MAX_DEPTH` deep.
        if let Some(i) = v.as_int() {
            self.int(i);
        } else if let Some(b) = v.as_bytes() {
            self.bytes(b);
        } else if let Some(items) = v.as_list() {
            self.list(|e| items.iter().for_each(|item| e.value(item)));
        } else if let Some(d) = v.as_dict() {
            self.buf.push(b'd');
            for (k, item) in d.iter() {
                self.bytes(k);
                self.value(item);
            }
            self.buf.push(b'e');
        }
    }

    /// Appends a list whose items `f` writes.
    pub fn list(&mut self, f: impl FnOnce(&mut Encoder)) {
        self.buf.push(b'l');
        f(self);
        self.buf.push(b'e');
    }

    /// Appends a dictionary whose entries `f` writes, in ascending key order.
    pub fn dict(&mut self, f: impl FnOnce(&mut DictEncoder<'_>)) {
        self.buf.push(b'd');
        let mut d = DictEncoder {
            enc: self,
            last_key: None,
        };
        f(&mut d);
        self.buf.push(b'e');
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

impl DictEncoder<'_> {
    /// Writes `key` and then the value `f` writes. Keys must come in strictly ascending order.
    pub fn entry(&mut self, key: &[u8], f: impl FnOnce(&mut Encoder)) {
        debug_assert!(
            self.last_key.as_deref().is_none_or(|k| k < key),
            "bencode dict keys must be written in ascending order"
        );
        if cfg!(debug_assertions) {
            self.last_key = Some(key.to_vec());
        }
        self.enc.bytes(key);
        f(self.enc);
    }
}
