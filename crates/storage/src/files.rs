//! [`Storage`]: one torrent's files on disk, read and written with positioned I/O.

use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use metainfo::Info;

use crate::error::Error;
use crate::fd_cache::FdCache;
use crate::file_map::{empty_files_between, segments};
use crate::resume::FileStat;

/// Source of [`Storage`] ids, which key the shared [`FdCache`].
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The files of one torrent under a data root. Thread-safe; share it behind an `Arc`.
///
/// Every method is blocking: async callers go through `spawn_blocking`. Files are opened lazily
/// through the shared [`FdCache`], read-only until a write needs them read-write.
pub struct Storage {
    /// The torrent's layout and piece hashes.
    pub(crate) info: Arc<Info>,
    /// Directory the torrent's relative paths are joined to.
    root: PathBuf,
    /// `root.join(entry.path)` for every file, computed once.
    paths: Vec<PathBuf>,
    /// Open files, shared with the other torrents of the session.
    files: Arc<FdCache>,
    /// This storage's key prefix in `files`.
    id: u64,
    /// Per file: written since the last [`Storage::sync`].
    dirty: Vec<AtomicBool>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("name", &self.info.name)
            .field("root", &self.root)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Storage for `info` with files at `root.join(entry.path)`. Does no I/O.
    pub fn new(info: Arc<Info>, root: PathBuf, files: Arc<FdCache>) -> Self {
        let paths = info.files.iter().map(|f| root.join(&f.path)).collect();
        let dirty = info.files.iter().map(|_| AtomicBool::new(false)).collect();
        Self {
            info,
            root,
            paths,
            files,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dirty,
        }
    }

    /// The torrent's info dictionary.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Fails when data cannot be written where it goes: an existing file without write
    /// permission, or, for a missing one, the nearest existing directory above it (a read-only
    /// mount, a directory of another user). Run before downloading, so that the mistake is
    /// found when the torrent is added, not after the first piece.
    pub fn check_writable(&self) -> Result<(), Error> {
        use nix::unistd::{AccessFlags, access};
        let mut dirs_seen = std::collections::HashSet::new();
        for index in 0..self.info.files.len() {
            let path = self.path(index);
            let target = if path.exists() {
                path.to_path_buf()
            } else {
                match path.ancestors().skip(1).find(|a| a.is_dir()) {
                    Some(dir) => dir.to_path_buf(),
                    None => continue,
                }
            };
            if target.is_dir() && !dirs_seen.insert(target.clone()) {
                continue;
            }
            if let Err(errno) = access(&target, AccessFlags::W_OK) {
                return Err(Error::io(
                    &target,
                    "writing to",
                    std::io::Error::from(errno),
                ));
            }
        }
        Ok(())
    }

    /// Full path of file `index` (the root for an index out of range, which callers never pass).
    pub(crate) fn path(&self, index: usize) -> &Path {
        self.paths.get(index).map_or(&self.root, PathBuf::as_path)
    }

    /// Reads `buf.len()` bytes at offset `begin` of `piece`, crossing file boundaries.
    ///
    /// A missing file gives [`Error::NotFound`], a short one [`Error::UnexpectedEof`], a range
    /// outside the piece [`Error::BadRange`].
    pub fn read(&self, piece: u32, begin: u32, buf: &mut [u8]) -> Result<(), Error> {
        let valid =
            u32::try_from(buf.len()).is_ok_and(|len| self.info.is_valid_range(piece, begin, len));
        if !valid {
            return Err(bad_range(piece, begin, buf.len()));
        }
        self.read_at(piece, begin, buf)
    }

    /// Tells the kernel that `piece` will be read soon (`posix_fadvise` `WILLNEED`): it starts
    /// reading it into the page cache in the background, so the read that follows does not
    /// wait for the disk. Only a hint: errors (a missing file) are left to the read.
    pub fn advise_willneed(&self, piece: u32) {
        let len = self.info.piece_len(piece);
        if len == 0 {
            return;
        }
        let offset = self.info.piece_offset(piece);
        for seg in segments(&self.info, offset, u64::from(len)) {
            if let Ok(file) = self.file(seg.file_index, false) {
                advise(&file, seg.file_offset, seg.len, Advice::POSIX_FADV_WILLNEED);
            }
        }
    }

    /// Reads `buf.len()` bytes at torrent offset `piece_offset(piece) + begin` without checking
    /// that the range stays inside the piece (a check may read several pieces at once). Pad-file
    /// gaps read as zeros.
    pub(crate) fn read_at(&self, piece: u32, begin: u32, buf: &mut [u8]) -> Result<(), Error> {
        let offset = self.info.piece_offset(piece) + u64::from(begin);
        let inside = offset
            .checked_add(buf.len() as u64)
            .is_some_and(|end| end <= self.info.total_length);
        if !inside {
            return Err(bad_range(piece, begin, buf.len()));
        }
        let mut done = 0usize;
        for seg in segments(&self.info, offset, buf.len() as u64) {
            let path = self.path(seg.file_index);
            let at = (seg.offset - offset) as usize;
            let end = at.saturating_add(seg.len as usize);
            if let Some(gap) = buf.get_mut(done..at) {
                gap.fill(0);
            }
            let chunk = buf
                .get_mut(at..end)
                .ok_or_else(|| bad_range(piece, begin, end))?;
            let file = self.file(seg.file_index, false)?;
            file.read_exact_at(chunk, seg.file_offset)
                .map_err(|e| Error::read(path, "reading", e))?;
            done = end;
        }
        if let Some(gap) = buf.get_mut(done..) {
            gap.fill(0);
        }
        Ok(())
    }

