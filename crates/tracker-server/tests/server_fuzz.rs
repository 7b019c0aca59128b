//! Fuzz-style test of the HTTP query handling: thousands of random and mutated request targets
//! (seeded, so failures reproduce). Every answer must be HTTP 200 with strict bencode, or (for
//! targets that are not valid HTTP) a 4xx from the HTTP layer followed by a close; and the server
//! must keep answering afterwards.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

#[path = "server_support/support.rs"]
mod support;

use support::*;

const ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%&=+;,/?:@!$'()*";

fn mutate(rng: &mut fastrand::Rng, base: &[u8]) -> Vec<u8> {
    let mut q = base.to_vec();
    for _ in 0..rng.usize(1..6) {
        let len = q.len();
        match rng.u8(..8) {
            0 if len > 0 => {
                let i = rng.usize(..len);
                q[i] = ALPHABET[rng.usize(..ALPHABET.len())];
            }
            1 => {
                let i = rng.usize(..=len);
                let chunk: Vec<u8> = (0..rng.usize(1..30))
                    .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
                    .collect();
                q.splice(i..i, chunk);
            }
            2 if len > 0 => {
                let a = rng.usize(..len);
                let b = rng.usize(a..=len);
                q.drain(a..b);
            }
            3 => q.truncate(rng.usize(..=len)),
            4 => {
                let i = rng.usize(..=len);
                q.insert(i, b'%');
            }
            5 => {
                // A byte that is never valid in a request target.
                let i = rng.usize(..=len);
                q.insert(
                    i,
                    [0x80, 0xff, b' ', b'"', b'<', b'\\', b'^', b'`', b'{', b'|'][rng.usize(..10)],
                );
            }
            6 => {
                let key = [
                    "&port=",
                    "&left=",
                    "&numwant=",
                    "&info_hash=",
                    "&peer_id=",
                    "&event=",
                    "&compact=",
                ];
                q.extend_from_slice(key[rng.usize(..key.len())].as_bytes());
                let n: String = (0..rng.usize(0..25))
                    .map(|_| char::from(b'0' + rng.u8(..10)))
                    .collect();
                q.extend_from_slice(n.as_bytes());
            }
            _ => {
                let v: Vec<u8> = (0..rng.usize(0..40)).map(|_| rng.u8(..)).collect();
                q.extend_from_slice(b"&info_hash=");
                q.extend_from_slice(enc(&v).as_bytes());
            }
        }
    }
    q
}

#[tokio::test]
async fn thousands_of_mutated_queries() {
    let srv = start(config()).await;
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let bases = [
        announce(
            &[7; 20],
            &[8; 20],
            6881,
            100,
            "&compact=1&event=started&numwant=20",
        )
        .into_bytes(),
        announce(&[7; 20], &[9; 20], 6882, 0, "&no_peer_id=1").into_bytes(),
        format!(
            "/scrape?info_hash={}&info_hash={}",
            enc(&[7; 20]),
            enc(&[1; 20])
        )
        .into_bytes(),
    ];
    let (mut ok, mut failures, mut refused) = (0u32, 0u32, 0u32);
    let mut c = Http::connect(srv.addr).await;
    for i in 0..5000 {
        let base = &bases[rng.usize(..bases.len())];
        let target = mutate(&mut rng, base);
        // Keep the path intact most of the time so the query parser is what gets exercised.
        let target = if rng.u8(..10) == 0 || !target.starts_with(b"/") {
            target
        } else {
            let q = target
                .iter()
                .position(|&b| b == b'?')
                .map_or(&target[..], |p| &target[p..]);
            [
                &base[..base.iter().position(|&b| b == b'?').unwrap_or(base.len())],
                q,
            ]
            .concat()
        };
        match c.get_raw(&target).await {
            Ok(Some(r)) if r.status == 200 && r.header("content-type") != Some("text/plain") => {
                // The statistics page or JSON (the path was mutated into `/` or `/stats.json`).
                assert!(
                    target.starts_with(b"/stats.json")
                        || target == b"/"
                        || target.starts_with(b"/?")
                );
                ok += 1;
            }
            Ok(Some(r)) if r.status == 200 => {
                let v = bencode::decode(&r.body).unwrap_or_else(|e| {
                    panic!(
                        "#{i} {:?}: not bencode: {e}",
                        String::from_utf8_lossy(&target)
                    )
                });
                if v.get(b"failure reason").is_some() {
                    failures += 1;
                } else {
                    assert!(v.get(b"peers").is_some() || v.get(b"files").is_some());
                    ok += 1;
                }
            }
            Ok(Some(r)) if r.status == 404 => ok += 1,
            Ok(Some(r)) => {
                assert!((400..500).contains(&r.status), "#{i}: status {}", r.status);
                // The HTTP layer refused the request line; it must close the connection.
                assert!(
                    matches!(c.get_raw(b"/").await, Ok(None) | Err(_)),
                    "connection closed after {}",
                    r.status
                );
                refused += 1;
                c = Http::connect(srv.addr).await;
            }
            Ok(None) | Err(_) => {
                refused += 1;
                c = Http::connect(srv.addr).await;
            }
        }
    }
    eprintln!("ok {ok}, failures {failures}, refused {refused}");
    assert!(
        ok > 500 && failures > 500,
        "ok {ok}, failures {failures}, refused {refused}"
    );
    let r = get(
        srv.addr,
        &announce(&[7; 20], &[10; 20], 6883, 1, "&compact=1"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(failure(&r.body).is_none());
    srv.stop().await;
}
