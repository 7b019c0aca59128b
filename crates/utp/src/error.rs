//! Error types of the crate.

/// Why a datagram could not be decoded as a uTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than the 20-byte header.
    #[error("datagram of {0} bytes is shorter than a uTP header")]
    TooShort(usize),
    /// Version nibble is not 1.
    #[error("unsupported uTP version {0}")]
    BadVersion(u8),
    /// Type nibble is not one of the five packet types.
    #[error("unknown uTP packet type {0}")]
    BadType(u8),
    /// An extension runs past the end of the datagram.
    #[error("truncated uTP extension header")]
    TruncatedExtension,
    /// A selective ack of zero bytes.
    #[error("selective ack of {0} bytes")]
    BadSack(usize),
}

/// Errors of a connection or an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing to read yet, or no room to write; try again after the next datagram or timeout.
    #[error("operation would block")]
    WouldBlock,
    /// The peer sent a RESET.
    #[error("connection reset by peer")]
    ConnectionReset,
    /// The peer answered our SYN with a RESET.
    #[error("connection refused by peer")]
    ConnectionRefused,
    /// The peer stopped answering (retransmissions exhausted or idle too long).
    #[error("connection timed out")]
    TimedOut,
    /// Writing after `shutdown`, or using a connection that was closed.
    #[error("connection is closed for writing")]
    Closed,
    /// The endpoint's connection table is full.
    #[error("too many uTP connections")]
    TooManyConnections,
    /// The handle names no live connection.
    #[error("unknown uTP connection handle")]
    UnknownConnection,
}