    /// Writes a whole (verified) piece: one `pwrite` per file segment (pad-file gaps are never
    /// written). Creates missing parent directories and files (sparse, extended to their full
    /// length; an existing longer file is never shrunk), and the zero-length files sitting at the
    /// piece's edges.
    pub fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), Error> {
        let len = self.info.piece_len(piece);
        if len == 0 || data.len() != len as usize {
            return Err(bad_range(piece, 0, data.len()));
        }
        let offset = self.info.piece_offset(piece);
        for seg in segments(&self.info, offset, u64::from(len)) {
            let path = self.path(seg.file_index);
            let at = (seg.offset - offset) as usize;
            let end = at.saturating_add(seg.len as usize);
            let chunk = data.get(at..end).ok_or_else(|| bad_range(piece, 0, end))?;
            let file = self.file(seg.file_index, true)?;
            file.write_all_at(chunk, seg.file_offset)
                .map_err(|e| Error::io(path, "writing", e))?;
            // Start writing the piece back now, not all at once in the completion fsync: on
            // Linux DONTNEED begins asynchronous writeback of the range (its pages stay cached
            // while it runs), so the fsync that makes a finished download durable has little
            // left to do, and a slow disk paces the download instead of stalling its end.
            advise(&file, seg.file_offset, seg.len, Advice::POSIX_FADV_DONTNEED);
            // After the write, so a concurrent sync() that cleared the flag cannot miss it.
            if let Some(flag) = self.dirty.get(seg.file_index) {
                flag.store(true, Ordering::Release);
            }
        }
        for index in empty_files_between(&self.info, offset, offset + u64::from(len)) {
            create_empty(self.path(index))?;
        }
        Ok(())
    }

    /// Reads `piece` from disk into `buf` and compares its SHA-1 with the torrent's.
    ///
    /// A missing or short file gives `Ok(false)`; other I/O errors are returned.
    pub fn verify_piece(&self, piece: u32, buf: &mut Vec<u8>) -> Result<bool, Error> {
        let len = self.info.piece_len(piece);
        if len == 0 {
            return Err(bad_range(piece, 0, 0));
        }
        buf.resize(len as usize, 0);
        match self.read_at(piece, 0, buf) {
            Ok(()) => Ok(crate::piece_hash_matches(&self.info, piece, buf)),
            Err(e) if e.is_missing_data() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Size and modification time of every file, `None` for one that is missing (resume data).
    pub fn file_stats(&self) -> Vec<Option<FileStat>> {
        self.paths
            .iter()
            .map(|p| fs::metadata(p).ok().map(|m| FileStat::from_metadata(&m)))
            .collect()
    }

    /// `fsync`s every file written since the last sync (call before saving resume data).
    ///
    /// Tries every file and returns the first error.
    pub fn sync(&self) -> Result<(), Error> {
        let mut first_err = None;
        for (index, flag) in self.dirty.iter().enumerate() {
            if !flag.swap(false, Ordering::AcqRel) {
                continue;
            }
            let path = self.path(index);
            // fsync works on the inode, so any descriptor of the file will do.
            let result = self
                .file(index, false)
                .and_then(|f| f.sync_all().map_err(|e| Error::io(path, "syncing", e)));
            if let Err(e) = result {
                // A file deleted behind our back has nothing left to sync.
                if !e.is_missing_data() {
                    flag.store(true, Ordering::Release);
                }
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes this torrent's cached files (they are reopened on the next access).
    pub fn close(&self) {
        self.files.remove_owner(self.id);
    }

    /// The open file `index` from the cache, opened read-only or read-write.
    fn file(&self, index: usize, write: bool) -> Result<Arc<File>, Error> {
        let path = self.path(index);
        self.files.get((self.id, index), write, || {
            if write {
                let length = self.info.files.get(index).map_or(0, |f| f.length);
                open_rw(path, length)
            } else {
                let file = File::open(path).map_err(|e| Error::read(path, "opening", e))?;
                // Pieces are read whole and front to back: a larger read-ahead window.
                advise(&file, 0, 0, Advice::POSIX_FADV_SEQUENTIAL);
                Ok(file)
            }
        })
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        self.close();
    }
}

use nix::fcntl::PosixFadviseAdvice as Advice;

/// A `posix_fadvise` hint on `len` bytes at `offset` (0 = to the end); failures are ignored.
fn advise(file: &File, offset: u64, len: u64, advice: Advice) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    let _ = nix::fcntl::posix_fadvise(file, offset, len, advice);
}

fn bad_range(piece: u32, begin: u32, len: usize) -> Error {
    Error::BadRange {
        piece,
        begin,
        len: len as u64,
    }
}

/// Opens `path` read-write, creating it and its parent directories when missing, and extends a
/// regular file shorter than `length` (sparsely) to `length`.
fn open_rw(path: &Path, length: u64) -> Result<File, Error> {
    let mut options = File::options();
    options.read(true).write(true).create(true).truncate(false);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| Error::io(parent, "creating directory", e))?;
            }
            options
                .open(path)
                .map_err(|e| Error::io(path, "creating", e))?
        }
        Err(e) => return Err(Error::io(path, "opening for writing", e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, "reading metadata of", e))?;
    if meta.is_file() && meta.len() < length {
        file.set_len(length)
            .map_err(|e| Error::io(path, "extending", e))?;
    }
    Ok(file)
}

/// Creates the zero-length file `path` (and its directories) unless something is already there.
fn create_empty(path: &Path) -> Result<(), Error> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, "creating directory", e))?;
    }
    File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|e| Error::io(path, "creating", e))
}
