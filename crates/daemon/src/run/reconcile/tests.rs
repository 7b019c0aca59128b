//! Tests of the reconciler: planning is pure (paused time, fake stamps); applying uses a real
//! session on 127.0.0.1.

use super::*;
use crate::run::prepare;
use crate::run::watch::Listed;
use std::time::UNIX_EPOCH;

fn stamp(len: u64, secs: u64) -> Stamp {
    Stamp {
        len,
        mtime: UNIX_EPOCH + Duration::from_secs(secs),
    }
}

fn listed(path: &str, st: Stamp) -> Listed {
    Listed {
        path: PathBuf::from(path),
        stamp: st,
    }
}

/// Wall clock far after every fake mtime.
fn late() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000)
}

fn dirs() -> Vec<PathBuf> {
    vec![PathBuf::from("/w")]
}

#[tokio::test(start_paused = true)]
async fn old_files_are_read_at_once_fresh_ones_when_quiet() {
    let mut reg = Registry::default();
    let now = Instant::now();
    let wall = late();
    let fresh = Stamp {
        len: 10,
        mtime: wall - Duration::from_millis(200),
    };
    let plan = reg.plan(
        &dirs(),
        vec![
            listed("/w/old.torrent", stamp(5, 1)),
            listed("/w/new.torrent", fresh),
        ],
        now,
        wall,
    );
    assert_eq!(plan.read, [(PathBuf::from("/w/old.torrent"), stamp(5, 1))]);
    assert_eq!(plan.wake, Some(now + Duration::from_millis(800)));
    assert!(matches!(
        reg.entries[Path::new("/w/new.torrent")].slot,
        Slot::Pending
    ));

    // Still growing: the quiet period starts again from the new stamp.
    tokio::time::advance(Duration::from_millis(900)).await;
    let now = Instant::now();
    let wall = wall + Duration::from_millis(900);
    let grown = Stamp {
        len: 20,
        mtime: wall,
    };
    let plan = reg.plan(&dirs(), vec![listed("/w/new.torrent", grown)], now, wall);
    assert!(plan.read.is_empty());
    assert_eq!(plan.wake, Some(now + QUIET));
    // old.torrent disappeared before it ran: nothing to stop, the entry is gone.
    assert!(plan.stops.is_empty());
    assert!(!reg.entries.contains_key(Path::new("/w/old.torrent")));

    tokio::time::advance(QUIET).await;
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/new.torrent", grown)],
        Instant::now(),
        wall + QUIET,
    );
    assert_eq!(plan.read, [(PathBuf::from("/w/new.torrent"), grown)]);
}

#[tokio::test(start_paused = true)]
async fn clock_skew_falls_back_to_watching_the_stamp() {
    let mut reg = Registry::default();
    let now = Instant::now();
    let future = Stamp {
        len: 1,
        mtime: late() + Duration::from_secs(3600),
    };
    let plan = reg.plan(&dirs(), vec![listed("/w/a.torrent", future)], now, late());
    assert_eq!(plan.wake, Some(now + QUIET));
    tokio::time::advance(QUIET).await;
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/a.torrent", future)],
        Instant::now(),
        late(),
    );
    assert_eq!(plan.read.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_and_a_new_version_is_read_again() {
    let mut reg = Registry::default();
    let session = Session::start(
        engine::SessionConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..engine::SessionConfig::default()
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let policy = AddPolicy::default();
    let p = PathBuf::from("/w/bad.torrent");
    let st = stamp(3, 1);
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/bad.torrent", st)],
        Instant::now(),
        late(),
    );
    assert_eq!(plan.read.len(), 1);
    let stop = reg.apply(
        &p,
        st,
        Err(PrepareError::Empty),
        &session,
        &policy,
        Instant::now(),
    );
    assert!(stop.is_none());
    assert!(matches!(&reg.entries[&p].slot, Slot::Failed(r) if r == "the file is empty"));

    // Not due before the back-off, due after it; the delay doubles.
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/bad.torrent", st)],
        Instant::now(),
        late(),
    );
    assert!(plan.read.is_empty());
    assert_eq!(plan.wake, Some(Instant::now() + FIRST_BACKOFF));
    tokio::time::advance(FIRST_BACKOFF).await;
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/bad.torrent", st)],
        Instant::now(),
        late(),
    );
    assert_eq!(plan.read.len(), 1);
    reg.apply(
        &p,
        st,
        Err(PrepareError::Empty),
        &session,
        &policy,
        Instant::now(),
    );
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/bad.torrent", st)],
        Instant::now(),
        late(),
    );
    assert_eq!(plan.wake, Some(Instant::now() + FIRST_BACKOFF * 2));

    // A new version is read as soon as it is quiet, whatever the back-off.
    let st2 = stamp(4, 2);
    let plan = reg.plan(
        &dirs(),
        vec![listed("/w/bad.torrent", st2)],
        Instant::now(),
        late(),
    );
    assert_eq!(plan.read, [(p.clone(), st2)]);
    // A result for an outdated stamp is ignored.
    assert!(
        reg.apply(
            &p,
            st,
            Err(PrepareError::TooLarge),
            &session,
            &policy,
            Instant::now()
        )
        .is_none()
    );
    assert!(matches!(&reg.entries[&p].slot, Slot::Failed(r) if r == "the file is empty"));
    session.shutdown(Duration::from_secs(1)).await;
}

