//! [`Swarm`]: the usual set-up of a test — scratch dir, payload, torrent, tracker — and the
//! final check that a download is byte-for-byte the source.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{Proc, poll_until};
use crate::torrent::{Torrent, make_torrent};
use crate::tracker::Opentracker;
use crate::{Scratch, payload, sha256_file};

/// A tracker and one torrent it serves, made from generated content.
#[derive(Debug)]
pub struct Swarm {
    /// The torrent everybody shares.
    pub torrent: Torrent,
    /// The original content (a file or a directory) the torrent was made from; never handed
    /// to a client, so nothing can modify it.
    pub source: PathBuf,
    /// The whitelisted tracker in the torrent's announce URL.
    pub tracker: Opentracker,
    /// Every 20-byte hash the torrent is known by (a hybrid's v1 and truncated v2 hashes).
    pub hashes: Vec<crate::InfoHash>,
    /// Last, so it is dropped after the processes that use it.
    pub scratch: Scratch,
}

impl Swarm {
    /// A single file of `size` pseudo-random bytes named `<test>.bin`, in pieces of
    /// `piece_len` bytes, made with mktorrent.
    pub fn single_file(test: &str, size: u64, piece_len: u32) -> Swarm {
        Swarm::build(
            test,
            |src| payload(&src.join(format!("{test}.bin")), size, size ^ 0x5eed),
            |content, url, out| make_torrent(content, url, piece_len, out),
        )
    }

    /// A directory `<test>/` holding one file per entry of `sizes` (some in a subdirectory,
    /// zero sizes allowed), in pieces of `piece_len` bytes, made with mktorrent. Pieces span
    /// file boundaries wherever the sizes are not multiples of `piece_len`.
    pub fn multi_file(test: &str, sizes: &[u64], piece_len: u32) -> Swarm {
        Swarm::build(
            test,
            |src| {
                let root = src.join(test);
                for (i, &size) in sizes.iter().enumerate() {
                    let rel = if i % 2 == 0 {
                        format!("file{i}.dat")
                    } else {
                        format!("sub/file{i}.dat")
                    };
                    payload(&root.join(rel), size, 1000 + i as u64);
                }
                root
            },
            |content, url, out| make_torrent(content, url, piece_len, out),
        )
    }

    /// A directory `<test>/` of files with odd sizes, a 1-byte file and an empty one, in a
    /// torrent made by python3-libtorrent of `kind` (v1, v2 or hybrid, BEP 52), with every
    /// hash it is known by allowed on the tracker.
    pub fn libtorrent(test: &str, kind: crate::LtKind, piece_len: u32) -> Swarm {
        let scratch = Scratch::new(test);
        let mut tracker = Opentracker::start(&scratch.path().join("tracker"), &[]);
        let src = scratch.dir("src");
        let root = src.join(test);
        for (i, (rel, size)) in [
            ("a.bin", 1_000_003u64),
            ("one", 1),
            ("sub/b.bin", 3 * u64::from(piece_len)),
            ("sub/c.bin", 777_777),
            ("sub/empty", 0),
            ("z.bin", u64::from(piece_len) + 1),
        ]
        .into_iter()
        .enumerate()
        {
            payload(&root.join(rel), size, 52 + i as u64);
        }
        let torrent_path = scratch.path().join(format!("{test}.torrent"));
        let (torrent, hashes) = crate::lt_make_torrent(
            &root,
            &tracker.announce_url(),
            kind,
            piece_len,
            &torrent_path,
        );
        tracker.allow(&hashes);
        Swarm {
            torrent,
            source: root,
            tracker,
            hashes,
            scratch,
        }
    }

    /// The general form: `write_content(src_dir)` creates the content and returns its path;
    /// `make(content, announce_url, torrent_path)` writes a torrent for it. The tracker is
    /// started first (the announce URL goes into the torrent) and then told the info-hash.
    pub fn build(
        test: &str,
        write_content: impl FnOnce(&Path) -> PathBuf,
        make: impl FnOnce(&Path, &str, &Path) -> Torrent,
    ) -> Swarm {
        let scratch = Scratch::new(test);
        let mut tracker = Opentracker::start(&scratch.path().join("tracker"), &[]);
        let source = write_content(&scratch.dir("src"));
        let torrent_path = scratch.path().join(format!("{test}.torrent"));
        let torrent = make(&source, &tracker.announce_url(), &torrent_path);
        tracker.allow(&[torrent.info_hash]);
        Swarm {
            hashes: vec![torrent.info_hash],
            torrent,
            source,
            tracker,
            scratch,
        }
    }

