//! Storage against real files in temporary directories.

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use metainfo::{FileEntry, Info};
use storage::{Error, FdCache, ResumeData, Storage};

/// A torrent of the given files (relative paths, lengths) with random content.
struct Fixture {
    info: Arc<Info>,
    data: Vec<u8>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(piece_length: u32, files: &[(&str, u64)], seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut offset = 0;
        let entries: Vec<FileEntry> = files
            .iter()
            .map(|&(path, length)| {
                let e = FileEntry {
                    path: PathBuf::from(path),
                    length,
                    offset,
                };
                offset += length;
                e
            })
            .collect();
        let data: Vec<u8> = (0..offset).map(|_| rng.u8(..)).collect();
        let pieces = data
            .chunks(piece_length as usize)
            .map(storage::sha1)
            .collect();
        let info = Info {
            name: "t".into(),
            piece_length,
            pieces,
            files: entries,
            multi_file: files.len() > 1,
            private: false,
            total_length: offset,
            v2: None,
        };
        Self {
            info: Arc::new(info),
            data,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn storage(&self, cache: &Arc<FdCache>) -> Storage {
        Storage::new(
            Arc::clone(&self.info),
            self.dir.path().to_owned(),
            Arc::clone(cache),
        )
    }

    fn piece(&self, i: u32) -> &[u8] {
        let start = self.info.piece_offset(i) as usize;
        &self.data[start..start + self.info.piece_len(i) as usize]
    }

    fn path(&self, file: usize) -> PathBuf {
        self.dir.path().join(&self.info.files[file].path)
    }
}

/// Uneven files: pieces of 16 KiB cross several files, some files are empty, the last piece is short.
const UNEVEN: &[(&str, u64)] = &[
    ("t/a", 5000),
    ("t/empty1", 0),
    ("t/b", 3),
    ("t/sub/c", 70_000),
    ("t/sub/empty2", 0),
    ("t/d", 16_384),
    ("t/e", 1),
    ("t/deep/er/f", 12_345),
    ("t/empty3", 0),
];

fn check_all(s: &Storage, threads: usize) -> Vec<u32> {
    s.check(threads, &|_| {}, &AtomicBool::new(false))
        .unwrap()
        .ones()
        .collect()
}

#[test]
fn storage_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Storage>();
    assert_send_sync::<FdCache>();
}

#[test]
fn single_file_round_trip() {
    let f = Fixture::new(16_384, &[("file.bin", 100_000)], 1);
    let cache = Arc::new(FdCache::new(4));
    let s = f.storage(&cache);
    for i in (0..f.info.piece_count()).rev() {
        s.write_piece(i, f.piece(i)).unwrap();
    }
    assert_eq!(fs::read(f.path(0)).unwrap(), f.data);
    let mut buf = vec![0; 1000];
    s.read(6, 100, &mut buf).unwrap(); // inside the short last piece (100000 - 6*16384 = 1696)
    assert_eq!(buf, f.data[6 * 16_384 + 100..6 * 16_384 + 1100]);
    let mut piece = Vec::new();
    for i in 0..f.info.piece_count() {
        assert!(s.verify_piece(i, &mut piece).unwrap());
    }
    assert_eq!(check_all(&s, 2).len(), 7);
}

#[test]
fn multi_file_round_trip_across_file_boundaries() {
    let f = Fixture::new(16_384, UNEVEN, 2);
    let cache = Arc::new(FdCache::new(3));
    let s = f.storage(&cache);
    let n = f.info.piece_count();
    assert_eq!(n, 7);
    // Out of order, the way a download goes.
    for i in [3, 0, 6, 1, 5, 2, 4] {
        s.write_piece(i, f.piece(i)).unwrap();
    }
    for (i, file) in f.info.files.iter().enumerate() {
        let on_disk = fs::read(f.path(i)).unwrap();
        let start = file.offset as usize;
        assert_eq!(
            on_disk,
            &f.data[start..start + file.length as usize],
            "{:?}",
            file.path
        );
    }
    // Read back block by block, with blocks that straddle files.
    for i in 0..n {
        let len = f.info.piece_len(i);
        let mut begin = 0;
        while begin < len {
            let block = (len - begin).min(3000);
            let mut buf = vec![0; block as usize];
            s.read(i, begin, &mut buf).unwrap();
            let at = (f.info.piece_offset(i) + u64::from(begin)) as usize;
            assert_eq!(buf, &f.data[at..at + block as usize]);
            begin += block;
        }
    }
    assert_eq!(check_all(&s, 1), (0..n).collect::<Vec<_>>());
}

#[test]
fn check_finds_exactly_the_written_pieces_and_a_corrupt_byte() {
    let f = Fixture::new(16_384, UNEVEN, 3);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    let written = [0, 2, 3, 6];
    for &i in &written {
        s.write_piece(i, f.piece(i)).unwrap();
    }
    assert_eq!(check_all(&s, 1), written);
    assert_eq!(check_all(&s, 3), written);

    // Piece 0 spans a, b and the start of c; flip a byte of b.
    let b = f.path(2);
    let mut bytes = fs::read(&b).unwrap();
    bytes[1] ^= 0x40;
    fs::write(&b, bytes).unwrap();
    assert_eq!(check_all(&s, 2), [2, 3, 6]);
    assert!(!s.verify_piece(0, &mut Vec::new()).unwrap());
}

#[test]
fn check_reports_progress_and_honours_cancel() {
    let f = Fixture::new(16_384, UNEVEN, 4);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    for i in 0..f.info.piece_count() {
        s.write_piece(i, f.piece(i)).unwrap();
    }
    let seen = Mutex::new(Vec::new());
    let have = s
        .check(
            2,
            &|d| seen.lock().unwrap().push(d),
            &AtomicBool::new(false),
        )
        .unwrap();
    assert!(have.is_full());
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.iter().max(), Some(&f.info.piece_count()));

