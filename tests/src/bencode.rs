//! A tiny bencode decoder for the harness, independent of btmirror's own crates.
//!
//! The tests check btmirror against this, so it deliberately shares no code with it. It keeps
//! the raw byte span of every value, which is what the info-hash is computed over.

use std::ops::Range;

/// Nesting deeper than this is rejected (test torrents nest three levels at most).
const MAX_DEPTH: usize = 64;

/// A decoded bencode value together with the bytes it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    /// Where the value sits in the input.
    pub span: Range<usize>,
    /// The decoded value.
    pub kind: Kind,
}

/// The four bencode types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `i42e`
    Int(i64),
    /// `3:abc`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys in file order
    Dict(Vec<(Vec<u8>, Value)>),
}

impl Value {
    /// The entry `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            Kind::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_slice() == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The list items, if this is a list.
    pub fn list(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::List(items) => Some(items),
            _ => None,
        }
    }
}

/// Decodes one complete value; trailing bytes are an error.
pub(crate) fn decode(data: &[u8]) -> Result<Value, String> {
    let (value, end) = parse(data, 0, 0)?;
    if end != data.len() {
        return Err(format!(
            "{} trailing bytes after the value",
            data.len() - end
        ));
    }
    Ok(value)
}

fn byte_at(data: &[u8], i: usize) -> Result<u8, String> {
    data.get(i)
        .copied()
        .ok_or_else(|| format!("unexpected end of input at byte {i}"))
}

/// Reads ASCII digits (with an optional leading '-') up to `end_byte`; returns the number and
/// the index after `end_byte`.
fn number(data: &[u8], start: usize, end_byte: u8) -> Result<(i64, usize), String> {
    let len = data[start..]
        .iter()
        .position(|&b| b == end_byte)
        .ok_or_else(|| format!("unterminated number at byte {start}"))?;
    let text = std::str::from_utf8(&data[start..start + len])
        .map_err(|_| format!("non-ASCII number at byte {start}"))?;
    let n = text
        .parse::<i64>()
        .map_err(|e| format!("bad number {text:?} at byte {start}: {e}"))?;
    Ok((n, start + len + 1))
}

fn parse(data: &[u8], start: usize, depth: usize) -> Result<(Value, usize), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH} at byte {start}"));
    }
    let (kind, end) = match byte_at(data, start)? {
        b'i' => {
            let (n, end) = number(data, start + 1, b'e')?;
            (Kind::Int(n), end)
        }
        b'l' => {
            let mut items = Vec::new();
            let mut i = start + 1;
            while byte_at(data, i)? != b'e' {
                let (item, next) = parse(data, i, depth + 1)?;
                items.push(item);
                i = next;
            }
            (Kind::List(items), i + 1)
        }
        b'd' => {
            let mut entries = Vec::new();
            let mut i = start + 1;
            while byte_at(data, i)? != b'e' {
                let (key, next) = parse(data, i, depth + 1)?;
                let Kind::Bytes(key) = key.kind else {
                    return Err(format!("dictionary key at byte {i} is not a string"));
                };
                let (value, next) = parse(data, next, depth + 1)?;
                entries.push((key, value));
                i = next;
            }
            (Kind::Dict(entries), i + 1)
        }
        b'0'..=b'9' => {
            let (len, body) = number(data, start, b':')?;
            let len = usize::try_from(len).map_err(|_| format!("bad length at byte {start}"))?;
            let end = body
                .checked_add(len)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| format!("string at byte {start} runs past the end"))?;
            (Kind::Bytes(data[body..end].to_vec()), end)
        }
        other => return Err(format!("unexpected byte {other:#04x} at {start}")),
    };
    Ok((
        Value {
            span: start..end,
            kind,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested_values_with_spans() {
        let data = b"d4:infod4:name1:ae3:numi-7ee";
        let v = decode(data).unwrap();
        let info = v.get("info").unwrap();
        assert_eq!(&data[info.span.clone()], b"d4:name1:ae");
        assert_eq!(info.get("name").unwrap().bytes(), Some(&b"a"[..]));
        assert_eq!(v.get("num").unwrap().int(), Some(-7));
    }

    #[test]
    fn rejects_truncated_and_trailing_input() {
        assert!(decode(b"d4:info").is_err());
        assert!(decode(b"5:abc").is_err());
        assert!(decode(b"i1ei2e").is_err());
        assert!(decode(b"di1ei2ee").is_err());
    }
}
