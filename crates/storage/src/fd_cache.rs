//! A bounded LRU cache of open files shared by every torrent of a session.
//!
//! The lock is held only around map operations: opening, closing and all I/O happen outside it.
//! Callers get an `Arc<File>` clone, so a file evicted while a `pread` is in flight stays open
//! until that call finishes; the cache itself never holds more than `max_open` descriptors.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Which file a cache entry is: the owning [`crate::Storage`]'s id and the file's index.
pub(crate) type Key = (u64, usize);

/// A bounded cache of open files, least recently used first out. See the module docs.
#[derive(Debug)]
pub struct FdCache {
    /// At most this many entries are kept (at least 1).
    max_open: usize,
    /// The entries; a plain mutex because no I/O happens while it is held.
    inner: Mutex<Inner>,
}

/// The state behind the lock.
#[derive(Debug, Default)]
struct Inner {
    /// Open files by key.
    map: HashMap<Key, Slot>,
    /// Keys by last use, oldest first: the eviction order.
    lru: BTreeMap<u64, Key>,
    /// Monotonic use counter.
    tick: u64,
}

/// One open file.
#[derive(Debug)]
struct Slot {
    /// The file; cloned out to callers.
    file: Arc<File>,
    /// Opened read-write (a read-only fd is reopened when a write needs it).
    writable: bool,
    /// Its key in `Inner::lru`.
    tick: u64,
}

impl Inner {
    /// Marks `key` as just used and returns a clone of its file when it is open in a good enough mode.
    fn hit(&mut self, key: Key, write: bool) -> Option<Arc<File>> {
        self.tick += 1;
        let tick = self.tick;
        let slot = self.map.get_mut(&key)?;
        if write && !slot.writable {
            return None;
        }
        self.lru.remove(&slot.tick);
        slot.tick = tick;
        self.lru.insert(tick, key);
        Some(Arc::clone(&slot.file))
    }
}

impl FdCache {
    /// A cache keeping at most `max_open` files open (a value of 0 is treated as 1).
    pub fn new(max_open: usize) -> Self {
        Self {
            max_open: max_open.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many files the cache holds open right now.
    pub fn open_count(&self) -> usize {
        self.lock().map.len()
    }

    /// The most files this cache keeps open.
    pub fn max_open(&self) -> usize {
        self.max_open
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing inside the lock can panic halfway through an update, so a poisoned lock still
        // guards consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open file for `key`, opening it with `open` (outside the lock) when it is not cached or
    /// is cached read-only and `write` is asked for. `open` must honour `write`.
    pub(crate) fn get<E>(
        &self,
        key: Key,
        write: bool,
        open: impl FnOnce() -> Result<File, E>,
    ) -> Result<Arc<File>, E> {
        if let Some(file) = self.lock().hit(key, write) {
            return Ok(file);
        }
        let opened = Arc::new(open()?);
        let mut evicted = Vec::new();
        let file = {
            let mut inner = self.lock();
            // Another thread may have opened it meanwhile; prefer the cached one then.
            if let Some(file) = inner.hit(key, write) {
                evicted.push(opened);
                file
            } else {
                inner.tick += 1;
                let tick = inner.tick;
                let slot = Slot {
                    file: Arc::clone(&opened),
                    writable: write,
                    tick,
                };
                if let Some(old) = inner.map.insert(key, slot) {
                    inner.lru.remove(&old.tick);
                    evicted.push(old.file);
                }
                inner.lru.insert(tick, key);
                while inner.map.len() > self.max_open {
                    let Some((_, oldest)) = inner.lru.pop_first() else {
                        break;
                    };
                    if let Some(old) = inner.map.remove(&oldest) {
                        evicted.push(old.file);
                    }
                }
                opened
            }
        };
        // Closing can block (network file systems): do it after releasing the lock.
        drop(evicted);
        Ok(file)
    }

    /// Closes every cached file of the storage with id `owner`.
    pub(crate) fn remove_owner(&self, owner: u64) {
        let evicted: Vec<Arc<File>> = {
            let mut inner = self.lock();
            let keys: Vec<Key> = inner.map.keys().filter(|k| k.0 == owner).copied().collect();
            keys.into_iter()
                .filter_map(|k| {
                    let slot = inner.map.remove(&k)?;
                    inner.lru.remove(&slot.tick);
                    Some(slot.file)
                })
                .collect()
        };
        drop(evicted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn open_tmp(dir: &tempfile::TempDir, name: &str) -> io::Result<File> {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.path().join(name))
    }

    #[test]
    fn evicts_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FdCache::new(2);
        let mut opens = 0;
        let mut get = |k: usize| {
            cache
                .get((1, k), false, || {
                    opens += 1;
                    open_tmp(&dir, &k.to_string())
                })
                .unwrap();
        };
        get(0);
        get(1);
        get(0); // hit, 0 is now the most recent
        get(2); // evicts 1
        get(0); // hit
        get(1); // miss
        assert_eq!(opens, 4);
        assert_eq!(cache.open_count(), 2);
    }

    #[test]
    fn read_only_entry_is_reopened_for_write() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FdCache::new(4);
        let mut modes = Vec::new();
        for write in [false, false, true, false, true] {
            cache
                .get((7, 0), write, || {
                    modes.push(write);
                    open_tmp(&dir, "f")
                })
                .unwrap();
        }
        assert_eq!(modes, vec![false, true]);
        assert_eq!(cache.open_count(), 1);
    }

    #[test]
    fn remove_owner_closes_only_that_owner() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FdCache::new(10);
        for owner in [1, 2] {
            for i in 0..3 {
                cache
                    .get((owner, i), false, || {
                        open_tmp(&dir, &format!("{owner}-{i}"))
                    })
                    .unwrap();
            }
        }
        cache.remove_owner(1);
        assert_eq!(cache.open_count(), 3);
        let mut opened = false;
        cache
            .get((2, 1), false, || {
                opened = true;
                open_tmp(&dir, "x")
            })
            .unwrap();
        assert!(!opened);
    }

    #[test]
    fn open_error_is_passed_through_and_nothing_cached() {
        let cache = FdCache::new(2);
        let r = cache.get((1, 0), false, || Err::<File, _>(io::ErrorKind::NotFound));
        assert_eq!(r.unwrap_err(), io::ErrorKind::NotFound);
        assert_eq!(cache.open_count(), 0);
    }

    #[test]
    fn zero_capacity_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FdCache::new(0);
        for i in 0..3 {
            cache.get((1, i), false, || open_tmp(&dir, "f")).unwrap();
        }
        assert_eq!(cache.open_count(), 1);
    }
}
