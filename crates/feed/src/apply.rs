//! The feed's directory: deciding what to do with each taken link, writing a `.torrent` so that
//! the watcher never sees half a file, and removing what the feed no longer lists. Blocking
//! file system code, run on tokio's blocking threads.
//!
//! A file is written to a hidden temporary name (`.NAME.XXXXXXXX.tmp`, which the daemon's
//! watcher ignores twice over), synced, then hard-linked to its name, which fails if a file of
//! that name appeared meanwhile: the operator's file is never overwritten, not even by a race.
//! Replacing the feed's own file renames over it instead.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::Path;

use crate::record::{Held, OnDisk, Record};
use crate::report::{SkipReason, Skipped};

/// What to do with one taken link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Fetch it; `replace` when it replaces the feed's own file of that name.
    Fetch {
        /// Rename over the feed's own file rather than link a new name.
        replace: bool,
    },
    /// The feed holds it, as written, from the same URL.
    Have,
    /// Leave it; `disown` drops it from the record (it is the operator's now).
    Skip {
        /// Why.
        reason: SkipReason,
        /// Forget it.
        disown: bool,
    },
}

/// Decides for the link to `source` named `name`.
pub(crate) fn decide(
    record: &Record,
    into: &Path,
    name: &str,
    source: &str,
) -> io::Result<Decision> {
    let path = into.join(name);
    let Some(held) = record.files.get(name) else {
        return Ok(match fs::symlink_metadata(&path) {
            Ok(_) => Decision::Skip {
                reason: SkipReason::OperatorFile,
                disown: false,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Decision::Fetch { replace: false },
            Err(e) => return Err(e),
        });
    };
    Ok(match held.check(&path)? {
        OnDisk::AsWritten if held.source == source => Decision::Have,
        // The feed now serves that name from elsewhere: fetch it again, replacing our own file.
        OnDisk::AsWritten => Decision::Fetch { replace: true },
        OnDisk::Changed => Decision::Skip {
            reason: SkipReason::ChangedSinceWritten,
            disown: true,
        },
        OnDisk::Gone => Decision::Skip {
            reason: SkipReason::GoneSinceWritten,
            disown: false,
        },
    })
}

/// Writes `bytes` as `into/name`; `None` when `replace` is false and a file of that name
/// appeared since [`decide`].
pub(crate) fn write(
    into: &Path,
    name: &str,
    bytes: &[u8],
    source: &str,
    replace: bool,
) -> io::Result<Option<Held>> {
    let dest = into.join(name);
    let tmp = into.join(format!(".{name}.{:08x}.tmp", fastrand::u32(..)));
    let result = (|| {
        let mut f = File::options().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        if replace {
            fs::rename(&tmp, &dest)?;
        } else {
            match fs::hard_link(&tmp, &dest) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
                // No hard links on this file system (vfat, some FUSE): check, then rename.
                Err(_) if !dest.exists() => fs::rename(&tmp, &dest)?,
                Err(_) => return Ok(None),
            }
        }
        let meta = fs::metadata(&dest)?;
        Ok(Some(Held::new(bytes, source, &meta)))
    })();
    // Gone already after a rename; left over after a link or a failure.
    let _ = fs::remove_file(&tmp);
    result
}

