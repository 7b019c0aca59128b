//! The HTTP client against a raw in-test TCP server sending hostile or broken answers: refusals,
//! garbage, oversized bodies, error statuses, silence; plus what it sends (query, tracker id).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metainfo::{InfoHash, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracker::{AnnounceRequest, Client, Error, Event, Tiers};

/// What the fake server does with each connection.
#[derive(Clone)]
enum Reply {
    /// Sends these bytes as the whole response, then closes.
    Raw(Vec<u8>),
    /// A 200 response with this bencoded body.
    Body(Vec<u8>),
    /// Sends headers announcing 3 MiB, then streams them without a Content-Length
    /// (`chunked == true`) or with one.
    Huge { chunked: bool },
    /// Never answers.
    Silent,
}

/// A fake tracker: its announce URL and the request lines it received.
struct Fake {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn fake(reply: Reply) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/announce", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let reply = reply.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let line = text.lines().next().unwrap_or_default().to_owned();
                seen.lock().expect("lock").push(line);
                let _ = match reply {
                    Reply::Raw(bytes) => stream.write_all(&bytes).await,
                    Reply::Body(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&body);
                        stream.write_all(&r).await
                    }
                    Reply::Huge { chunked } => {
                        let head = if chunked {
                            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
                        } else {
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 3 << 20)
                        };
                        let _ = stream.write_all(head.as_bytes()).await;
                        let mut result = Ok(());
                        let block = vec![b'x'; 64 * 1024];
                        for _ in 0..48 {
                            result = stream.write_all(&block).await;
                            if result.is_err() {
                                break;
                            }
                        }
                        result
                    }
                    Reply::Silent => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok(())
                    }
                };
            });
        }
    });
    Fake { url, requests }
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0xab; 20]),
        peer_id: PeerId(*b"-BM0100-abcdefghijkl"),
        port: 6881,
        uploaded: 10,
        downloaded: 20,
        left: 30,
        event: Event::Started,
        numwant: None,
        key: 0x1234_abcd,
    }
}

fn client() -> Client {
    Client::new("btmirror-test/0")
        .expect("client")
        .with_http_timeout(Duration::from_millis(500))
}

const GOOD: &[u8] = b"d8:intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";

#[tokio::test]
async fn good_answer_and_the_request_sent() {
    let f = fake(Reply::Body(GOOD.to_vec())).await;
    let r = client()
        .announce(&f.url, &request())
        .await
        .expect("announce");
    assert_eq!(r.interval, Duration::from_secs(900));
    assert_eq!(r.peers, vec!["127.0.0.1:6881".parse().expect("addr")]);
    let line = f.requests().pop().expect("one request");
    let hash = "%AB".repeat(20);
    assert!(
        line.starts_with(&format!("GET /announce?info_hash={hash}&peer_id=-BM0100-abcdefghijkl&port=6881&uploaded=10&downloaded=20&left=30&compact=1&no_peer_id=1&key=1234abcd&event=started ")),
        "{line}"
    );
}

