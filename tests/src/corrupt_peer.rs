//! [`CorruptPeer`]: a real, hostile BitTorrent peer that serves corrupted blocks.
//!
//! It speaks plain BEP 3 over TCP, written out by hand so that the test does not depend on
//! btmirror's own wire crate: the 68-byte handshake, then length-prefixed messages. It claims
//! every piece (bitfield), unchokes at once, and answers every request with data read from a
//! real copy of the torrent's files, with some bytes of every block inverted. Each block is
//! therefore the right size at the right offset, and only the piece hash check can catch it.
//! It announces itself to the tracker like any seed, and only accepts connections (it never
//! dials), so the client under test finds it through the tracker.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::process::poll_until;
use crate::torrent::{InfoHash, Torrent};
use crate::tracker::{announce, port_of};

/// Our peer id (Azureus style, "E2" for this harness).
const PEER_ID: &[u8; 20] = b"-E20001-corruptpeer0";

/// Largest message accepted from the client (a request is 17 bytes; a bitfield of a test
/// torrent is small); anything bigger ends the connection.
const MAX_MESSAGE: usize = 1 << 20;

/// Largest block length served.
const MAX_BLOCK: u32 = 128 * 1024;

/// Every `CORRUPT_STRIDE`-th byte of a block (starting with the first) is inverted.
const CORRUPT_STRIDE: usize = 997;

/// One accepted connection, as the test sees it.
#[derive(Debug, Clone)]
struct Conn {
    from: SocketAddr,
    /// The other side's peer id, once it sent a valid handshake.
    peer_id: Option<[u8; 20]>,
    /// Corrupt blocks sent on this connection.
    blocks: u64,
    /// Why it ended; `None` while open.
    ended: Option<String>,
}

/// What the connection threads share with the test.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    conns: Mutex<Vec<Conn>>,
    streams: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    events: Mutex<Vec<String>>,
}

impl Shared {
    fn event(&self, text: String) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text);
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, idx: usize, f: impl FnOnce(&mut Conn)) {
        if let Some(conn) = self.conns().get_mut(idx) {
            f(conn);
        }
    }
}

/// The torrent's geometry and where its files are, for answering requests.
#[derive(Debug)]
struct Layout {
    info_hash: InfoHash,
    piece_length: u64,
    total_length: u64,
    num_pieces: u64,
    files: Vec<(PathBuf, u64)>,
}

