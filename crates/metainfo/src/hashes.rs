//! What a seeding torrent need not keep in memory: [`PieceHashes`], the SHA-1 of every piece,
//! and [`InfoBytes`], the raw info dictionary (20 bytes per piece each).
//!
//! Only a data check, a download or a re-verify needs the hashes, and only a peer that started
//! from a magnet link needs the raw dictionary. When the torrent came from a file
//! ([`crate::Metainfo::with_hash_source`]) both are released and read again from that file the
//! next time something asks.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};

/// Reads the hashes again (`None` when the source is gone or no longer the same torrent).
pub type HashLoader = Arc<dyn Fn() -> Option<Vec<[u8; 20]>> + Send + Sync>;

/// The piece hashes of a torrent, in order; loaded on demand when released.
pub struct PieceHashes {
    count: u32,
    loaded: RwLock<Option<Arc<[[u8; 20]]>>>,
    reload: Option<HashLoader>,
}

impl PieceHashes {
    /// Hashes held in memory, with no source to reload them from (never released).
    pub fn new(hashes: Vec<[u8; 20]>) -> Self {
        Self {
            count: u32::try_from(hashes.len()).unwrap_or(u32::MAX),
            loaded: RwLock::new(Some(hashes.into())),
            reload: None,
        }
    }

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True for a torrent without pieces.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sets where released hashes are read again from.
    pub fn set_loader(&mut self, loader: HashLoader) {
        self.reload = Some(loader);
    }

    /// All hashes, loading them first when released; `None` when they cannot be read again.
    /// The returned `Arc` keeps them alive for as long as the caller holds it.
    pub fn load(&self) -> Option<Arc<[[u8; 20]]>> {
        if let Some(h) = self.read().as_ref() {
            return Some(h.clone());
        }
        let fresh: Arc<[[u8; 20]]> = (self.reload.as_ref()?)()
            .filter(|v| v.len() == self.count as usize)?
            .into();
        let mut slot = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        Some(slot.get_or_insert(fresh).clone())
    }

    /// The hash of piece `i` (loading the hashes when released).
    pub fn get(&self, i: usize) -> Option<[u8; 20]> {
        if let Some(h) = self.read().as_ref() {
            return h.get(i).copied();
        }
        self.load()?.get(i).copied()
    }

    /// Drops the hashes from memory when they can be read again; true when they were dropped.
    pub fn release(&self) -> bool {
        if self.reload.is_none() {
            return false;
        }
        let mut slot = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        slot.take().is_some()
    }

    /// True while the hashes are in memory.
    pub fn is_loaded(&self) -> bool {
        self.read().is_some()
    }