/// Writes a one-piece torrent of `data` named `name` into `dir` as `file` and prepares it.
fn prepared(
    dir: &Path,
    file: &str,
    name: &str,
    data: &[u8],
) -> (PathBuf, Result<Prepared, PrepareError>) {
    let path = dir.join(file);
    std::fs::write(&path, prepare::tests::torrent_bytes(name, data)).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
    let r = prepare::prepare(&path, None, dir);
    (path, r)
}

#[tokio::test]
async fn add_replace_duplicate_and_remove() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let session = Session::start(
        engine::SessionConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..engine::SessionConfig::default()
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let policy = AddPolicy::default();
    let mut reg = Registry::default();
    let watch = vec![dir.clone()];
    let st = stamp(1, 1);
    let (a, ra) = prepared(&dir, "a.torrent", "a.bin", b"first");
    let hash_a = ra.as_ref().unwrap().meta.info_hash;
    reg.plan(
        &watch,
        vec![Listed {
            path: a.clone(),
            stamp: st,
        }],
        Instant::now(),
        late(),
    );
    assert!(
        reg.apply(&a, st, ra, &session, &policy, Instant::now())
            .is_none()
    );
    assert!(session.torrent(&hash_a).is_some());

    // A copy under another name is the same torrent: refused, with the reason.
    let (b, rb) = prepared(&dir, "b.torrent", "a.bin", b"first");
    reg.plan(
        &watch,
        vec![
            Listed {
                path: a.clone(),
                stamp: st,
            },
            Listed {
                path: b.clone(),
                stamp: st,
            },
        ],
        Instant::now(),
        late(),
    );
    assert!(
        reg.apply(&b, st, rb, &session, &policy, Instant::now())
            .is_none()
    );
    assert!(matches!(&reg.entries[&b].slot, Slot::Failed(r) if r.contains("a.torrent")));

    // a.torrent replaced by another torrent: the old one is stopped, the new one runs.
    let st2 = stamp(2, 2);
    let (_, rc) = prepared(&dir, "a.torrent", "c.bin", b"second");
    let hash_c = rc.as_ref().unwrap().meta.info_hash;
    reg.plan(
        &watch,
        vec![
            Listed {
                path: a.clone(),
                stamp: st2,
            },
            Listed {
                path: b.clone(),
                stamp: st,
            },
        ],
        Instant::now(),
        late(),
    );
    let stop = reg
        .apply(&a, st2, rc, &session, &policy, Instant::now())
        .unwrap();
    assert_eq!(stop.running.handle.info_hash(), hash_a);
    assert_eq!(stop.why, "replaced");
    assert!(reg.stopping.contains(&hash_a));
    assert!(matches!(&reg.entries[&a].slot, Slot::Running(r) if r.handle.info_hash() == hash_c));

    // a.torrent removed: its torrent is stopped; b.torrent (same as the old a) may now run,
    // but only once the old a has finished stopping.
    let plan = reg.plan(
        &watch,
        vec![Listed {
            path: b.clone(),
            stamp: st,
        }],
        Instant::now(),
        late(),
    );
    assert_eq!(plan.stops.len(), 1);
    assert_eq!(plan.stops[0].running.handle.info_hash(), hash_c);
    assert_eq!(plan.read, [(b.clone(), st)]);
    let rb = prepare::prepare(&b, None, &dir);
    assert!(
        reg.apply(&b, st, rb, &session, &policy, Instant::now())
            .is_none()
    );
    assert!(
        !matches!(reg.entries[&b].slot, Slot::Running(_)),
        "hash_a is still stopping"
    );
    session.remove_torrent(hash_a).await;
    reg.stopping.remove(&hash_a);
    let rb = prepare::prepare(&b, None, &dir);
    reg.apply(&b, st, rb, &session, &policy, Instant::now());
    assert!(matches!(&reg.entries[&b].slot, Slot::Running(r) if r.handle.info_hash() == hash_a));

    // The directory is no longer watched: everything in it stops.
    let stops = reg.retain_dirs(&[]);
    assert_eq!(stops.len(), 1);
    assert!(reg.entries.is_empty());
    session.shutdown(Duration::from_secs(1)).await;
}
