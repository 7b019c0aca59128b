//! Times `Storage::check` on a file of random data.
//!
//! `cargo run --release -p btmirror-storage --example check_bench -- SIZE_MIB`
//!
//! Creates SIZE_MIB (default 256) MiB of random data in a temporary directory, builds an `Info`
//! with 1 MiB pieces, then checks it with 1 and 2 threads (each twice) and prints MiB/s. The file
//! was just written, so it is (mostly) in the page cache: this measures hashing plus `pread`
//! copying, not the disk.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use metainfo::{FileEntry, Info};
use storage::{FdCache, Storage};

const PIECE: u32 = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 256,
    };
    let dir = tempfile::tempdir()?;
    let name = "bench.bin";
    let mut file = std::fs::File::create(dir.path().join(name))?;
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut piece = vec![0u8; PIECE as usize];
    let mut pieces = Vec::new();
    let started = Instant::now();
    for _ in 0..mib {
        rng.fill(&mut piece);
        pieces.push(storage::sha1(&piece));
        file.write_all(&piece)?;
    }
    drop(file);
    println!(
        "wrote and hashed {mib} MiB in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    for _ in 0..16 {
        std::hint::black_box(storage::sha1(&piece));
    }
    println!(
        "sha1 alone, 1 thread: {:.0} MiB/s",
        16.0 / started.elapsed().as_secs_f64()
    );

    let total_length = mib * u64::from(PIECE);
    let info = Info {
        name: name.into(),
        piece_length: PIECE,
        pieces: pieces.into(),
        files: vec![FileEntry {
            path: name.into(),
            length: total_length,
            offset: 0,
        }],
        multi_file: false,
        private: false,
        total_length,
        v2: None,
    };
    let storage = Storage::new(
        Arc::new(info),
        dir.path().to_owned(),
        Arc::new(FdCache::new(16)),
    );
    let cancel = AtomicBool::new(false);
    for threads in [1, 2, 1, 2] {
        let started = Instant::now();
        let have = storage.check(threads, &|_| {}, &cancel)?;
        let secs = started.elapsed().as_secs_f64();
        if !have.is_full() {
            return Err(format!("check found only {} of {mib} pieces", have.count()).into());
        }
        println!(
            "check, {threads} thread(s): {mib} MiB in {secs:.3} s = {:.0} MiB/s",
            mib as f64 / secs
        );
    }
    Ok(())
}