#[tokio::test]
async fn failure_reason_is_a_failure() {
    let f = fake(Reply::Body(b"d14:failure reason12:unregisterede".to_vec())).await;
    match client().announce(&f.url, &request()).await {
        Err(Error::Failure(s)) => assert_eq!(s, "unregistered"),
        other => panic!("expected Failure, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_is_malformed() {
    for body in [
        &b"<html>hi</html>"[..],
        b"d8:intervali60e5:peers5:abcdee",
        b"",
    ] {
        let f = fake(Reply::Body(body.to_vec())).await;
        let r = client().announce(&f.url, &request()).await;
        assert!(matches!(r, Err(Error::Malformed(_))), "{r:?}");
    }
}

#[tokio::test]
async fn oversized_body_is_refused() {
    for chunked in [false, true] {
        let f = fake(Reply::Huge { chunked }).await;
        let r = client().announce(&f.url, &request()).await;
        assert!(
            matches!(r, Err(Error::Malformed(ref m)) if m.contains("larger")),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn error_status_names_status_and_url() {
    let f = fake(Reply::Raw(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ))
    .await;
    let e = client()
        .announce(&f.url, &request())
        .await
        .expect_err("500");
    assert!(
        matches!(
            e,
            Error::Http {
                status: Some(500),
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("500") && text.contains(&f.url), "{text}");
}

#[tokio::test]
async fn silence_times_out() {
    let f = fake(Reply::Silent).await;
    let start = std::time::Instant::now();
    let r = client().announce(&f.url, &request()).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn refused_connection_is_an_http_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/announce", l.local_addr().expect("addr"));
    drop(l);
    let r = client().announce(&url, &request()).await;
    assert!(matches!(r, Err(Error::Http { status: None, .. })), "{r:?}");
    // Through the tiers: the URL once, then the system's reason (issue 15, smaller).
    let mut tiers = Tiers::new(vec![vec![url.clone()]]);
    let text = match tiers.announce(&client(), &request()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a closed port answered"),
    };
    assert_eq!(text.matches(url.as_str()).count(), 1, "{text}");
    assert!(text.contains("Connection refused"), "{text}");
}

#[tokio::test]
async fn http_scrape_uses_scrape_path() {
    let body = format!(
        "d5:filesd20:{}d8:completei2e10:downloadedi5e10:incompletei3eeee",
        "\u{7f}".repeat(20)
    );
    let f = fake(Reply::Body(body.into_bytes())).await;
    let s = client()
        .scrape(&f.url, InfoHash([0x7f; 20]))
        .await
        .expect("scrape");
    assert_eq!((s.complete, s.incomplete, s.downloaded), (2, 3, 5));
    let line = f.requests().pop().expect("one request");
    assert!(
        line.starts_with(&format!("GET /scrape?info_hash={} ", "%7F".repeat(20))),
        "{line}"
    );
}

#[tokio::test]
async fn tiers_skip_failures_remember_tracker_id_and_report_all_failures() {
    let bad = fake(Reply::Raw(
        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ))
    .await;
    let with_id = b"d8:intervali900e5:peers0:10:tracker id5:id-42e".to_vec();
    let good = fake(Reply::Body(with_id)).await;
    let client = client();
    let mut tiers = Tiers::new(vec![vec![bad.url.clone()], vec![good.url.clone()]]);
    let (used, _) = tiers
        .announce(&client, &request())
        .await
        .expect("second tier");
    assert_eq!(used, good.url);
    tiers.announce(&client, &request()).await.expect("again");
    let lines = good.requests();
    assert_eq!(lines.len(), 2);
    assert!(!lines[0].contains("trackerid="), "{}", lines[0]);
    assert!(lines[1].contains("&trackerid=id-42 "), "{}", lines[1]);
    assert_eq!(bad.requests().len(), 2, "first tier is always tried first");

    let worse = fake(Reply::Body(b"d14:failure reason2:noe".to_vec())).await;
    let mut tiers = Tiers::new(vec![vec![bad.url.clone(), worse.url.clone()]]);
    match tiers.announce(&client, &request()).await {
        Err(Error::AllFailed(list)) => {
            let urls: Vec<&str> = list.iter().map(|(u, _)| u.as_str()).collect();
            assert_eq!(urls.len(), 2);
            assert!(urls.contains(&bad.url.as_str()) && urls.contains(&worse.url.as_str()));
            let text = Error::AllFailed(list.clone()).to_string();
            assert!(
                text.contains("503") && text.contains("refused: no"),
                "{text}"
            );
        }
        other => panic!("expected AllFailed, got {other:?}"),
    }
    let r = Tiers::new(Vec::new()).announce(&client, &request()).await;
    assert!(
        matches!(r, Err(Error::AllFailed(ref l)) if l.is_empty()),
        "{r:?}"
    );
}
