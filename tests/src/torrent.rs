//! `.torrent` files for tests: created with `mktorrent`, read back with the harness's own
//! bencode decoder (the info-hash is SHA-1 over the raw `info` bytes as they are in the file).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha1::{Digest, Sha1};

use crate::bencode::{self, Value};

/// A 20-byte SHA-1 info-hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// 40 lowercase hex digits, as opentracker's whitelist and `aria2c --show-files` print it.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// Every byte percent-encoded, for tracker query strings.
    pub fn url_encoded(&self) -> String {
        self.0.iter().map(|b| format!("%{b:02X}")).collect()
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Lowercase hex of any bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the tests need to know about a `.torrent` file.
#[derive(Debug, Clone)]
pub struct Torrent {
    /// Where the `.torrent` file is.
    pub path: PathBuf,
    /// SHA-1 of the raw `info` dictionary.
    pub info_hash: InfoHash,
    /// `info.name`: the file name (single-file) or directory name (multi-file) inside a data dir.
    pub name: String,
    /// `info.piece length`.
    pub piece_length: u64,
    /// The files in torrent order: path relative to the data dir (starting with `name`) and length.
    pub files: Vec<(PathBuf, u64)>,
}

impl Torrent {
    /// Sum of all file lengths.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|(_, len)| len).sum()
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u64 {
        self.total_length().div_ceil(self.piece_length)
    }

    /// Where this torrent's data lives inside data directory `dir`.
    pub fn data_in(&self, dir: &Path) -> PathBuf {
        dir.join(&self.name)
    }
}

/// Reads and checks a `.torrent` file.
///
/// # Panics
/// If the file cannot be read or is not a v1 torrent this harness understands.
pub fn read_torrent(path: &Path) -> Torrent {
    let data =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_torrent(&data, path).unwrap_or_else(|e| panic!("bad torrent {}: {e}", path.display()))
}

fn text(v: &Value, what: &str) -> Result<String, String> {
    let bytes = v.bytes().ok_or_else(|| format!("{what} is not a string"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

fn length(v: Option<&Value>, what: &str) -> Result<u64, String> {
    let n = v
        .and_then(Value::int)
        .ok_or_else(|| format!("{what} missing or not an integer"))?;
    u64::try_from(n).map_err(|_| format!("{what} is negative"))
}

fn parse_torrent(data: &[u8], path: &Path) -> Result<Torrent, String> {
    let root = bencode::decode(data)?;
    let info = root.get("info").ok_or("no info dictionary")?;
    let raw_info = data
        .get(info.span.clone())
        .ok_or("info span out of range")?;
    let info_hash = InfoHash(Sha1::digest(raw_info).into());
    let name = text(info.get("name").ok_or("no info.name")?, "info.name")?;
    let piece_length = length(info.get("piece length"), "info.piece length")?;
    if piece_length == 0 {
        return Err("info.piece length is 0".into());
    }
    let mut files = Vec::new();
    if let Some(list) = info.get("files") {
        for (i, entry) in list
            .list()
            .ok_or("info.files is not a list")?
            .iter()
            .enumerate()
        {
            let len = length(entry.get("length"), &format!("info.files[{i}].length"))?;
            let mut rel = PathBuf::from(&name);
            let parts = entry
                .get("path")
                .and_then(Value::list)
                .ok_or_else(|| format!("info.files[{i}].path missing"))?;
            for part in parts {
                rel.push(text(part, &format!("info.files[{i}].path"))?);
            }
            files.push((rel, len));
        }
    } else {
        files.push((
            PathBuf::from(&name),
            length(info.get("length"), "info.length")?,
        ));
    }
    Ok(Torrent {
        path: path.to_path_buf(),
        info_hash,
        name,
        piece_length,
        files,
    })
}

/// Creates a torrent for `content` (a file or a directory) with `mktorrent`, announcing to
/// `announce`, with pieces of `piece_len` bytes (a power of two from 32 KiB to 256 MiB),
/// written to `out`.
///
/// # Panics
/// If `piece_len` is out of mktorrent's range or mktorrent fails.
pub fn make_torrent(content: &Path, announce: &str, piece_len: u32, out: &Path) -> Torrent {
    make_torrent_with_web_seeds(content, announce, piece_len, &[], out)
}

/// [`make_torrent`] with BEP 19 web seeds (`mktorrent -w`: a string for one, a list for more).
///
/// # Panics
/// As [`make_torrent`].
pub fn make_torrent_with_web_seeds(
    content: &Path,
    announce: &str,
    piece_len: u32,
    web_seeds: &[String],
    out: &Path,
) -> Torrent {
    assert!(
        piece_len.is_power_of_two() && (1 << 15..=1 << 28).contains(&piece_len),
        "mktorrent takes piece lengths of 2^15 to 2^28 bytes, not {piece_len}"
    );
    let output = Command::new("mktorrent")
        .arg("-a")
        .arg(announce)
        .arg("-l")
        .arg(piece_len.trailing_zeros().to_string())
        .args(web_seeds.iter().flat_map(|w| ["-w", w.as_str()]))
        .arg("-o")
        .arg(out)
        .arg(content)
        .output()
        .unwrap_or_else(|e| panic!("cannot run mktorrent (apt-get install mktorrent): {e}"));
    assert!(
        output.status.success(),
        "mktorrent for {} failed ({}):\n{}{}",
        content.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    read_torrent(out)
}

/// The info-hash `aria2c --show-files` prints for a torrent (an independent cross-check).
///
/// # Panics
/// If aria2c cannot run or prints no info hash.
pub fn aria2_info_hash(torrent: &Path) -> String {
    let output = Command::new("aria2c")
        .arg("--show-files")
        .arg(torrent)
        .output()
        .unwrap_or_else(|e| panic!("cannot run aria2c (apt-get install aria2): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Info Hash:"))
        .map(|h| h.trim().to_ascii_lowercase())
        .unwrap_or_else(|| {
            panic!(
                "aria2c --show-files {} printed no info hash ({}):\n{stdout}{}",
                torrent.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_multi_file_torrent() {
        let data = b"d8:announce5:x:/y/4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi0e4:pathl3:sub1:beee4:name3:dir12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
        let t = parse_torrent(data, Path::new("t.torrent")).unwrap();
        assert_eq!(t.name, "dir");
        assert_eq!(t.piece_length, 16384);
        assert_eq!(
            t.files,
            vec![(PathBuf::from("dir/a"), 3), (PathBuf::from("dir/sub/b"), 0)]
        );
        assert_eq!(t.num_pieces(), 1);
        let start = data.windows(6).position(|w| w == b"4:info").unwrap() + 6;
        let info = &data[start..data.len() - 1];
        assert_eq!(t.info_hash.0, <[u8; 20]>::from(Sha1::digest(info)));
    }

    #[test]
    fn url_encoding_covers_every_byte() {
        let mut h = [0u8; 20];
        h[0] = 0xab;
        h[19] = b'z';
        let enc = InfoHash(h).url_encoded();
        assert!(enc.starts_with("%AB%00"));
        assert!(enc.ends_with("%7A"));
        assert_eq!(enc.len(), 60);
    }
}

/// Which hashes a torrent made by [`lt_make_torrent`] carries (BEP 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LtKind {
    /// v1 only.
    V1,
    /// v2 only.
    V2,
    /// Both.
    Hybrid,
}

/// A torrent made by python3-libtorrent (`tests/scripts/lt_make.py`): the [`Torrent`] (its
/// `info_hash` is the v1 hash, or the truncated v2 hash of a v2-only torrent; `files` leave
/// out pad files) and every 20-byte hash it is known by on trackers (v1, truncated v2).
///
/// # Panics
/// If libtorrent fails.
pub fn lt_make_torrent(
    content: &Path,
    announce: &str,
    kind: LtKind,
    piece_len: u32,
    out: &Path,
) -> (Torrent, Vec<InfoHash>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lt_make.py");
    let kind_arg = match kind {
        LtKind::V1 => "v1",
        LtKind::V2 => "v2",
        LtKind::Hybrid => "hybrid",
    };
    let output = Command::new(crate::clients::libtorrent::python())
        .arg(script)
        .arg(content)
        .arg(out)
        .arg(kind_arg)
        .arg(piece_len.to_string())
        .arg(announce)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
    assert!(
        output.status.success(),
        "lt_make.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("lt_make.py: {e}"));
    let hash20 = |v: &serde_json::Value| -> Option<InfoHash> {
        let s = v.as_str()?;
        let bytes: Vec<u8> = (0..20)
            .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        Some(InfoHash(bytes.try_into().ok()?))
    };
    let hashes: Vec<InfoHash> = [&j["v1"], &j["v2"]]
        .into_iter()
        .filter_map(hash20)
        .collect();
    let files = j["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| Some((PathBuf::from(f[0].as_str()?), f[1].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let torrent = Torrent {
        path: out.to_path_buf(),
        info_hash: hashes[0],
        name: j["name"].as_str().unwrap_or_default().to_owned(),
        piece_length: u64::from(piece_len),
        files,
    };
    (torrent, hashes)
}

/// The BEP 52 v2 info-hash of a `.torrent` file: SHA-256 of its raw `info` dictionary, in hex.
///
/// # Panics
/// If the file cannot be read or has no `info`.
pub fn info_hash_v2(path: &Path) -> String {
    use sha2::{Digest as _, Sha256};
    let data =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let root = bencode::decode(&data).unwrap_or_else(|e| panic!("bad torrent: {e}"));
    let info = root.get("info").expect("an info dictionary");
    hex(&Sha256::digest(&data[info.span.clone()]))
}

/// Writes the `.torrent` at `path` to `out` without its `piece layers` (as a v2 magnet link's
/// metadata is): its `announce` and its raw `info` dictionary, so the info-hashes stay.
///
/// # Panics
/// If the file cannot be read or written, or has no `announce` or `info`.
pub fn without_piece_layers(path: &Path, out: &Path) {
    let data =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let root = bencode::decode(&data).unwrap_or_else(|e| panic!("bad torrent: {e}"));
    let span = |key: &str| {
        let v = root.get(key).unwrap_or_else(|| panic!("no {key}"));
        &data[v.span.clone()]
    };
    let bytes = [
        &b"d8:announce"[..],
        span("announce"),
        b"4:info",
        span("info"),
        b"e",
    ]
    .concat();
    std::fs::write(out, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