/// With `remove`, unlinks every held file not in `listed` that is still as written (its bytes
/// included); files changed since are disowned and left, vanished ones forgotten. Without
/// `remove`, only vanished unlisted files are forgotten. Returns the removed names and the
/// files left alone.
pub(crate) fn remove_unlisted(
    record: &mut Record,
    into: &Path,
    listed: &HashSet<String>,
    remove: bool,
) -> io::Result<(Vec<String>, Vec<Skipped>)> {
    let mut removed = Vec::new();
    let mut skipped = Vec::new();
    let unlisted: Vec<String> = record
        .files
        .keys()
        .filter(|n| !listed.contains(*n))
        .cloned()
        .collect();
    for name in unlisted {
        let Some(held) = record.files.get(&name) else {
            continue;
        };
        let path = into.join(&name);
        match held.check(&path)? {
            OnDisk::Gone => {
                record.files.remove(&name);
            }
            _ if !remove => {}
            OnDisk::AsWritten if held.verify(&path)? => {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                record.files.remove(&name);
                removed.push(name);
            }
            OnDisk::AsWritten | OnDisk::Changed => {
                record.files.remove(&name);
                skipped.push(Skipped {
                    name,
                    reason: SkipReason::ChangedSinceWritten,
                });
            }
        }
    }
    Ok((removed, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_record(dir: &Path, name: &str, bytes: &[u8]) -> Record {
        let mut r = Record::new("http://x/", dir);
        let held = write(dir, name, bytes, "http://x/a", false)
            .expect("write")
            .expect("new name");
        r.files.insert(name.to_owned(), held);
        r
    }

    #[test]
    fn decisions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let mut r = held_record(d, "a.torrent", b"aaa");
        assert_eq!(
            decide(&r, d, "a.torrent", "http://x/a").expect("ok"),
            Decision::Have
        );
        assert_eq!(
            decide(&r, d, "a.torrent", "http://y/a").expect("ok"),
            Decision::Fetch { replace: true }
        );
        assert_eq!(
            decide(&r, d, "b.torrent", "http://x/b").expect("ok"),
            Decision::Fetch { replace: false }
        );
        fs::write(d.join("op.torrent"), b"mine").expect("write");
        assert!(matches!(
            decide(&r, d, "op.torrent", "http://x/op").expect("ok"),
            Decision::Skip {
                reason: SkipReason::OperatorFile,
                disown: false
            }
        ));
        fs::write(d.join("a.torrent"), b"edited").expect("write");
        assert!(matches!(
            decide(&r, d, "a.torrent", "http://x/a").expect("ok"),
            Decision::Skip {
                reason: SkipReason::ChangedSinceWritten,
                disown: true
            }
        ));
        fs::remove_file(d.join("a.torrent")).expect("rm");
        assert!(matches!(
            decide(&r, d, "a.torrent", "http://x/a").expect("ok"),
            Decision::Skip {
                reason: SkipReason::GoneSinceWritten,
                disown: false
            }
        ));
        r.files.clear();
        let leftovers: Vec<_> = fs::read_dir(d)
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn an_operator_file_is_not_overwritten_by_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("a.torrent"), b"mine").expect("write");
        let got = write(dir.path(), "a.torrent", b"feed", "http://x/a", false).expect("write");
        assert_eq!(got, None);
        assert_eq!(
            fs::read(dir.path().join("a.torrent")).expect("read"),
            b"mine"
        );
    }

    #[test]
    fn removal_takes_only_intact_unlisted_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let mut r = held_record(d, "old.torrent", b"old");
        let keep = held_record(d, "keep.torrent", b"keep");
        let edited = held_record(d, "edited.torrent", b"edited");
        r.files.extend(keep.files);
        r.files.extend(edited.files);
        fs::write(d.join("edited.torrent"), b"changed by hand").expect("write");
        let listed: HashSet<String> = ["keep.torrent".to_owned()].into();

        let (removed, skipped) = remove_unlisted(&mut r.clone(), d, &listed, false).expect("ok");
        assert!(removed.is_empty() && skipped.is_empty());
        assert!(d.join("old.torrent").exists());

        let (removed, skipped) = remove_unlisted(&mut r, d, &listed, true).expect("ok");
        assert_eq!(removed, ["old.torrent"]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].name, "edited.torrent");
        assert!(!d.join("old.torrent").exists());
        assert!(d.join("edited.torrent").exists() && d.join("keep.torrent").exists());
        assert_eq!(r.files.keys().collect::<Vec<_>>(), ["keep.torrent"]);
    }
}
