//! The session's cache of whole pieces read from disk for uploading, shared by all torrents
//! under one memory budget in bytes.
//!
//! Leechers ask for a piece block by block, usually in order, so reading the whole piece once
//! and slicing blocks out of it (zero-copy `Bytes`) turns ~64 disk reads into one. The least
//! recently used piece of any torrent goes first; entries unused for [`IDLE`] are dropped, so an
//! idle session holds no buffers. Every operation costs O(log n) plus what it evicts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// An entry unused this long is evicted by [`ReadCache::evict_idle`].
pub const IDLE: Duration = Duration::from_secs(20);

/// A piece of one torrent: (torrent id, piece index).
type Key = (u64, u32);

struct Entry {
    data: Bytes,
    /// Position in `Inner::lru`.
    seq: u64,
    used: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Use order: the smallest sequence number is the least recently used.
    lru: BTreeMap<u64, Key>,
    next_seq: u64,
    bytes: usize,
}

impl Inner {
    fn touch(&mut self, key: Key) -> Option<Bytes> {
        let seq = self.next_seq;
        let e = self.entries.get_mut(&key)?;
        self.lru.remove(&e.seq);
        e.seq = seq;
        e.used = Instant::now();
        self.lru.insert(seq, key);
        self.next_seq += 1;
        Some(e.data.clone())
    }

    fn remove(&mut self, key: Key) {
        if let Some(e) = self.entries.remove(&key) {
            self.lru.remove(&e.seq);
            self.bytes -= e.data.len();
        }
    }

    fn pop_oldest(&mut self) -> Option<Key> {
        let (_, key) = self.lru.pop_first()?;
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= e.data.len();
        }
        Some(key)
    }
}

/// Whole pieces cached for every torrent of a session, bounded in bytes.
pub struct ReadCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
    next_torrent: AtomicU64,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("max_bytes", &self.max_bytes)
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl ReadCache {
    /// A cache holding at most `max_bytes` (the piece inserted last is always kept).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner::default()),
            next_torrent: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data: a panic elsewhere cannot leave it inconsistent in a way that matters.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A torrent's view of the cache; its entries are dropped with it.
    pub fn for_torrent(self: &Arc<Self>) -> TorrentCache {
        TorrentCache {
            cache: self.clone(),
            id: self.next_torrent.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn get(&self, key: Key) -> Option<Bytes> {
        self.lock().touch(key)
    }

    fn insert(&self, key: Key, data: Bytes) {
        let mut inner = self.lock();
        inner.remove(key);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.bytes += data.len();
        inner.lru.insert(seq, key);
        let used = Instant::now();
        inner.entries.insert(key, Entry { data, seq, used });
        while inner.bytes > self.max_bytes && inner.entries.len() > 1 {
            if inner.pop_oldest().is_none() {
                break;
            }
        }
    }

    /// Drops entries unused for [`IDLE`] (oldest first, so this stops at the first fresh one).
    pub fn evict_idle(&self) {
        let mut inner = self.lock();
        while let Some((_, key)) = inner.lru.first_key_value() {
            let key = *key;
            if inner
                .entries
                .get(&key)
                .is_some_and(|e| e.used.elapsed() < IDLE)
            {
                break;
            }
            inner.pop_oldest();
        }
    }

    fn remove_torrent(&self, id: u64) {
        let mut inner = self.lock();
        let keys: Vec<Key> = inner
            .entries
            .keys()
            .filter(|k| k.0 == id)
            .copied()
            .collect();
        for k in keys {
            inner.remove(k);
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// One torrent's pieces in the session's [`ReadCache`].
#[derive(Debug)]
pub struct TorrentCache {
    cache: Arc<ReadCache>,
    id: u64,
}

impl TorrentCache {
    /// The cached piece, if present.
    pub fn get(&self, piece: u32) -> Option<Bytes> {
        self.cache.get((self.id, piece))
    }

    /// Caches a piece, evicting the least recently used pieces of any torrent beyond the budget.
    pub fn insert(&self, piece: u32, data: Bytes) {
        self.cache.insert((self.id, piece), data);
    }

    /// Drops the session's entries unused for [`IDLE`].
    pub fn evict_idle(&self) {
        self.cache.evict_idle();
    }
}

impl Drop for TorrentCache {
    fn drop(&mut self) {
        self.cache.remove_torrent(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_budget_for_all_torrents_lru_and_idle_eviction() {
        let c = Arc::new(ReadCache::new(3000));
        let (a, b) = (c.for_torrent(), c.for_torrent());
        a.insert(1, Bytes::from(vec![0; 1000]));
        tokio::time::advance(Duration::from_millis(1)).await;
        b.insert(1, Bytes::from(vec![1; 1000]));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            a.get(1).map(|d| d[0]),
            Some(0),
            "torrents do not share keys"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        a.insert(3, Bytes::from(vec![0; 1500]));
        assert!(
            b.get(1).is_none(),
            "least recently used of any torrent goes first"
        );
        assert!(a.get(1).is_some() && a.get(3).is_some());
        assert_eq!(c.bytes(), 2500);
        drop(a);
        assert_eq!(c.bytes(), 0, "a torrent's entries go with it");
        b.insert(2, Bytes::from(vec![0; 10]));
        tokio::time::advance(IDLE).await;
        b.evict_idle();
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn a_piece_larger_than_the_budget_is_still_kept() {
        let c = Arc::new(ReadCache::new(100));
        let t = c.for_torrent();
        t.insert(0, Bytes::from(vec![0; 50]));
        t.insert(1, Bytes::from(vec![0; 500]));
        assert!(t.get(0).is_none() && t.get(1).is_some());
    }
}