    /// A copy of all hashes (empty when they cannot be loaded).
    pub fn to_vec(&self) -> Vec<[u8; 20]> {
        self.load().map(|h| h.to_vec()).unwrap_or_default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Arc<[[u8; 20]]>>> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `.torrent` at `path` parsed again, when its info-hash is still `expected`.
fn reparse(path: &std::path::Path, expected: crate::InfoHash) -> Option<crate::Metainfo> {
    let bytes = std::fs::read(path).ok()?;
    let meta = crate::Metainfo::from_bytes(&bytes).ok()?;
    (meta.info_hash == expected).then_some(meta)
}

/// A loader that parses the `.torrent` at `path` again and accepts it only when its info-hash
/// is still `expected`.
pub(crate) fn file_loader(path: PathBuf, expected: crate::InfoHash) -> HashLoader {
    Arc::new(move || reparse(&path, expected).map(|m| m.info.pieces.to_vec()))
}

/// Reads the raw info dictionary again (`None` when the source is gone or another torrent).
pub type InfoBytesLoader = Arc<dyn Fn() -> Option<Arc<[u8]>> + Send + Sync>;

/// The raw `info` dictionary as it appears in the `.torrent` (what BEP 9 serves to peers that
/// started from a magnet link); read again from its file on demand when released.
///
/// A released dictionary that somebody loaded stays shared, not loaded twice, for as long as
/// any holder keeps its `Arc`; it leaves memory with the last one.
pub struct InfoBytes {
    len: usize,
    held: RwLock<Option<Arc<[u8]>>>,
    lent: Mutex<Option<Weak<[u8]>>>,
    reload: Option<InfoBytesLoader>,
}

impl InfoBytes {
    /// Bytes held in memory, with no source to reload them from (never released).
    pub fn new(bytes: Arc<[u8]>) -> Self {
        Self {
            len: bytes.len(),
            held: RwLock::new(Some(bytes)),
            lent: Mutex::new(None),
            reload: None,
        }
    }

    /// Length in bytes (known without loading).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty dictionary (never the case for a parsed torrent).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets where released bytes are read again from.
    pub fn set_loader(&mut self, loader: InfoBytesLoader) {
        self.reload = Some(loader);
    }

    /// The bytes, read again when released; `None` when they cannot be (the file is gone, or
    /// is another torrent now). Keep the `Arc` only as long as it is needed.
    pub fn load(&self) -> Option<Arc<[u8]>> {
        if let Some(b) = self.held.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Some(b.clone());
        }
        let mut lent = self.lent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = lent.as_ref().and_then(Weak::upgrade) {
            return Some(b);
        }
        let fresh = (self.reload.as_ref()?)().filter(|b| b.len() == self.len)?;
        *lent = Some(Arc::downgrade(&fresh));
        Some(fresh)
    }

    /// Drops the bytes from memory when they can be read again; true when they were dropped.
    pub fn release(&self) -> bool {
        if self.reload.is_none() {
            return false;
        }
        let mut held = self.held.write().unwrap_or_else(|p| p.into_inner());
        held.take().is_some()
    }

    /// True while the bytes are in memory (held, or lent to somebody).
    pub fn is_loaded(&self) -> bool {
        self.held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
            || self
                .lent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_some_and(|w| w.strong_count() > 0)
    }

    /// A copy of the bytes (empty when they cannot be loaded).
    pub fn to_vec(&self) -> Vec<u8> {
        self.load().map(|b| b.to_vec()).unwrap_or_default()
    }
}

/// A loader of the raw info dictionary from the `.torrent` at `path` (see [`file_loader`]).
pub(crate) fn file_info_loader(path: PathBuf, expected: crate::InfoHash) -> InfoBytesLoader {
    Arc::new(move || reparse(&path, expected).and_then(|m| m.info_bytes.load()))
}

impl Clone for InfoBytes {
    fn clone(&self) -> Self {
        Self {
            len: self.len,
            held: RwLock::new(self.held.read().unwrap_or_else(|p| p.into_inner()).clone()),
            lent: Mutex::new(self.lent.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            reload: self.reload.clone(),
        }
    }
}

impl PartialEq for InfoBytes {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.load() == other.load()
    }
}

impl Eq for InfoBytes {}

impl fmt::Debug for InfoBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfoBytes")
            .field("len", &self.len)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl From<Vec<[u8; 20]>> for PieceHashes {
    fn from(v: Vec<[u8; 20]>) -> Self {
        Self::new(v)
    }
}

impl FromIterator<[u8; 20]> for PieceHashes {
    fn from_iter<I: IntoIterator<Item = [u8; 20]>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

impl Clone for PieceHashes {
    fn clone(&self) -> Self {
        Self {
            count: self.count,
            loaded: RwLock::new(self.read().clone()),
            reload: self.reload.clone(),
        }
    }
}

impl PartialEq for PieceHashes {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.to_vec() == other.to_vec()
    }
}

impl Eq for PieceHashes {}

impl PartialEq<Vec<[u8; 20]>> for PieceHashes {
    fn eq(&self, other: &Vec<[u8; 20]>) -> bool {
        self.to_vec() == *other
    }
}

impl fmt::Debug for PieceHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PieceHashes")
            .field("count", &self.count)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_hashes_come_back_from_their_source() {
        let mut h = PieceHashes::new(vec![[1; 20], [2; 20]]);
        assert!(!h.release(), "without a source they stay");
        h.set_loader(Arc::new(|| Some(vec![[1; 20], [2; 20]])));
        assert!(h.release() && !h.is_loaded());
        assert_eq!(h.get(1), Some([2; 20]));
        assert!(h.is_loaded() && h.len() == 2);
        h.set_loader(Arc::new(|| Some(vec![[1; 20]])));
        assert!(h.release());
        assert_eq!(
            h.get(0),
            None,
            "a source with another piece count is refused"
        );
    }

    #[test]
    fn a_torrent_from_a_file_reads_its_hashes_again_only_while_it_is_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.bin");
        std::fs::write(&data, vec![7u8; 100_000]).unwrap();
        let opts = crate::CreateOptions {
            piece_length: Some(16384),
            ..crate::CreateOptions::default()
        };
        let bytes = crate::create_torrent(&data, &opts, &|_, _| {}).unwrap();
        let file = dir.path().join("d.torrent");
        std::fs::write(&file, &bytes).unwrap();
        let plain = crate::Metainfo::from_bytes(&bytes).unwrap();
        let meta = crate::Metainfo::from_bytes(&bytes)
            .unwrap()
            .with_hash_source(file.clone());
        assert!(!meta.info.pieces.is_loaded(), "released until needed");
        assert_eq!(meta.info.piece_count(), 7);
        assert_eq!(meta.info.pieces.to_vec(), plain.info.pieces.to_vec());
        assert!(meta.info.pieces.release());
        std::fs::write(&file, b"d4:infod4:name1:xee").unwrap();
        assert_eq!(
            meta.info.pieces.get(0),
            None,
            "another file gives no hashes"
        );
    }

    #[test]
    fn the_raw_info_dictionary_is_read_again_shared_while_held_and_gone_after() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.bin");
        std::fs::write(&data, vec![7u8; 100_000]).unwrap();
        let bytes =
            crate::create_torrent(&data, &crate::CreateOptions::default(), &|_, _| {}).unwrap();
        let file = dir.path().join("d.torrent");
        std::fs::write(&file, &bytes).unwrap();
        let plain = crate::Metainfo::from_bytes(&bytes).unwrap();
        let meta = crate::Metainfo::from_bytes(&bytes)
            .unwrap()
            .with_hash_source(file.clone());
        assert!(!meta.info_bytes.is_loaded(), "released until needed");
        assert_eq!(meta.info_bytes.len(), plain.info_bytes.len());
        let a = meta.info_bytes.load().unwrap();
        assert_eq!(*a, *plain.info_bytes.load().unwrap());
        let b = meta.info_bytes.load().unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one copy while somebody holds it");
        drop((a, b));
        assert!(!meta.info_bytes.is_loaded(), "gone with the last holder");
        std::fs::write(&file, b"d4:infod4:name1:xee").unwrap();
        assert_eq!(meta.info_bytes.load(), None, "another file gives nothing");
        assert!(!plain.info_bytes.release(), "without a source they stay");
    }
}