    let cancel = AtomicBool::new(true);
    assert!(matches!(
        s.check(2, &|_| {}, &cancel),
        Err(Error::Cancelled)
    ));

    // Cancelling from the progress callback stops the check.
    let cancel = AtomicBool::new(false);
    let calls = AtomicU32::new(0);
    let r = s.check(
        1,
        &|_| {
            calls.fetch_add(1, Ordering::Relaxed);
            cancel.store(true, Ordering::Relaxed);
        },
        &cancel,
    );
    assert!(matches!(r, Err(Error::Cancelled)));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn truncated_file_keeps_the_pieces_still_whole_without_panic() {
    let f = Fixture::new(16_384, UNEVEN, 5);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    for i in 0..f.info.piece_count() {
        s.write_piece(i, f.piece(i)).unwrap();
    }
    // c covers torrent bytes 5003..75003: pieces 0..=4. Truncate it while its fd is cached:
    // 5003..35003 are left, so pieces 0 and 1 are still whole (issue 15, point 5: a download
    // cut short keeps what it has), 2..=4 are not.
    fs::OpenOptions::new()
        .write(true)
        .open(f.path(3))
        .unwrap()
        .set_len(30_000)
        .unwrap();
    assert_eq!(check_all(&s, 2), [0, 1, 5, 6]);
    assert_eq!(check_all(&s, 1), [0, 1, 5, 6]);
    let mut buf = Vec::new();
    assert!(!s.verify_piece(4, &mut buf).unwrap());
    assert!(s.verify_piece(5, &mut buf).unwrap());
    let mut block = vec![0; 100];
    let err = s.read(3, 0, &mut block).unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedEof { path } if *path == f.path(3)),
        "{err:?}"
    );
    // Before the cut it still reads fine.
    s.read(0, 6000, &mut block).unwrap();
}

#[test]
fn missing_files_are_errors_not_panics() {
    let f = Fixture::new(16_384, UNEVEN, 6);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    let mut buf = vec![0; 10];
    let err = s.read(1, 0, &mut buf).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { path } if *path == f.path(3)),
        "{err:?}"
    );
    assert!(err.to_string().contains("sub/c"), "{err}");
    assert!(!s.verify_piece(1, &mut Vec::new()).unwrap());
    assert_eq!(check_all(&s, 2), Vec::<u32>::new());
    assert_eq!(s.file_stats(), vec![None; UNEVEN.len()]);
    s.sync().unwrap();
}

#[test]
fn bad_ranges_are_rejected() {
    let f = Fixture::new(16_384, UNEVEN, 7);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    let last = f.info.piece_count() - 1;
    let last_len = f.info.piece_len(last);
    let mut buf = vec![0; 2];
    for (piece, begin) in [
        (last, last_len - 1),
        (last + 1, 0),
        (0, 16_383),
        (0, u32::MAX),
    ] {
        let r = s.read(piece, begin, &mut buf);
        assert!(
            matches!(r, Err(Error::BadRange { .. })),
            "{piece} {begin}: {r:?}"
        );
    }
    assert!(matches!(s.read(0, 0, &mut []), Err(Error::BadRange { .. })));
    let short = &f.piece(0)[1..];
    assert!(matches!(
        s.write_piece(0, short),
        Err(Error::BadRange { .. })
    ));
    assert!(matches!(
        s.write_piece(last + 1, &[]),
        Err(Error::BadRange { .. })
    ));
    assert!(matches!(
        s.verify_piece(last + 1, &mut Vec::new()),
        Err(Error::BadRange { .. })
    ));
    // Nothing was created by the rejected writes.
    assert_eq!(fs::read_dir(f.dir.path()).unwrap().count(), 0);
}

#[test]
fn write_creates_sparse_full_length_files_and_never_shrinks() {
    let f = Fixture::new(16_384, UNEVEN, 8);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    // A pre-existing longer file d must keep its length.
    fs::create_dir_all(f.dir.path().join("t")).unwrap();
    fs::write(f.path(5), vec![9u8; 20_000]).unwrap();
    s.write_piece(1, f.piece(1)).unwrap(); // bytes 16384..32768: only c
    assert_eq!(fs::metadata(f.path(3)).unwrap().len(), 70_000);
    s.write_piece(4, f.piece(4)).unwrap(); // c, empty2, d
    assert_eq!(fs::metadata(f.path(5)).unwrap().len(), 20_000);
    assert!(f.path(4).exists(), "empty file at a piece edge is created");
    s.write_piece(6, f.piece(6)).unwrap();
    assert!(f.path(8).exists(), "trailing empty file is created");
    assert!(!f.path(1).exists(), "piece 0 was not written");
    s.sync().unwrap();
}

