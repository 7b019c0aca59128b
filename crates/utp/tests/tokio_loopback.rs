//! The tokio driver end to end on 127.0.0.1: two sockets, a stream each way.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use utp::tokio_socket::UtpSocket;

#[tokio::test]
async fn echo_over_loopback() {
    let any = "127.0.0.1:0".parse().expect("addr");
    let server = UtpSocket::bind(any).await.expect("bind");
    let client = UtpSocket::bind(any).await.expect("bind");
    let addr = server.local_addr();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let echo = tokio::spawn(async move {
        let (mut s, _) = server.accept().await.expect("accept");
        let mut buf = vec![0u8; 65536];
        loop {
            let n = s.read(&mut buf).await.expect("server read");
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.expect("server write");
        }
        s.shutdown().await.expect("shutdown");
        // keep the socket alive until the FIN is acked
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    let run = async {
        let s = client.connect(addr).await.expect("connect");
        let (mut rd, mut wr) = tokio::io::split(s);
        let to_send = data.clone();
        let writer = async move {
            wr.write_all(&to_send).await.expect("client write");
            wr.shutdown().await.expect("client shutdown");
            wr
        };
        let reader = async {
            let mut back = Vec::new();
            rd.read_to_end(&mut back).await.expect("client read");
            back
        };
        let (_wr, back) = tokio::join!(writer, reader);
        back
    };
    let back = timeout(Duration::from_secs(60), run)
        .await
        .expect("echo in time");
    assert!(
        back == data,
        "echoed {} of {} bytes, or different",
        back.len(),
        data.len()
    );
    echo.await.expect("server task");
}

/// One UDP socket shared with other protocols: datagrams that are not uTP (a DHT query, a UDP
/// tracker reply) reach the other consumer, uTP still works on the same port.
#[tokio::test]
async fn shared_socket_forwards_other_datagrams() {
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let shared = std::sync::Arc::new(tokio::net::UdpSocket::bind(any).await.expect("bind"));
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let sink: utp::tokio_socket::OtherDatagrams = Box::new(move |d: &[u8], from| {
        let _ = tx.try_send((d.to_vec(), from));
    });
    let server =
        UtpSocket::from_socket(shared.clone(), utp::Config::default(), Some(sink)).expect("driver");
    let addr = server.local_addr();
    let other = tokio::net::UdpSocket::bind(any).await.expect("bind");
    let dht = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe".to_vec();
    let mut tracker = vec![0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
    tracker.extend_from_slice(&[0xab; 8]);
    other.send_to(&dht, addr).await.expect("send");
    other.send_to(&tracker, addr).await.expect("send");
    let got = timeout(Duration::from_secs(5), async {
        let a = rx.recv().await.expect("forwarded");
        let b = rx.recv().await.expect("forwarded");
        [a, b]
    })
    .await
    .expect("forwarded in time");
    assert_eq!(got[0].0, dht);
    assert_eq!(got[1].0, tracker);
    assert_eq!(got[0].1, other.local_addr().expect("addr"));
    // the other consumer answers through the same socket
    shared
        .send_to(b"reply", other.local_addr().expect("addr"))
        .await
        .expect("send");
    let mut buf = [0u8; 16];
    let (n, from) = other.recv_from(&mut buf).await.expect("recv");
    assert_eq!((&buf[..n], from), (&b"reply"[..], addr));

    let client = UtpSocket::bind(any).await.expect("bind");
    let run = async {
        let mut c = client.connect(addr).await.expect("connect");
        c.write_all(b"over uTP").await.expect("write");
        let (mut s, _) = server.accept().await.expect("accept");
        let mut msg = [0u8; 8];
        s.read_exact(&mut msg).await.expect("read");
        msg
    };
    assert_eq!(
        &timeout(Duration::from_secs(10), run)
            .await
            .expect("in time"),
        b"over uTP"
    );
}
