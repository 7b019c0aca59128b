//! [`PieceHashes`]: the SHA-1 of every piece, which a seeding torrent need not keep in memory.
//!
//! Only a data check, a download or a re-verify needs the hashes. When the torrent came from a
//! file ([`crate::Metainfo::with_hash_source`]) they can be [released](PieceHashes::release)
//! and are read again from that file the next time something asks for one.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

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

/// A loader that parses the `.torrent` at `path` again and accepts it only when its info-hash
/// is still `expected`.
pub(crate) fn file_loader(path: PathBuf, expected: crate::InfoHash) -> HashLoader {
    Arc::new(move || {
        let bytes = std::fs::read(&path).ok()?;
        let meta = crate::Metainfo::from_bytes(&bytes).ok()?;
        (meta.info_hash == expected).then(|| meta.info.pieces.to_vec())
    })
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
}
