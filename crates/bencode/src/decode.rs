//! The decoder.

/// A decoded value borrowing from the input. `raw()` is the exact encoded span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
    kind: Kind<'a>,
}

/// What kind of value it is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Dict<'a>),
}

/// A dictionary: entries in the order they appear in the input.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
}

/// Why an input is not (strict) bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input ended in the middle of a value.
    #[error("unexpected end of input at byte {0}")]
    Eof(usize),
    /// Bytes left over after the top-level value.
    #[error("trailing data at byte {0}")]
    Trailing(usize),
    /// Anything else, with the byte offset.
    #[error("{what} at byte {at}")]
    Invalid {
        /// What was wrong (e.g. "leading zero in integer").
        what: &'static str,
        /// Byte offset.
        at: usize,
    },
    /// Nesting deeper than [`crate::MAX_DEPTH`].
    #[error("nesting deeper than {max} at byte {0}", max = crate::MAX_DEPTH)]
    TooDeep(usize),
}

/// Decodes exactly one value filling the whole input, enforcing canonical form
/// (no `i05e`/`i-0e`/`03:abc`, dict keys strictly ascending, so also unique).
pub fn decode(input: &[u8]) -> Result<Value<'_>, Error> {
    whole(input, Keys::Ascending)
}

/// Like [`decode`] but accepts dict keys out of order (still rejects duplicates): for tracker
/// responses and peer messages written by other software.
pub fn decode_lenient(input: &[u8]) -> Result<Value<'_>, Error> {
    whole(input, Keys::Unique)
}

/// Decodes one lenient value at the start of `input` and returns it with the number of bytes used
/// (BEP 9 metadata messages carry data after the dictionary).
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), Error> {
    parse(input, Keys::Unique)
}

/// Decodes one value at the start of `input` as forgivingly as libtorrent's `bdecode` does, and
/// returns it with the number of bytes used (the caller decides what trailing bytes mean).
///
/// Dict keys may be unsorted and repeated: [`Dict::get`] returns the first entry with a key, as
/// libtorrent's `dict_find` does. Integers and string lengths may have leading zeros, and `i-0e`
/// is zero. Everything else (truncation, depth, non-string keys, bytes that start no value) is
/// still an error. For `.torrent` files from the field, whose raw `info` bytes are hashed as
/// they are.
pub fn decode_forgiving_prefix(input: &[u8]) -> Result<(Value<'_>, usize), Error> {
    parse(input, Keys::Any)
}

/// How strictly dictionary keys (and number forms) are checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Keys {
    /// Strictly ascending (canonical).
    Ascending,
    /// Any order, but no duplicates.
    Unique,
    /// Any order, duplicates kept (first wins on lookup), non-canonical numbers accepted.
    Any,
}

fn whole(input: &[u8], keys: Keys) -> Result<Value<'_>, Error> {
    let (value, used) = parse(input, keys)?;
    if used != input.len() {
        return Err(Error::Trailing(used));
    }
    Ok(value)
}

fn invalid(what: &'static str, at: usize) -> Error {
    Error::Invalid { what, at }
}

/// A list or dictionary whose `e` has not been seen yet.
enum Open<'a> {
    List {
        start: usize,
        items: Vec<Value<'a>>,
    },
    Dict {
        start: usize,
        entries: Vec<(&'a [u8], Value<'a>)>,
        /// The key read last, waiting for its value.
        key: Option<&'a [u8]>,
        /// Whether the keys so far are strictly ascending.
        sorted: bool,
    },
}

/// The parser: an explicit stack of open containers instead of recursion, so nesting costs heap,
/// never call stack, and is capped at [`crate::MAX_DEPTH`].
fn parse(input: &[u8], keys: Keys) -> Result<(Value<'_>, usize), Error> {
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut pos = 0;
    loop {
        let byte = *input.get(pos).ok_or(Error::Eof(pos))?;
        let wants_key = matches!(stack.last(), Some(Open::Dict { key: None, .. }));
        if wants_key && byte != b'e' && !byte.is_ascii_digit() {
            return Err(invalid("dict key is not a byte string", pos));
        }
        let value = match byte {
            b'i' => {
                let (n, end) = parse_int(input, pos, keys == Keys::Any)?;
                let v = Value {
                    raw: span(input, pos, end)?,
                    kind: Kind::Int(n),
                };
                pos = end;
                v
            }
            b'0'..=b'9' => {
                let (b, end) = parse_bytes(input, pos, keys == Keys::Any)?;
                let v = Value {
                    raw: span(input, pos, end)?,
                    kind: Kind::Bytes(b),
                };
                pos = end;
                v
            }
            b'l' | b'd' => {
                if stack.len() >= crate::MAX_DEPTH {
                    return Err(Error::TooDeep(pos));
                }
                stack.push(if byte == b'l' {
                    Open::List {
                        start: pos,
                        items: Vec::new(),
                    }
                } else {
                    Open::Dict {
                        start: pos,
                        entries: Vec::new(),
                        key: None,
                        sorted: true,
                    }
                });
                pos += 1;
                continue;
            }
            b'e' => {
                let open = stack
                    .pop()
                    .ok_or_else(|| invalid("unexpected end marker", pos))?;
                pos += 1;
                close(input, open, pos, keys)?
            }
            b'+' | b'-' => return Err(invalid("unexpected sign outside an integer", pos)),
            _ => return Err(invalid("unexpected byte", pos)),
        };
        match stack.last_mut() {
            None => return Ok((value, pos)),
            Some(Open::List { items, .. }) => items.push(value),
            Some(Open::Dict {
                entries,
                key,
                sorted,
                ..
            }) => match key.take() {
                Some(k) => entries.push((k, value)),
                None => {
                    // `wants_key` guaranteed a byte string here.
                    let k = value
                        .as_bytes()
                        .ok_or_else(|| invalid("dict key is not a byte string", pos))?;
                    let at = pos.saturating_sub(value.raw.len());
                    if let Some((last, _)) = entries.last()
                        && keys != Keys::Any
                    {
                        if k == *last {
                            return Err(invalid("duplicate dict key", at));
                        }
                        if k < *last {
                            if keys == Keys::Ascending {
                                return Err(invalid("dict keys not sorted", at));
                            }
                            *sorted = false;
                        }
                    }
                    *key = Some(k);
                }
            },
        }
    }
}

