//! UDP trackers (BEP 15), by hand on `tokio::net::UdpSocket`.
//!
//! One socket per address family is shared by every request of a [`Client`](super::Client)
//! (transmission's `tr_announcer_udp` does the same): it costs one file descriptor however many
//! torrents announce, and trackers that bind connection ids to the client's address and port keep
//! accepting our cached ids. Replies are demultiplexed by transaction id without a background
//! task: every waiting request reads the socket itself and hands datagrams meant for another
//! waiter to that waiter's oneshot. Nothing outlives the requests, so the client works in any
//! runtime, and dropping a request (timeout, cancellation) unregisters it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::{OnceCell, oneshot};
use tokio::time::Instant;

use super::{AnnounceRequest, AnnounceResponse, Error, ScrapeStats};
use crate::wire::udp as wire;

/// How long a connection id may be reused (BEP 15: one minute).
const CONNECTION_ID_TTL: Duration = Duration::from_secs(60);
/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65_536;

/// A request waiting for its reply.
struct Pending {
    /// The tracker the reply must come from.
    from: SocketAddr,
    /// Where another waiter delivers the reply.
    tx: oneshot::Sender<Vec<u8>>,
}

/// Shared UDP state of a client.
pub(crate) struct UdpClient {
    /// First wait; the n-th send waits `base_timeout * 2^n`.
    base_timeout: Duration,
    /// Total sends per announce or scrape (connects included).
    tries: u32,
    /// Bound on first use, so `Client::new` needs no runtime.
    v4: OnceCell<UdpSocket>,
    v6: OnceCell<UdpSocket>,
    /// Transaction id → waiter; std mutex because no lock is held across an await.
    pending: Mutex<HashMap<u32, Pending>>,
    /// Tracker address → (connection id, obtained at).
    conn_ids: Mutex<HashMap<SocketAddr, (u64, Instant)>>,
}

impl std::fmt::Debug for UdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpClient")
            .field("base_timeout", &self.base_timeout)
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

