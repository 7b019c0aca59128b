//! BEP 47 pad files (gaps between `Info::files`) and attributes, against real files.

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use metainfo::{FileAttrs, FileEntry, Info, Symlink};
use storage::{FdCache, Storage};

const PL: u32 = 16 * 1024;

/// Files `t/a` (5000 bytes, padded to 16 KiB), `t/sub/b` (20000, padded to 48 KiB) and `t/c`
/// (1 byte, with a trailing pad to 64 KiB) as libtorrent lays out a hybrid: the byte stream with
/// zeros in the pads, and the Info whose files leave the pads out.
fn padded() -> (Arc<Info>, Vec<u8>) {
    let layout = [
        ("t/a", 5000u64, 0u64),
        ("t/sub/b", 20_000, 16_384),
        ("t/c", 1, 49_152),
    ];
    let total = 65_536u64;
    let mut rng = fastrand::Rng::with_seed(47);
    let mut data = vec![0u8; total as usize];
    let files = layout
        .iter()
        .map(|&(path, length, offset)| {
            for b in &mut data[offset as usize..(offset + length) as usize] {
                *b = rng.u8(1..);
            }
            FileEntry {
                path: path.into(),
                length,
                offset,
            }
        })
        .collect();
    let info = Info {
        name: "t".into(),
        piece_length: PL,
        pieces: data.chunks(PL as usize).map(storage::sha1).collect(),
        files,
        multi_file: true,
        private: false,
        total_length: total,
        v2: None,
    };
    (Arc::new(info), data)
}

fn check(s: &Storage) -> u32 {
    s.check(2, &|_| {}, &AtomicBool::new(false))
        .unwrap()
        .count()
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn data_in_place_checks_complete_without_pad_files() {
    let (info, data) = padded();
    let dir = tempfile::tempdir().unwrap();
    for f in &info.files {
        let path = dir.path().join(&f.path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            &data[f.offset as usize..(f.offset + f.length) as usize],
        )
        .unwrap();
    }
    let s = Storage::new(
        Arc::clone(&info),
        dir.path().into(),
        Arc::new(FdCache::new(8)),
    );
    assert_eq!(check(&s), info.piece_count());
    // Reads across a pad give zeros; the pad is never looked up on disk.
    let mut buf = vec![1u8; PL as usize];
    s.read(0, 0, &mut buf).unwrap();
    assert_eq!(buf, data[..PL as usize]);
    assert!(buf[5000..].iter().all(|&b| b == 0));
    assert_eq!(
        tree(dir.path()),
        ["t", "t/a", "t/c", "t/sub", "t/sub/b"].map(PathBuf::from)
    );
}

#[test]
fn writing_pieces_never_creates_pad_files() {
    let (info, data) = padded();
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::new(
        Arc::clone(&info),
        dir.path().into(),
        Arc::new(FdCache::new(8)),
    );
    for p in 0..info.piece_count() {
        let start = info.piece_offset(p) as usize;
        s.write_piece(p, &data[start..start + info.piece_len(p) as usize])
            .unwrap();
    }
    s.sync().unwrap();
    assert_eq!(
        tree(dir.path()),
        ["t", "t/a", "t/c", "t/sub", "t/sub/b"].map(PathBuf::from)
    );
    for f in &info.files {
        let on_disk = fs::read(dir.path().join(&f.path)).unwrap();
        assert_eq!(
            on_disk,
            data[f.offset as usize..(f.offset + f.length) as usize]
        );
    }
    assert_eq!(check(&s), info.piece_count());
    // A piece made only of a trailing pad and a missing file still counts as absent.
    fs::remove_file(dir.path().join("t/c")).unwrap();
    assert_eq!(check(&s), info.piece_count() - 1);
}

#[test]
fn attributes_set_executable_bits_and_create_safe_symlinks() {
    let (info, data) = padded();
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::new(
        Arc::clone(&info),
        dir.path().into(),
        Arc::new(FdCache::new(8)),
    );
    for p in 0..info.piece_count() {
        let start = info.piece_offset(p) as usize;
        s.write_piece(p, &data[start..start + info.piece_len(p) as usize])
            .unwrap();
    }
    let a = dir.path().join("t/a");
    fs::set_permissions(&a, fs::Permissions::from_mode(0o640)).unwrap();
    let attrs = [
        FileAttrs {
            executable: true,
            hidden: false,
        },
        FileAttrs::default(),
        FileAttrs::default(),
    ];
    let links = [
        Symlink {
            path: "t/sub/link".into(),
            target: "t/a".into(),
        },
        Symlink {
            path: "t/c".into(),
            target: "t/a".into(),
        },
    ];
    let warnings = s.apply_attributes(&attrs, &links).unwrap();
    assert_eq!(
        fs::metadata(&a).unwrap().permissions().mode() & 0o777,
        0o750
    );
    let b = fs::metadata(dir.path().join("t/sub/b")).unwrap();
    assert_eq!(b.permissions().mode() & 0o111, 0);
    let link = dir.path().join("t/sub/link");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("../a"));
    assert_eq!(fs::read(&link).unwrap(), fs::read(&a).unwrap());
    // An existing file is never replaced by a link.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(!dir.path().join("t/c").is_symlink());
    // Applying again changes nothing and warns the same.
    assert_eq!(s.apply_attributes(&attrs, &links).unwrap(), warnings);
}
