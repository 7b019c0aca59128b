//! `btmirror make` writes torrents other clients accept, and `btmirror check` verifies data
//! against them.

use std::path::Path;

use btmirror_e2e::{
    Aria2, Btmirror, Libtorrent, Swarm, TRANSFER_TIMEOUT, Torrent, aria2_info_hash, free_port,
    payload,
};

use crate::{MULTI_PIECE, MULTI_SIZES, PIECE, SIZE};

/// A swarm whose torrent was made by `btmirror make --piece-size piece` from `write_content`.
fn made_by_btmirror(
    test: &str,
    piece: u32,
    write_content: impl FnOnce(&Path) -> std::path::PathBuf,
) -> Swarm {
    let swarm = Swarm::build(test, write_content, |content, url, out| {
        Btmirror::make(content, url, out, Some(piece))
    });
    assert_eq!(
        aria2_info_hash(&swarm.torrent.path),
        swarm.torrent.info_hash.hex(),
        "aria2c reads another info-hash from the torrent btmirror made"
    );
    assert_eq!(swarm.torrent.piece_length, u64::from(piece));
    swarm
}

/// Every 40-hex-digit word in `text`.
fn hex_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 40 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// `btmirror check` passes on complete data, any info-hash it prints is the torrent's, and a
/// damaged copy gets a different verdict.
fn assert_check_verifies(torrent: &Torrent, dir: &Path, scratch: &Path) {
    let good = Btmirror::check(torrent, dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(
        good.status.success(),
        "btmirror check failed ({}):\n{text}",
        good.status
    );
    for word in hex_words(&text) {
        assert_eq!(
            word,
            torrent.info_hash.hex(),
            "btmirror check printed another info-hash:\n{text}"
        );
    }

    let damaged = scratch.join("damaged");
    let (first, len) = torrent
        .files
        .iter()
        .find(|(_, len)| *len > 0)
        .cloned()
        .unwrap_or_else(|| panic!("torrent {} has no data", torrent.name));
    let mut bytes = std::fs::read(dir.join(&first)).unwrap_or_else(|e| panic!("read: {e}"));
    let middle = usize::try_from(len / 2).unwrap_or(0);
    bytes[middle] ^= 0xff;
    for (rel, _) in &torrent.files {
        let to = damaged.join(rel);
        std::fs::create_dir_all(to.parent().unwrap_or(&damaged))
            .unwrap_or_else(|e| panic!("mkdir: {e}"));
        if *rel == first {
            std::fs::write(&to, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
        } else {
            std::fs::copy(dir.join(rel), &to).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
    let bad = Btmirror::check(torrent, &damaged);
    assert!(
        bad.status != good.status || bad.stdout != good.stdout,
        "btmirror check reports the same for damaged data ({}):\n{}",
        bad.status,
        String::from_utf8_lossy(&bad.stdout)
    );
}

#[test]
fn file_torrent_made_by_btmirror_goes_from_aria2_to_libtorrent() {
    let swarm = made_by_btmirror("make-file", PIECE, |src| {
        payload(&src.join("made.bin"), SIZE, 42)
    });
    assert_eq!(swarm.torrent.files, vec![("made.bin".into(), SIZE)]);
    let seed_dir = swarm.seed_dir("seed");
    let mut seed = Aria2::seed(&swarm.torrent, &seed_dir, free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert_check_verifies(&swarm.torrent, &dir, swarm.scratch.path());
}

#[test]
fn directory_torrent_made_by_btmirror_goes_from_libtorrent_to_aria2() {
    let swarm = made_by_btmirror("make-dir", MULTI_PIECE, |src| {
        let root = src.join("made-dir");
        for (i, &size) in MULTI_SIZES.iter().enumerate() {
            let rel = if i % 3 == 0 {
                format!("a/b/f{i}")
            } else {
                format!("f{i}")
            };
            payload(&root.join(rel), size, 77 + i as u64);
        }
        root
    });
    assert_eq!(swarm.torrent.files.len(), MULTI_SIZES.len());
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Aria2::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert_check_verifies(&swarm.torrent, &dir, swarm.scratch.path());
}
