//! [`Storage::check`]: the full hash check of a torrent's data on several threads.
//!
//! Work is handed out in batches of consecutive pieces, so each thread reads sequentially (good
//! for read-ahead) in large `pread` calls of several pieces, then hashes the pieces in its buffer.
//! Pieces touching a missing or short file are counted absent without reading anything.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use metainfo::Bitfield;

use crate::error::Error;
use crate::file_map::segments;
use crate::files::Storage;

/// Bytes read by one `pread` (rounded to whole pieces, at least one piece).
const READ_SPAN: u32 = 4 << 20;
/// Bytes of consecutive pieces a thread takes at a time.
const BATCH_SPAN: u32 = 64 << 20;

/// What the check threads share.
struct Shared<'a> {
    /// Per file: its bytes on disk (at most its torrent length).
    available: Vec<u64>,
    /// Next piece to hand out (64 bits so handing out past the end cannot wrap).
    next: AtomicU64,
    /// Pieces finished, for progress.
    done: AtomicU32,
    /// Set by a thread that hit an error so the others stop early.
    failed: AtomicBool,
    /// The caller's cancellation flag.
    cancel: &'a AtomicBool,
    /// The caller's progress callback.
    progress: &'a (dyn Fn(u32) + Sync),
    /// Pieces per batch.
    batch: u32,
    /// Pieces per read.
    per_read: u32,
}

impl Shared<'_> {
    fn stopped(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.failed.load(Ordering::Relaxed)
    }

    fn finished(&self, pieces: u32) {
        let done = self.done.fetch_add(pieces, Ordering::Relaxed) + pieces;
        (self.progress)(done);
    }
}

