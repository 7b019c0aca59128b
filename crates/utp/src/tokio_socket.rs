//! A small tokio driver: one task owns a [`UdpSocket`] and an [`Endpoint`] and hands out
//! [`UtpStream`]s (`AsyncRead + AsyncWrite`). Datagrams that are not uTP can be forwarded to
//! another consumer of the same socket (UDP tracker client, DHT).

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::{Config, ConnectionHandle, Endpoint, Error, State, Transmit, is_utp_packet};

/// Largest datagram we read.
const MAX_DATAGRAM: usize = 65536;

/// Takes the datagrams that are not uTP, called on the driver's task as each arrives (so it
/// must not block: hand the bytes on with a `try_send` or the like).
pub type OtherDatagrams = Box<dyn Fn(&[u8], SocketAddr) + Send + Sync>;

#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

struct Inner {
    ep: Endpoint,
    wakers: HashMap<ConnectionHandle, Wakers>,
}

impl Inner {
    fn wake(&mut self, handle: ConnectionHandle) {
        if let Some(w) = self.wakers.get_mut(&handle) {
            w.read
                .take()
                .into_iter()
                .chain(w.write.take())
                .for_each(Waker::wake);
        }
    }

    fn wake_all(&mut self) {
        for w in self.wakers.values_mut() {
            w.read
                .take()
                .into_iter()
                .chain(w.write.take())
                .for_each(Waker::wake);
        }
    }
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the driver (new data written, a connection opened or dropped).
    driver: Notify,
    /// Wakes `accept`.
    incoming: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding the lock cannot leave the endpoint half-updated in a way that
        // matters more than losing the socket, so keep going with the data
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Driver {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    local_addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A uTP socket: an endpoint driven by a tokio task. Dropping the socket and all its streams
/// stops the task.
#[derive(Clone)]
pub struct UtpSocket {
    driver: Arc<Driver>,
}

impl UtpSocket {
    /// Binds a UDP socket at `addr` with default settings.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        Self::from_socket(socket, Config::default(), None)
    }

    /// Drives uTP over an existing (possibly shared) socket. Datagrams that are not uTP go to
    /// `others`, if given (dropped otherwise), straight from the driver: no task in between.
    pub fn from_socket(
        socket: Arc<UdpSocket>,
        config: Config,
        others: Option<OtherDatagrams>,
    ) -> io::Result<Self> {
        let local_addr = socket.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                ep: Endpoint::new(config, Instant::now(), fastrand::u64(..)),
                wakers: HashMap::new(),
            }),
            driver: Notify::new(),
            incoming: Notify::new(),
        });
        let task = tokio::spawn(drive(shared.clone(), socket, others));
        Ok(Self {
            driver: Arc::new(Driver {
                shared,
                task,
                local_addr,
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.driver.local_addr
    }

    /// Opens a connection and waits until the peer answered the SYN.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        let shared = &self.driver.shared;
        let handle = shared
            .lock()
            .ep
            .connect(Instant::now(), addr)
            .map_err(to_io)?;
        shared.driver.notify_one();
        let stream = UtpStream {
            driver: self.driver.clone(),
            handle,
        };
        poll_fn(|cx| {
            let mut inner = shared.lock();
            let Some(conn) = inner.ep.connection(handle) else {
                return Poll::Ready(Err(to_io(Error::UnknownConnection)));
            };
            match conn.state() {
                State::Failed(e) => Poll::Ready(Err(to_io(e.clone()))),
                _ if conn.is_established() => Poll::Ready(Ok(())),
                _ => {
                    inner.wakers.entry(handle).or_default().write = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(stream)
    }

    /// Waits for the next incoming connection.
    pub async fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let shared = &self.driver.shared;
        loop {
            let notified = shared.incoming.notified();
            {
                let mut inner = shared.lock();
                if let Some(handle) = inner.ep.accept() {
                    let addr = inner
                        .ep
                        .peer_addr(handle)
                        .ok_or_else(|| to_io(Error::UnknownConnection))?;
                    return Ok((
                        UtpStream {
                            driver: self.driver.clone(),
                            handle,
                        },
                        addr,
                    ));
                }
            }
            notified.await;
        }
    }

    /// State, counters and gauges of every connection, with its peer.
    pub fn connections(
        &self,
    ) -> Vec<(
        SocketAddr,
        State,
        crate::ConnectionStats,
        crate::ConnectionStatus,
    )> {
        let mut inner = self.driver.shared.lock();
        let handles: Vec<ConnectionHandle> = inner.ep.handles().collect();
        handles
            .into_iter()
            .filter_map(|h| {
                let addr = inner.ep.peer_addr(h)?;
                let conn = inner.ep.connection(h)?;
                Some((
                    addr,
                    conn.state().clone(),
                    conn.stats().clone(),
                    conn.status(),
                ))
            })
            .collect()
    }

    /// A snapshot of the endpoint's counters.
    pub fn stats(&self) -> crate::EndpointStats {
        self.driver.shared.lock().ep.stats().clone()
    }
}

async fn drive(shared: Arc<Shared>, socket: Arc<UdpSocket>, others: Option<OtherDatagrams>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut outgoing: Vec<Transmit> = Vec::new();
    loop {
        let deadline = {
            let mut inner = shared.lock();
            let now = Instant::now();
            while let Some(t) = inner.ep.poll_transmit(now) {
                outgoing.push(t);
            }
            inner.ep.next_timeout()
        };
        for t in outgoing.drain(..) {
            // a send error (e.g. ICMP unreachable reported late) is just a lost datagram
            let _ = socket.send_to(&t.payload, t.destination).await;
        }
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                // This datagram and every one already waiting, then one round of sends: the
                // acks of a burst of data go out as one (as libtorrent defers its acks until
                // the socket is drained), and a burst of acks releases data in one go.
                let mut inner = shared.lock();
                receive(&mut inner, &others, from, &buf[..len]);
                for _ in 0..DRAIN {
                    let Ok((len, from)) = socket.try_recv_from(&mut buf) else { break };
                    receive(&mut inner, &others, from, &buf[..len]);
                }
                if inner.ep.has_incoming() {
                    shared.incoming.notify_one();
                }
            }
            () = sleep => {
                let mut inner = shared.lock();
                inner.ep.handle_timeout(Instant::now());
                inner.wake_all();
            }
            () = shared.driver.notified() => {}
        }
    }
}

/// Most datagrams read without waiting after a wake-up, before the driver sends again.
const DRAIN: usize = 64;

/// Hands one received datagram to the endpoint (waking its stream) or, if it is not uTP, to
/// `others`.
fn receive(inner: &mut Inner, others: &Option<OtherDatagrams>, from: SocketAddr, datagram: &[u8]) {
    if !is_utp_packet(datagram) {
        if let Some(sink) = others {
            sink(datagram, from);
        }
        return;
    }
    if let Some(handle) = inner.ep.handle_datagram(Instant::now(), from, datagram) {
        inner.wake(handle);
    }
}

fn to_io(e: Error) -> io::Error {
    let kind = match e {
        Error::WouldBlock => io::ErrorKind::WouldBlock,
        Error::ConnectionReset => io::ErrorKind::ConnectionReset,
        Error::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        Error::TimedOut => io::ErrorKind::TimedOut,
        Error::Closed => io::ErrorKind::BrokenPipe,
        Error::UnknownConnection => io::ErrorKind::NotConnected,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// One uTP connection as a byte stream. Dropping it closes the connection (FIN) in the
/// background.
pub struct UtpStream {
    driver: Arc<Driver>,
    handle: ConnectionHandle,
}

impl UtpStream {
    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.driver.shared.lock().ep.peer_addr(self.handle)
    }
}

impl UtpStream {
    /// A snapshot of the connection's counters and state (None once it is gone).
    pub fn stats(&self) -> Option<(State, crate::ConnectionStats, crate::ConnectionStatus)> {
        let mut inner = self.driver.shared.lock();
        let conn = inner.ep.connection(self.handle)?;
        Some((conn.state().clone(), conn.stats().clone(), conn.status()))
    }
}

impl AsyncRead for UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let shared = &self.driver.shared;
        let mut inner = shared.lock();
        let Some(conn) = inner.ep.connection(self.handle) else {
            return Poll::Ready(Err(to_io(Error::UnknownConnection)));
        };
        match conn.read(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                // reading may open the window: let the driver send an update
                shared.driver.notify_one();
                Poll::Ready(Ok(()))
            }
            Err(Error::WouldBlock) => {
                inner.wakers.entry(self.handle).or_default().read = Some(cx.waker().clone());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}

impl AsyncWrite for UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.driver.shared;
        let mut inner = shared.lock();
        let Some(conn) = inner.ep.connection(self.handle) else {
            return Poll::Ready(Err(to_io(Error::UnknownConnection)));
        };
        match conn.write(data) {
            Ok(n) => {
                shared.driver.notify_one();
                Poll::Ready(Ok(n))
            }
            Err(Error::WouldBlock) => {
                inner.wakers.entry(self.handle).or_default().write = Some(cx.waker().clone());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &self.driver.shared;
        if let Some(conn) = shared.lock().ep.connection(self.handle) {
            conn.shutdown();
        }
        shared.driver.notify_one();
        Poll::Ready(Ok(()))
    }
}

impl Drop for UtpStream {
    fn drop(&mut self) {
        let shared = &self.driver.shared;
        let mut inner = shared.lock();
        inner.ep.release(Instant::now(), self.handle);
        inner.wakers.remove(&self.handle);
        drop(inner);
        shared.driver.notify_one();
    }
}
