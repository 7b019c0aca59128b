//! A minimal HTTP/1.0 GET for talking to the test tracker on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connect, read and write timeout of one request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response body accepted.
const MAX_RESPONSE: u64 = 1 << 20;

/// `GET path_and_query` on `127.0.0.1:port`; returns the body of a 200 response.
pub(crate) fn get(port: u16, path_and_query: &str) -> Result<Vec<u8>, String> {
    let addr = SocketAddr::from((crate::host(), port));
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("set timeouts: {e}"))?;
    let request =
        format!("GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send request to {addr}: {e}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .map_err(|e| format!("read response from {addr}: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in the response from {addr}"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{addr} answered {status_line:?}"));
    }
    Ok(response[split + 4..].to_vec())
}