impl Storage {
    /// Checks every piece on `threads` threads (the caller's thread is one of them) and returns
    /// the set of pieces whose data matches its hash.
    ///
    /// `progress(pieces_done)` is called after every few MiB; `cancel` is looked at between
    /// reads and makes the check return [`Error::Cancelled`]. Missing and short files make their
    /// pieces absent; other I/O errors abort the check.
    pub fn check(
        &self,
        threads: usize,
        progress: &(dyn Fn(u32) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Bitfield, Error> {
        let started = Instant::now();
        let count = self.info.piece_count();
        let piece_length = self.info.piece_length.max(1);
        let per_read = (READ_SPAN / piece_length).max(1);
        let shared = Shared {
            available: self.available_files()?,
            next: AtomicU64::new(0),
            done: AtomicU32::new(0),
            failed: AtomicBool::new(false),
            cancel,
            progress,
            batch: (BATCH_SPAN / piece_length).max(per_read),
            per_read,
        };
        let threads = threads.clamp(1, (count as usize).max(1));
        let results: Vec<Result<Vec<u32>, Error>> = thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads)
                .filter_map(|i| {
                    thread::Builder::new()
                        .name(format!("check-{i}"))
                        .spawn_scoped(scope, || self.check_worker(&shared))
                        .inspect_err(|e| tracing::warn!("cannot start a check thread: {e}"))
                        .ok()
                })
                .collect();
            let mut results = vec![self.check_worker(&shared)];
            for helper in helpers {
                match helper.join() {
                    Ok(result) => results.push(result),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            results
        });
        let mut have = Bitfield::new(count);
        for result in results {
            for piece in result? {
                have.set(piece);
            }
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        self.check_files_without_layers(&shared.available, &mut have, cancel)?;
        tracing::debug!(
            pieces = count,
            have = have.count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "check finished"
        );
        Ok(have)
    }

    /// A v2-only torrent whose `.torrent` left out a file's piece layer cannot verify that
    /// file's pieces one by one, but the whole file can be checked against its root: the layer
    /// is computed from the data, and when it hashes to the root every piece of the file is good.
    fn check_files_without_layers(
        &self,
        available: &[u64],
        have: &mut Bitfield,
        cancel: &AtomicBool,
    ) -> Result<(), Error> {
        let info = &self.info;
        let Some(v2) = info.v2.as_ref().filter(|_| !info.has_v1()) else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for f in v2.files.iter().filter(|f| f.needs_layer()) {
            let Some(entry) = info.files.get(f.file) else {
                continue;
            };
            if available.get(f.file).copied().unwrap_or(0) < entry.length {
                continue;
            }
            let mut layer = Vec::with_capacity(f.pieces as usize);
            for k in 0..f.pieces {
                if cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let piece = f.first_piece + k;
                let start = u64::from(k) * u64::from(info.piece_length);
                let len = entry
                    .length
                    .saturating_sub(start)
                    .min(u64::from(info.piece_length)) as usize;
                buf.resize(len, 0);
                match self.read_at(piece, 0, &mut buf) {
                    Ok(()) => layer.push(metainfo::merkle::piece_hash(&buf, info.piece_length)),
                    Err(e) if e.is_missing_data() => break,
                    Err(e) => return Err(e),
                }
            }
            // A whole file that hashes to its root gives its layer to the torrent too, so its
            // pieces can be served to v2 peers asking for hashes and verified from here on.
            if f.learn_layer(layer, info.piece_length) {
                for k in 0..f.pieces {
                    have.set(f.first_piece + k);
                }
            }
        }
        Ok(())
    }

    /// Per file: how many of its bytes are on disk (a regular file's length, at most the
    /// torrent's; 0 when missing). A short file (a download cut short) still has the pieces
    /// that lie wholly in what is there.
    fn available_files(&self) -> Result<Vec<u64>, Error> {
        let info = &self.info;
        (0..info.files.len())
            .map(|index| {
                let length = info.files.get(index).map_or(0, |f| f.length);
                let path = self.path(index);
                match std::fs::metadata(path) {
                    Ok(meta) if meta.is_file() => Ok(meta.len().min(length)),
                    Ok(_) => Ok(0),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                        ) =>
                    {
                        Ok(0)
                    }
                    Err(e) => Err(Error::io(path, "reading metadata of", e)),
                }
            })
            .collect()
    }

    /// True when every byte of `piece` is on disk.
    fn readable(&self, shared: &Shared<'_>, piece: u32) -> bool {
        let info = &self.info;
        segments(
            info,
            info.piece_offset(piece),
            u64::from(info.piece_len(piece)),
        )
        .all(|s| {
            shared
                .available
                .get(s.file_index)
                .is_some_and(|&have| s.file_offset.saturating_add(s.len) <= have)
        })
    }

    /// One check thread: takes batches until none are left; returns the good pieces it found.
    fn check_worker(&self, shared: &Shared<'_>) -> Result<Vec<u32>, Error> {
        let result = self.check_batches(shared);
        if result.is_err() {
            shared.failed.store(true, Ordering::Relaxed);
        }
        result
    }

    fn check_batches(&self, shared: &Shared<'_>) -> Result<Vec<u32>, Error> {
        let info = &self.info;
        let count = info.piece_count();
        let mut good = Vec::new();
        let mut buf = Vec::new();
        loop {
            let start = shared
                .next
                .fetch_add(u64::from(shared.batch), Ordering::Relaxed);
            let Ok(start) = u32::try_from(start) else {
                return Ok(good);
            };
            if start >= count {
                return Ok(good);
            }
            let end = start.saturating_add(shared.batch).min(count);
            let mut first = start;
            while first < end {
                if shared.stopped() {
                    return Ok(good);
                }
                if !self.readable(shared, first) {
                    let mut next = first + 1;
                    while next < end && !self.readable(shared, next) {
                        next += 1;
                    }
                    shared.finished(next - first);
                    first = next;
                    continue;
                }
                let mut next = first + 1;
                while next < end && next - first < shared.per_read && self.readable(shared, next) {
                    next += 1;
                }
                self.check_run(first, next, &mut buf, &mut good)?;
                shared.finished(next - first);
                first = next;
            }
        }
    }

    /// Reads pieces `first..next` in one go and records which match their hashes.
    fn check_run(
        &self,
        first: u32,
        next: u32,
        buf: &mut Vec<u8>,
        good: &mut Vec<u32>,
    ) -> Result<(), Error> {
        let info = &self.info;
        let base = info.piece_offset(first);
        let last = next.saturating_sub(1);
        let span = info.piece_offset(last) + u64::from(info.piece_len(last)) - base;
        buf.resize(span as usize, 0);
        match self.read_at(first, 0, buf) {
            Ok(()) => {
                for piece in first..next {
                    let from = (info.piece_offset(piece) - base) as usize;
                    let to = from + info.piece_len(piece) as usize;
                    if buf
                        .get(from..to)
                        .is_some_and(|data| crate::piece_hash_matches(info, piece, data))
                    {
                        good.push(piece);
                    }
                }
                Ok(())
            }
            // A file changed under us since we looked: fall back to piece by piece.
            Err(e) if e.is_missing_data() => {
                for piece in first..next {
                    if self.verify_piece(piece, buf)? {
                        good.push(piece);
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
