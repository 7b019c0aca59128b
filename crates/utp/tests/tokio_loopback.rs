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