/// Removes a waiter's registration when its request ends, however it ends.
struct Registration<'a> {
    client: &'a UdpClient,
    tid: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.client.pending).remove(&self.tid);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl UdpClient {
    pub(crate) fn new(base_timeout: Duration, tries: u32) -> Self {
        Self {
            base_timeout,
            tries,
            v4: OnceCell::new(),
            v6: OnceCell::new(),
            pending: Mutex::new(HashMap::new()),
            conn_ids: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn base_timeout(&self) -> Duration {
        self.base_timeout
    }

    pub(crate) fn tries(&self) -> u32 {
        self.tries
    }

    /// Announces to a `udp://host:port[/path]` tracker.
    pub(crate) async fn announce(
        &self,
        url: &str,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, Error> {
        let addr = resolve(url).await?;
        tracing::debug!(url, %addr, event = ?req.event, "udp announce");
        let reply = self
            .connected_request(addr, |conn, tid| wire::announce_request(conn, tid, req))
            .await?;
        wire::parse_announce(&reply, addr.is_ipv6())
    }

    /// Scrapes one info-hash from a `udp://host:port` tracker.
    pub(crate) async fn scrape(
        &self,
        url: &str,
        info_hash: InfoHash,
    ) -> Result<ScrapeStats, Error> {
        let addr = resolve(url).await?;
        tracing::debug!(url, %addr, "udp scrape");
        let reply = self
            .connected_request(addr, |conn, tid| wire::scrape_request(conn, tid, info_hash))
            .await?;
        wire::parse_scrape(&reply)
    }

    /// Gets (or reuses) a connection id, then exchanges the request built by `build`. A timeout
    /// forgets the connection id (it may have expired on the tracker's side) and starts over, until
    /// `tries` sends went unanswered.
    async fn connected_request(
        &self,
        addr: SocketAddr,
        build: impl Fn(u64, u32) -> Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        let mut attempt = 0;
        while attempt < self.tries {
            let conn = match self.cached_connection_id(addr) {
                Some(conn) => conn,
                None => match self.exchange(addr, wire::connect_request, attempt).await? {
                    Some(reply) => {
                        let conn = wire::parse_connect(&reply)?;
                        lock(&self.conn_ids).insert(addr, (conn, Instant::now()));
                        conn
                    }
                    None => {
                        attempt += 1;
                        continue;
                    }
                },
            };
            match self.exchange(addr, |tid| build(conn, tid), attempt).await? {
                Some(reply) => return Ok(reply),
                None => {
                    attempt += 1;
                    lock(&self.conn_ids).remove(&addr);
                }
            }
        }
        Err(Error::Timeout)
    }

    fn cached_connection_id(&self, addr: SocketAddr) -> Option<u64> {
        let mut ids = lock(&self.conn_ids);
        match ids.get(&addr) {
            Some(&(conn, at)) if at.elapsed() < CONNECTION_ID_TTL => Some(conn),
            Some(_) => {
                ids.remove(&addr);
                None
            }
            None => None,
        }
    }

    async fn socket(&self, addr: SocketAddr) -> Result<&UdpSocket, Error> {
        let (cell, bind) = if addr.is_ipv4() {
            (&self.v4, "0.0.0.0:0")
        } else {
            (&self.v6, "[::]:0")
        };
        Ok(cell.get_or_try_init(|| UdpSocket::bind(bind)).await?)
    }

    /// Sends one request (built with a fresh transaction id) and waits `base * 2^attempt` for
    /// the reply with that id from `addr`. `Ok(None)` means no reply in time. The reply's
    /// action is checked by the caller; an error reply (action 3) becomes [`Error::Failure`].
    async fn exchange(
        &self,
        addr: SocketAddr,
        build: impl FnOnce(u32) -> Vec<u8>,
        attempt: u32,
    ) -> Result<Option<Vec<u8>>, Error> {
        let socket = self.socket(addr).await?;
        let (tid, mut rx, _registration) = self.register(addr);
        let packet = build(tid);
        socket.send_to(&packet, addr).await?;
        let wait = self
            .base_timeout
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX));
        match tokio::time::timeout(wait, self.receive(socket, addr, tid, &mut rx)).await {
            Ok(reply) => {
                let reply = reply?;
                wire::check_error(&reply)?;
                Ok(Some(reply))
            }
            Err(_) => {
                tracing::debug!(%addr, attempt, "udp tracker did not answer");
                Ok(None)
            }
        }
    }

    /// Registers a waiter under a transaction id no other waiter uses.
    fn register(&self, from: SocketAddr) -> (u32, oneshot::Receiver<Vec<u8>>, Registration<'_>) {
        let (tx, rx) = oneshot::channel();
        let mut pending = lock(&self.pending);
        let mut tid = fastrand::u32(..);
        while pending.contains_key(&tid) {
            tid = fastrand::u32(..);
        }
        pending.insert(tid, Pending { from, tx });
        (tid, rx, Registration { client: self, tid })
    }

    /// Waits for the datagram answering `tid`: delivered by another waiter, or read here.
    /// Datagrams for other waiters are handed over; stray ones are dropped.
    async fn receive(
        &self,
        socket: &UdpSocket,
        addr: SocketAddr,
        tid: u32,
        rx: &mut oneshot::Receiver<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut rx_open = true;
        loop {
            tokio::select! {
                delivered = &mut *rx, if rx_open => match delivered {
                    Ok(reply) => return Ok(reply),
                    Err(_) => rx_open = false,
                },
                received = socket.recv_from(&mut buf) => {
                    let (n, from) = received?;
                    let datagram = buf.get(..n).unwrap_or_default();
                    let Some(their_tid) = wire::transaction_id(datagram) else {
                        tracing::debug!(%from, n, "dropping short udp tracker datagram");
                        continue;
                    };
                    if their_tid == tid && from == addr {
                        return Ok(datagram.to_vec());
                    }
                    self.deliver(their_tid, from, datagram);
                }
            }
        }
    }

    /// Hands a datagram to the waiter registered under `tid`, if it came from that waiter's
    /// tracker.
    fn deliver(&self, tid: u32, from: SocketAddr, datagram: &[u8]) {
        let mut pending = lock(&self.pending);
        match pending.get(&tid) {
            Some(p) if p.from == from => {
                if let Some(p) = pending.remove(&tid) {
                    // The waiter may have just given up; then the reply is moot.
                    let _ = p.tx.send(datagram.to_vec());
                }
            }
            _ => tracing::debug!(%from, tid, "dropping udp tracker datagram for nobody"),
        }
    }
}

/// Resolves the `host:port` of a `udp://` URL to one address.
async fn resolve(url: &str) -> Result<SocketAddr, Error> {
    let authority = udp_authority(url).ok_or_else(|| Error::UnsupportedScheme(url.to_owned()))?;
    tokio::net::lookup_host(authority)
        .await?
        .next()
        .ok_or_else(|| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{authority} resolves to no address"),
            ))
        })
}

/// The `host:port` part of `udp://host:port/...`; `None` without a port.
fn udp_authority(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("udp") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    let (host, port) = authority.rsplit_once(':')?;
    if host.is_empty() || host.ends_with(':') || port.parse::<u16>().ok()? == 0 {
        return None;
    }
    Some(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_parsing() {
        assert_eq!(
            udp_authority("udp://t.example:6969/announce"),
            Some("t.example:6969")
        );
        assert_eq!(udp_authority("UDP://127.0.0.1:1"), Some("127.0.0.1:1"));
        assert_eq!(udp_authority("udp://[::1]:80?x=1"), Some("[::1]:80"));
        assert_eq!(udp_authority("udp://t.example/announce"), None);
        assert_eq!(udp_authority("udp://t.example:0"), None);
        assert_eq!(udp_authority("udp://:80"), None);
        assert_eq!(udp_authority("udp://[::1]"), None);
        assert_eq!(udp_authority("http://t.example:80"), None);
    }
}
