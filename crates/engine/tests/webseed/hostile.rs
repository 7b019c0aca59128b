//! A tiny HTTP server that answers range requests wrongly, on purpose: a body longer than
//! asked, a `Content-Range` that does not match, or a body that stalls halfway.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// How the server misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// The asked range plus some bytes, delimited by closing the connection.
    LongerBody,
    /// `Content-Range` one byte off.
    WrongContentRange,
    /// Half the body, then nothing for a minute.
    Stall,
}

/// Starts the server in a thread serving `data` as any path; returns its port.
pub fn start(data: Arc<Vec<u8>>, how: Misbehaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let data = data.clone();
            std::thread::spawn(move || serve(stream, &data, how));
        }
    });
    port
}

fn serve(mut stream: TcpStream, data: &[u8], how: Misbehaviour) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = v.split_once('-').unwrap();
            range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
        }
    }
    let (start, end) = range.unwrap_or((0, data.len() - 1));
    let end = end.min(data.len() - 1);
    let body = &data[start..=end];
    let total = data.len();
    let head = match how {
        Misbehaviour::LongerBody => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{end}/{total}\r\nConnection: close\r\n\r\n"
        ),
        Misbehaviour::WrongContentRange => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
            start + 1,
            end + 1,
            body.len()
        ),
        Misbehaviour::Stall => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{end}/{total}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
    };
    let _ = stream.write_all(head.as_bytes());
    match how {
        Misbehaviour::LongerBody => {
            let _ = stream.write_all(body);
            let _ = stream.write_all(&[0u8; 1000]);
        }
        Misbehaviour::WrongContentRange => {
            let _ = stream.write_all(body);
        }
        Misbehaviour::Stall => {
            let _ = stream.write_all(&body[..body.len() / 2]);
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}
