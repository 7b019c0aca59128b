//! Peer transports: the byte streams a peer connection runs over ([`Transport`]: TCP or uTP,
//! each boxed, so the handshake, MSE and peer code do not care which one a connection uses),
//! the outgoing policy ([`Transports`]) and the connector.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use utp::tokio_socket::UtpStream;

use crate::udp::UdpEndpoint;

/// Which transport carries a peer connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// TCP.
    Tcp,
    /// uTP (BEP 29) over the shared UDP socket.
    Utp,
}

impl TransportKind {
    /// `"tcp"` or `"utp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Utp => "utp",
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
    pub(crate) fn dial_order(self, prefers_utp: bool) -> Vec<TransportKind> {
        let mut order = Vec::with_capacity(2);
        if prefers_utp && self.utp_out {
            order.push(TransportKind::Utp);
        }
        if self.tcp_out {
            order.push(TransportKind::Tcp);
        }
        if self.utp_out && !prefers_utp {
            order.push(TransportKind::Utp);
        }
        order
    }
}

/// The read half of a peer connection, as the peer's reader task holds it.
pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a peer connection, as the peer's writer task holds it.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A byte stream a peer connection runs over: TCP, uTP, or MSE over either
/// (`crate::encryption`).
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Splits it for the peer's reader and writer tasks.
    fn into_halves(self: Box<Self>) -> (BoxRead, BoxWrite);
}

impl Transport for TcpStream {
    fn into_halves(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (r, w) = (*self).into_split();
        (Box::new(r), Box::new(w))
    }
}

impl Transport for UtpStream {
    fn into_halves(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (r, w) = tokio::io::split(*self);
        (Box::new(r), Box::new(w))
    }
}

/// Connects to `addr` over `kind`, within `timeout`.
pub(crate) async fn connect(
    kind: TransportKind,
    addr: SocketAddr,
    udp: &UdpEndpoint,
    timeout: Duration,
) -> io::Result<Box<dyn Transport>> {
    let connect = async {
        let io: Box<dyn Transport> = match kind {
            TransportKind::Tcp => {
                let s = TcpStream::connect(addr).await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            TransportKind::Utp => Box::new(udp.connect_utp(addr).await?),
        };
        Ok(io)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_is_dialled_first_unless_the_peer_prefers_utp() {
        use TransportKind::*;
        assert_eq!(Transports::ALL.dial_order(false), vec![Tcp, Utp]);
        assert_eq!(Transports::ALL.dial_order(true), vec![Utp, Tcp]);
        assert_eq!(Transports::UTP_ONLY.dial_order(false), vec![Utp]);
        assert_eq!(Transports::TCP_ONLY.dial_order(true), vec![Tcp]);
    }
}