    /// The tracker's announce URL.
    pub fn announce_url(&self) -> String {
        self.tracker.announce_url()
    }

    /// A new directory `name` in the scratch dir holding a copy of the complete data, as a
    /// seed's data directory.
    pub fn seed_dir(&self, name: &str) -> PathBuf {
        let dir = self.scratch.dir(name);
        copy_tree(&self.source, &self.torrent.data_in(&dir));
        dir
    }

    /// A new empty directory `name` in the scratch dir, as a leecher's data directory.
    pub fn empty_dir(&self, name: &str) -> PathBuf {
        self.scratch.dir(name)
    }

    /// Waits until the tracker lists `n` seeds; see [`Opentracker::wait_for_seeds`].
    pub fn wait_for_seeds(&self, n: i64, peer: &mut Proc) {
        self.tracker
            .wait_for_seeds(&self.torrent.info_hash, n, peer);
    }

    /// Asserts that the data in data directory `dir` is exactly the source (SHA-256 of every file).
    pub fn assert_complete(&self, dir: &Path) {
        assert_same_content(&self.source, &self.torrent.data_in(dir));
    }

    /// Waits until the data in `dir` is exactly the source, for a client that does not signal
    /// completion itself (a seeding `btmirror get`). Checks every half second.
    ///
    /// # Panics
    /// If `peer` exits first or after `timeout`, with the last difference and `peer`'s log.
    pub fn wait_complete(&self, dir: &Path, peer: &mut Proc, timeout: Duration) {
        let data = self.torrent.data_in(dir);
        let mut last = String::new();
        let outcome = poll_until(timeout, Duration::from_millis(500), || {
            match same_content(&self.source, &data) {
                Ok(()) => return Some(Ok(())),
                Err(e) => last = e,
            }
            peer.try_status().map(Err)
        });
        match outcome {
            Some(Ok(())) => {}
            Some(Err(status)) => panic!(
                "{}",
                peer.failure(&format!(
                    "exited ({status}) before its data was complete: {last}"
                ))
            ),
            None => panic!(
                "{}",
                peer.failure(&format!("data not complete after {timeout:?}: {last}"))
            ),
        }
    }
}

/// Asserts that `actual` has the same content as `expected`: the same SHA-256 for a file, and
/// for a directory the same SHA-256 for every file in it (extra files in `actual` are allowed).
///
/// # Panics
/// On any difference, naming the first file that differs.
pub fn assert_same_content(expected: &Path, actual: &Path) {
    if let Err(e) = same_content(expected, actual) {
        panic!("{e}");
    }
}

/// [`assert_same_content`] as a `Result`: `Err` names the first difference.
pub fn same_content(expected: &Path, actual: &Path) -> Result<(), String> {
    if expected.is_dir() {
        let mut entries = Vec::new();
        let list = std::fs::read_dir(expected)
            .map_err(|e| format!("cannot list {}: {e}", expected.display()))?;
        for entry in list {
            entries.push(
                entry
                    .map_err(|e| format!("cannot list {}: {e}", expected.display()))?
                    .path(),
            );
        }
        entries.sort();
        for entry in entries {
            let name = entry.file_name().unwrap_or_default();
            same_content(&entry, &actual.join(name))?;
        }
        return Ok(());
    }
    let want_len = std::fs::metadata(expected)
        .map_err(|e| format!("cannot stat {}: {e}", expected.display()))?
        .len();
    let got =
        std::fs::metadata(actual).map_err(|e| format!("{} is missing: {e}", actual.display()))?;
    if !got.is_file() {
        return Err(format!("{} is not a file", actual.display()));
    }
    if got.len() != want_len {
        return Err(format!(
            "{} has {} bytes, expected {want_len}",
            actual.display(),
            got.len()
        ));
    }
    if sha256_file(actual) != sha256_file(expected) {
        return Err(format!(
            "SHA-256 of {} differs from the source {}",
            actual.display(),
            expected.display()
        ));
    }
    Ok(())
}

/// Copies a file, or a directory recursively, to `to` (parents created).
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
        let entries = std::fs::read_dir(from)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()));
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    }
}