/// Finishes a container whose `e` ends just before `end`.
fn close<'a>(input: &'a [u8], open: Open<'a>, end: usize, keys: Keys) -> Result<Value<'a>, Error> {
    match open {
        Open::List { start, items } => Ok(Value {
            raw: span(input, start, end)?,
            kind: Kind::List(items),
        }),
        Open::Dict {
            start,
            entries,
            key,
            sorted,
        } => {
            if key.is_some() {
                return Err(invalid("dict key without a value", end.saturating_sub(1)));
            }
            if !sorted && keys != Keys::Any {
                let mut ks: Vec<&[u8]> = entries.iter().map(|(k, _)| *k).collect();
                ks.sort_unstable();
                if ks.windows(2).any(|w| w[0] == w[1]) {
                    return Err(invalid("duplicate dict key", start));
                }
            }
            Ok(Value {
                raw: span(input, start, end)?,
                kind: Kind::Dict(Dict { entries }),
            })
        }
    }
}

fn span(input: &[u8], start: usize, end: usize) -> Result<&[u8], Error> {
    input.get(start..end).ok_or(Error::Eof(end))
}

/// Parses `i<int>e` at `at`; returns the number and the position after the `e`. `loose` accepts
/// leading zeros and `-0`.
fn parse_int(input: &[u8], at: usize, loose: bool) -> Result<(i64, usize), Error> {
    let mut pos = at + 1;
    let negative = input.get(pos) == Some(&b'-');
    if negative {
        pos += 1;
    }
    let (digits, end) = digits(input, pos)?;
    match input.get(end) {
        None => return Err(Error::Eof(end)),
        Some(b'e') => {}
        Some(b'+') if digits.is_empty() && !negative => {
            return Err(invalid("plus sign in integer", end));
        }
        Some(_) => return Err(invalid("unexpected byte in integer", end)),
    }
    match digits {
        [] => return Err(invalid("integer without digits", pos)),
        _ if loose => {}
        [b'0'] if negative => return Err(invalid("negative zero", pos)),
        [b'0', _, ..] => return Err(invalid("leading zero in integer", pos)),
        _ => {}
    }
    // Accumulate towards the sign so that i64::MIN parses.
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or_else(|| invalid("integer out of range", pos))?;
    }
    Ok((n, end + 1))
}

/// Parses `<len>:<bytes>` at `at`; returns the bytes and the position after them. `loose` accepts
/// leading zeros in the length.
fn parse_bytes(input: &[u8], at: usize, loose: bool) -> Result<(&[u8], usize), Error> {
    let (digits, colon) = digits(input, at)?;
    match input.get(colon) {
        None => return Err(Error::Eof(colon)),
        Some(b':') => {}
        Some(_) => return Err(invalid("unexpected byte in string length", colon)),
    }
    if let [b'0', _, ..] = digits
        && !loose
    {
        return Err(invalid("leading zero in string length", at));
    }
    let mut len: usize = 0;
    for &d in digits {
        len = len
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d - b'0')))
            .ok_or_else(|| invalid("string length out of range", at))?;
    }
    let start = colon + 1;
    let end = start
        .checked_add(len)
        .filter(|&e| e <= input.len())
        .ok_or(Error::Eof(input.len()))?;
    Ok((span(input, start, end)?, end))
}

/// The run of ASCII digits starting at `pos` and the position after it.
fn digits(input: &[u8], pos: usize) -> Result<(&[u8], usize), Error> {
    let rest = input.get(pos..).ok_or(Error::Eof(pos))?;
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    Ok((rest.get(..n).unwrap_or_default(), pos + n))
}

impl<'a> Value<'a> {
    /// The exact bytes this value was decoded from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }
    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }
    /// The byte string as UTF-8, if it is a byte string and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }
    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match &self.kind {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// Shortcut: `self.as_dict()?.get(key)`.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.as_dict()?.get(key)
    }
}

impl<'a> Dict<'a> {
    /// The value under `key` (the first one when a forgiving decode kept duplicates).
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    /// All entries in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &Value<'a>)> + '_ {
        self.entries.iter().map(|(k, v)| (*k, v))
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests;