/// A running corrupt peer. Stops (closing every connection, announcing `stopped`) on drop.
#[derive(Debug)]
pub struct CorruptPeer {
    addr: SocketAddr,
    tracker_port: u16,
    info_hash: InfoHash,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl CorruptPeer {
    /// Starts listening on a free 127.0.0.1 port, serving `torrent` from the complete data in
    /// `data_dir` (corrupted on the way out), and announces itself as a seed to `announce_url`
    /// (`http://127.0.0.1:PORT/announce`).
    ///
    /// # Panics
    /// If a data file is missing or has the wrong size, or the announce fails.
    pub fn start(torrent: &Torrent, data_dir: &Path, announce_url: &str) -> CorruptPeer {
        let files: Vec<(PathBuf, u64)> = torrent
            .files
            .iter()
            .map(|(rel, len)| (data_dir.join(rel), *len))
            .collect();
        for (path, len) in &files {
            let actual = std::fs::metadata(path).map(|m| m.len());
            assert!(
                actual.as_ref().is_ok_and(|a| a == len),
                "corrupt peer: {} should hold {len} bytes: {actual:?}",
                path.display()
            );
        }
        let layout = Arc::new(Layout {
            info_hash: torrent.info_hash,
            piece_length: torrent.piece_length,
            total_length: torrent.total_length(),
            num_pieces: torrent.num_pieces(),
            files,
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("corrupt peer: cannot listen on 127.0.0.1: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("corrupt peer: set_nonblocking: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("corrupt peer: local_addr: {e}"));
        let shared = Arc::new(Shared::default());
        let accept_thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&listener, &shared, &layout))
        };
        let tracker_port = port_of(announce_url)
            .unwrap_or_else(|| panic!("corrupt peer: not a loopback tracker URL: {announce_url}"));
        // opentracker swaps its whitelist in on a reload thread: an announce right after a
        // reload can still be refused for a moment, so retry a refusal for a few seconds.
        let mut last = String::new();
        let accepted =
            poll_until(
                Duration::from_secs(10),
                Duration::from_millis(100),
                || match announce(
                    tracker_port,
                    &torrent.info_hash,
                    PEER_ID,
                    addr.port(),
                    0,
                    "started",
                ) {
                    Ok(r) => match r.get("failure reason").and_then(|r| r.bytes()) {
                        Some(reason) => {
                            last = format!(
                                "tracker refused the announce: {}",
                                String::from_utf8_lossy(reason)
                            );
                            None
                        }
                        None => Some(()),
                    },
                    Err(e) => {
                        last = format!("announce to {announce_url} failed: {e}");
                        None
                    }
                },
            );
        assert!(accepted.is_some(), "corrupt peer: {last}");
        CorruptPeer {
            addr,
            tracker_port,
            info_hash: torrent.info_hash,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// The address it listens on (what the tracker hands out and what a client logs).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far (from anyone: other seeds may dial it too).
    pub fn connections(&self) -> usize {
        self.shared.conns().len()
    }

    /// Connections that have ended (closed by the other side, or after a protocol error).
    pub fn closed_connections(&self) -> usize {
        self.shared
            .conns()
            .iter()
            .filter(|c| c.ended.is_some())
            .count()
    }

    /// Corrupt blocks sent so far, over all connections.
    pub fn blocks_served(&self) -> u64 {
        self.shared.conns().iter().map(|c| c.blocks).sum()
    }

    /// Peer ids of the peers that were sent at least one corrupt block: the victims.
    pub fn fed_peers(&self) -> Vec<[u8; 20]> {
        let mut ids: Vec<[u8; 20]> = self
            .shared
            .conns()
            .iter()
            .filter(|c| c.blocks > 0)
            .filter_map(|c| c.peer_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// How many connections the peer with `peer_id` has made so far.
    pub fn connections_from(&self, peer_id: &[u8; 20]) -> usize {
        self.shared
            .conns()
            .iter()
            .filter(|c| c.peer_id.as_ref() == Some(peer_id))
            .count()
    }

    /// Waits until every connection from `peer_id` has been closed; returns whether that
    /// happened within `timeout`.
    pub fn wait_closed(&self, peer_id: &[u8; 20], timeout: Duration) -> bool {
        poll_until(timeout, Duration::from_millis(50), || {
            let conns = self.shared.conns();
            conns
                .iter()
                .filter(|c| c.peer_id.as_ref() == Some(peer_id))
                .all(|c| c.ended.is_some())
                .then_some(())
        })
        .is_some()
    }

    /// An account of every connection, for assertion messages.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "corrupt peer {}: {} connection(s), {} corrupt block(s) served",
            self.addr,
            self.connections(),
            self.blocks_served()
        );
        for c in self.shared.conns().iter() {
            let id = c
                .peer_id
                .map(|id| String::from_utf8_lossy(&id).into_owned())
                .unwrap_or_else(|| "-".into());
            let state = c.ended.as_deref().unwrap_or("open");
            out.push_str(&format!(
                "\n  from {} peer id {id:?}: {} block(s), {state}",
                c.from, c.blocks
            ));
        }
        for e in self
            .shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            out.push_str(&format!("\n  {e}"));
        }
        out
    }
}

impl Drop for CorruptPeer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = announce(
            self.tracker_port,
            &self.info_hash,
            PEER_ID,
            self.addr.port(),
            0,
            "stopped",
        );
        // The accept thread first, so that no connection is registered after the shutdown below.
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        for stream in self
            .shared
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = self
            .shared
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, layout: &Arc<Layout>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, from)) => {
                let idx = {
                    let mut conns = shared.conns();
                    conns.push(Conn {
                        from,
                        peer_id: None,
                        blocks: 0,
                        ended: None,
                    });
                    conns.len() - 1
                };
                let registered = stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.try_clone());
                match registered {
                    Ok(clone) => shared
                        .streams
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(clone),
                    Err(e) => shared.event(format!("{from}: cannot set up the socket: {e}")),
                }
                let shared2 = Arc::clone(shared);
                let layout = Arc::clone(layout);
                let handle = std::thread::spawn(move || {
                    let outcome = serve(stream, &layout, &shared2, idx);
                    shared2.update(idx, |c| c.ended = Some(outcome));
                });
                shared
                    .threads
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(handle);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                shared.event(format!("accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One connection, from handshake to close. Returns why it ended.
fn serve(mut stream: TcpStream, layout: &Layout, shared: &Shared, idx: usize) -> String {
    let mut theirs = [0u8; 68];
    if let Err(e) = stream.read_exact(&mut theirs) {
        return format!("no handshake: {e}");
    }
    if theirs[0] != 19 || &theirs[1..20] != b"BitTorrent protocol" {
        // Hang up at once, as plaintext-only clients do (the registry keeps a clone of the
        // stream, so dropping ours would not): an MSE dialler then retries in plaintext.
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return "not a BitTorrent handshake".into();
    }
    if theirs[28..48] != layout.info_hash.0 {
        return "handshake for another torrent".into();
    }
    let mut peer_id = [0u8; 20];
    peer_id.copy_from_slice(&theirs[48..68]);
    shared.update(idx, |c| c.peer_id = Some(peer_id));
    let mut hello = Vec::with_capacity(68 + 64);
    hello.push(19);
    hello.extend_from_slice(b"BitTorrent protocol");
    hello.extend_from_slice(&[0; 8]);
    hello.extend_from_slice(&layout.info_hash.0);
    hello.extend_from_slice(PEER_ID);
    // Bitfield: every piece, spare bits at the end zero.
    let mut bits = vec![0u8; usize::try_from(layout.num_pieces.div_ceil(8)).unwrap_or(0)];
    for piece in 0..layout.num_pieces {
        if let Some(byte) = usize::try_from(piece / 8)
            .ok()
            .and_then(|i| bits.get_mut(i))
        {
            *byte |= 0x80 >> (piece % 8);
        }
    }
    push_message(&mut hello, 5, &bits);
    push_message(&mut hello, 1, &[]); // unchoke
    if let Err(e) = stream.write_all(&hello) {
        return format!("cannot send handshake: {e}");
    }
    let mut reply = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if let Err(e) = stream.read_exact(&mut len) {
            return format!("closed ({e})");
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue; // keep-alive
        }
        if len > MAX_MESSAGE {
            return format!("message of {len} bytes refused");
        }
        let mut body = vec![0u8; len];
        if let Err(e) = stream.read_exact(&mut body) {
            return format!("closed mid-message ({e})");
        }
        if body[0] != 6 {
            continue; // interested, have, bitfield, cancel...: nothing to do
        }
        let field = |i: usize| {
            body.get(1 + 4 * i..5 + 4 * i)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
        };
        let (Some(index), Some(begin), Some(length)) = (field(0), field(1), field(2)) else {
            return "malformed request".into();
        };
        let block = match read_block(layout, index, begin, length) {
            Ok(block) => block,
            Err(e) => return format!("bad request {index}/{begin}/{length}: {e}"),
        };
        reply.clear();
        reply.extend_from_slice(&(9 + block.len() as u32).to_be_bytes());
        reply.push(7);
        reply.extend_from_slice(&index.to_be_bytes());
        reply.extend_from_slice(&begin.to_be_bytes());
        reply.extend(
            block
                .iter()
                .enumerate()
                .map(|(i, b)| if i % CORRUPT_STRIDE == 0 { !b } else { *b }),
        );
        if let Err(e) = stream.write_all(&reply) {
            return format!("closed while sending a block ({e})");
        }
        shared.update(idx, |c| c.blocks += 1);
    }
}

fn push_message(out: &mut Vec<u8>, id: u8, payload: &[u8]) {
    out.extend_from_slice(&(1 + payload.len() as u32).to_be_bytes());
    out.push(id);
    out.extend_from_slice(payload);
}

/// The true bytes of a block, read across file boundaries.
fn read_block(layout: &Layout, index: u32, begin: u32, length: u32) -> Result<Vec<u8>, String> {
    if length == 0 || length > MAX_BLOCK {
        return Err("bad length".into());
    }
    let piece_start = u64::from(index) * layout.piece_length;
    if u64::from(index) >= layout.num_pieces {
        return Err("no such piece".into());
    }
    let piece_len = layout.piece_length.min(layout.total_length - piece_start);
    if u64::from(begin) + u64::from(length) > piece_len {
        return Err("past the end of the piece".into());
    }
    let mut offset = piece_start + u64::from(begin);
    let mut out = vec![0u8; length as usize];
    let mut filled = 0usize;
    let mut file_start = 0u64;
    for (path, len) in &layout.files {
        let file_end = file_start + len;
        if filled < out.len() && offset < file_end && offset >= file_start {
            let n = usize::try_from((file_end - offset).min((out.len() - filled) as u64))
                .map_err(|e| e.to_string())?;
            File::open(path)
                .and_then(|f| f.read_exact_at(&mut out[filled..filled + n], offset - file_start))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            filled += n;
            offset += n as u64;
        }
        file_start = file_end;
    }
    if filled == out.len() {
        Ok(out)
    } else {
        Err("the files end before the block".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path) -> Layout {
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::write(&a, (0u8..10).collect::<Vec<_>>()).unwrap();
        std::fs::write(&b, (10u8..25).collect::<Vec<_>>()).unwrap();
        Layout {
            info_hash: InfoHash([0; 20]),
            piece_length: 8,
            total_length: 25,
            num_pieces: 4,
            files: vec![(a, 10), (b, 15)],
        }
    }

    #[test]
    fn blocks_are_read_across_file_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path());
        assert_eq!(
            read_block(&layout, 1, 0, 8).unwrap(),
            (8u8..16).collect::<Vec<_>>()
        );
        assert_eq!(read_block(&layout, 3, 0, 1).unwrap(), vec![24]);
    }

    #[test]
    fn requests_outside_the_torrent_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path());
        assert!(
            read_block(&layout, 3, 0, 2).is_err(),
            "past the short last piece"
        );
        assert!(read_block(&layout, 4, 0, 1).is_err(), "no such piece");
        assert!(read_block(&layout, 0, 4, 5).is_err(), "past the piece end");
        assert!(read_block(&layout, 0, 0, 0).is_err(), "empty block");
    }
}