#[test]
fn fd_cache_never_exceeds_max_open_with_50_files() {
    let files: Vec<(String, u64)> = (0..50)
        .map(|i| (format!("t/{}/f{i}", i % 7), 1000 + 97 * i))
        .collect();
    let refs: Vec<(&str, u64)> = files.iter().map(|(p, l)| (p.as_str(), *l)).collect();
    let f = Fixture::new(16_384, &refs, 9);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    for i in 0..f.info.piece_count() {
        s.write_piece(i, f.piece(i)).unwrap();
        assert!(cache.open_count() <= 8);
    }
    // Concurrent readers and a check.
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let (s, f, cache) = (&s, &f, &cache);
            scope.spawn(move || {
                let mut buf = vec![0; 500];
                for i in (t..f.info.piece_count()).step_by(4) {
                    s.read(i, 1000, &mut buf).unwrap();
                    assert!(cache.open_count() <= 8);
                }
            });
        }
    });
    assert_eq!(check_all(&s, 3).len(), f.info.piece_count() as usize);
    assert!(cache.open_count() <= 8);
    assert!(cache.open_count() > 0);
    s.sync().unwrap();
    s.close();
    assert_eq!(cache.open_count(), 0);
    // Dropping a storage closes its files too.
    let other = f.storage(&cache);
    other.read(0, 0, &mut [0; 4]).unwrap();
    assert_eq!(cache.open_count(), 1);
    drop(other);
    assert_eq!(cache.open_count(), 0);
}

#[test]
fn disk_full_is_no_space() {
    let dev_full = Path::new("/dev/full");
    if !dev_full.exists() {
        return;
    }
    let f = Fixture::new(16_384, &[("full.bin", 20_000)], 10);
    std::os::unix::fs::symlink(dev_full, f.path(0)).unwrap();
    let s = f.storage(&Arc::new(FdCache::new(2)));
    let err = s.write_piece(0, f.piece(0)).unwrap_err();
    assert!(
        matches!(&err, Error::NoSpace { path } if *path == f.path(0)),
        "{err:?}"
    );
}

#[test]
fn unwritable_locations_are_errors() {
    let f = Fixture::new(16_384, &[("x/file.bin", 20_000)], 11);
    // The data root's "x" is a regular file, so the directory cannot be created.
    fs::write(f.dir.path().join("x"), b"not a dir").unwrap();
    let s = f.storage(&Arc::new(FdCache::new(2)));
    let err = s.write_piece(0, f.piece(0)).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(matches!(
        s.read(0, 0, &mut [0; 4]),
        Err(Error::NotFound { .. })
    ));
    assert!(
        s.check(1, &|_| {}, &AtomicBool::new(false))
            .unwrap()
            .count()
            == 0
    );

    // A read-only directory (only meaningful without CAP_DAC_OVERRIDE, i.e. not as root).
    use std::os::unix::fs::PermissionsExt;
    let g = Fixture::new(16_384, &[("ro/file.bin", 20_000)], 12);
    let ro = g.dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = fs::write(ro.join("probe"), b"").is_ok();
    if !privileged {
        let s = g.storage(&Arc::new(FdCache::new(2)));
        let err = s.write_piece(0, g.piece(0)).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn resume_data_matches_until_a_file_changes() {
    let f = Fixture::new(16_384, UNEVEN, 13);
    let cache = Arc::new(FdCache::new(8));
    let s = f.storage(&cache);
    for i in [0, 1, 2] {
        s.write_piece(i, f.piece(i)).unwrap();
    }
    s.sync().unwrap();
    let have = check_all(&s, 2);
    let mut bits = metainfo::Bitfield::new(f.info.piece_count());
    have.iter().for_each(|&i| {
        bits.set(i);
    });
    let resume = ResumeData {
        info_hash: [1; 20],
        piece_count: f.info.piece_count(),
        have: bits.as_bytes().to_vec(),
        files: s.file_stats(),
        uploaded: 5,
        downloaded: 6,
    };
    let path = f.dir.path().join("resume");
    resume.save(&path).unwrap();
    let loaded = ResumeData::load(&path).unwrap().unwrap();
    assert_eq!(loaded, resume);
    assert!(loaded.matches(&s.file_stats()));
    assert_eq!(loaded.bitfield().unwrap(), bits);

    // Touch file b's mtime (length unchanged).
    let b = fs::File::options().write(true).open(f.path(2)).unwrap();
    let old = b.metadata().unwrap().modified().unwrap();
    b.set_modified(old + std::time::Duration::from_secs(1))
        .unwrap();
    assert!(!loaded.matches(&s.file_stats()));

    // A truncated resume file is an error, not a panic or a silent None.
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        ResumeData::load(&path),
        Err(Error::CorruptResume { .. })
    ));
}
