//! Peer transports: TCP and uTP behind one stream type, so the handshake and peer code do not
//! care which one a connection uses; the outgoing policy ([`Transports`]) and the dialer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use utp::tokio_socket::UtpStream;

use crate::udp::UdpEndpoint;

/// How a peer connection is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// TCP.
    Tcp,
    /// uTP (BEP 29) over the shared UDP socket.
    Utp,
}

impl Transport {
    /// `"tcp"` or `"utp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Utp => "utp",
        }
    }
}

/// Which transports a session accepts and dials. The default accepts both and dials TCP first,
/// uTP when TCP fails or the peer is known to prefer uTP (a seed should not pay uTP's CPU where
/// TCP works).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transports {
    /// Accept incoming TCP peers.
    pub tcp_in: bool,
    /// Accept incoming uTP peers.
    pub utp_in: bool,
    /// Dial peers over TCP.
    pub tcp_out: bool,
    /// Dial peers over uTP.
    pub utp_out: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Self::ALL
    }
}

impl Transports {
    /// TCP and uTP both ways.
    pub const ALL: Self = Self {
        tcp_in: true,
        utp_in: true,
        tcp_out: true,
        utp_out: true,
    };
    /// uTP only (tests and operators: `get --utp-only`).
    pub const UTP_ONLY: Self = Self {
        tcp_in: false,
        utp_in: true,
        tcp_out: false,
        utp_out: true,
    };
    /// TCP only (`get --no-utp`).
    pub const TCP_ONLY: Self = Self {
        tcp_in: true,
        utp_in: false,
        tcp_out: true,
        utp_out: false,
    };

    /// The order to try transports in when dialing a peer.
    pub(crate) fn dial_order(self, prefers_utp: bool) -> Vec<Transport> {
        let mut order = Vec::with_capacity(2);
        if prefers_utp && self.utp_out {
            order.push(Transport::Utp);
        }
        if self.tcp_out {
            order.push(Transport::Tcp);
        }
        if self.utp_out && !prefers_utp {
            order.push(Transport::Utp);
        }
        order
    }
}

/// A connected peer stream over either transport.
pub(crate) enum PeerStream {
    Tcp(TcpStream),
    Utp(UtpStream),
}

impl std::fmt::Debug for PeerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerStream::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            PeerStream::Utp(s) => f.debug_tuple("Utp").field(&s.peer_addr()).finish(),
        }
    }
}

/// The read half of a [`PeerStream`].
pub(crate) type PeerReader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a [`PeerStream`].
pub(crate) type PeerWriter = Box<dyn AsyncWrite + Send + Unpin>;

impl PeerStream {
    /// Which transport carries it.
    pub fn transport(&self) -> Transport {
        match self {
            PeerStream::Tcp(_) => Transport::Tcp,
            PeerStream::Utp(_) => Transport::Utp,
        }
    }

    /// Splits into halves the reader and the writer task own.
    pub fn into_split(self) -> (PeerReader, PeerWriter) {
        match self {
            PeerStream::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            PeerStream::Utp(s) => {
                let (r, w) = tokio::io::split(s);
                (Box::new(r), Box::new(w))
            }
        }
    }

    /// Connects to `addr` over `transport`, within `timeout`.
    pub async fn connect(
        transport: Transport,
        addr: SocketAddr,
        udp: Option<&UdpEndpoint>,
        timeout: Duration,
    ) -> io::Result<Self> {
        let connect = async {
            match transport {
                Transport::Tcp => {
                    let s = TcpStream::connect(addr).await?;
                    let _ = s.set_nodelay(true);
                    Ok(PeerStream::Tcp(s))
                }
                Transport::Utp => {
                    let udp = udp.ok_or_else(|| {
                        io::Error::new(io::ErrorKind::Unsupported, "no UDP socket for uTP")
                    })?;
                    Ok(PeerStream::Utp(udp.connect_utp(addr).await?))
                }
            }
        };
        tokio::time::timeout(timeout, connect)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Utp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_write(cx, data),
            PeerStream::Utp(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Utp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Utp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_is_dialled_first_unless_the_peer_prefers_utp() {
        use Transport::*;
        assert_eq!(Transports::ALL.dial_order(false), vec![Tcp, Utp]);
        assert_eq!(Transports::ALL.dial_order(true), vec![Utp, Tcp]);
        assert_eq!(Transports::UTP_ONLY.dial_order(false), vec![Utp]);
        assert_eq!(Transports::TCP_ONLY.dial_order(true), vec![Tcp]);
    }
}
