//! Tests of the connection state shown by `top`.

use super::*;

fn screen() -> Screen {
    Screen {
        report: None,
        link: Link::Connecting,
        reconnected_at: None,
        view: View::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn daemon_going_away_and_coming_back() {
    let mut s = screen();
    s.update(Err("nobody home".into()));
    assert_eq!(s.link, Link::Lost("nobody home".into()));
    // The first answer is "live", not "reconnected": there was nothing before.
    s.update(Ok(StatusReport::default()));
    assert_eq!(s.link, Link::Live);
    s.update(Err("gone".into()));
    assert_eq!(s.link, Link::Lost("gone".into()));
    assert!(s.report.is_some(), "the last figures stay on screen");
    s.update(Ok(StatusReport::default()));
    assert_eq!(s.link, Link::Reconnected);
    tokio::time::advance(Duration::from_secs(2)).await;
    s.update(Ok(StatusReport::default()));
    assert_eq!(s.link, Link::Reconnected, "shown for a while");
    tokio::time::advance(RECONNECTED_FOR).await;
    s.update(Ok(StatusReport::default()));
    assert_eq!(s.link, Link::Live);
}

#[tokio::test(start_paused = true)]
async fn poller_reports_a_missing_daemon_each_second() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let stop = CancellationToken::new();
    let task = tokio::spawn(poll(dir.path().join("control.sock"), tx, stop.clone()));
    let first = rx.recv().await.unwrap().unwrap_err();
    assert!(first.contains("no btmirror daemon is listening"), "{first}");
    let before = Instant::now();
    assert!(rx.recv().await.unwrap().is_err());
    assert!(before.elapsed() >= REFRESH - Duration::from_millis(10));
    stop.cancel();
    task.await.unwrap();
}
