//! The finished handshake over tokio I/O: drivers that run a machine over a stream, and
//! adapters that apply the negotiated cipher to everything after it.
//!
//! [`MseStream`] is the whole connection; [`MseStream::into_parts`] splits it for a reader task
//! ([`MseReader`] over a read half) and a writer task ([`MseWriter`] over a write half).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use metainfo::InfoHash;

use super::{Initiator, Keystream, Method, MseError, Outcome, Responder, SkeyLookup, Stream};

/// Most plaintext one write encrypts ahead of the socket.
const WRITE_CHUNK: usize = 64 * 1024;

/// Runs `initiator` over `io` (whose first bytes it sends) to the end of the handshake.
/// Bound it with the handshake timeout: it waits as long as the peer does.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    mut initiator: Initiator,
) -> Result<MseStream<S>, MseError> {
    let output = initiator.take_output();
    drive(io, output, |received| {
        let done = initiator.feed(received)?;
        Ok((initiator.take_output(), done))
    })
    .await
}

/// Runs `responder` over an accepted `io` to the end of the handshake; `first` holds bytes
/// already read from it (e.g. those [`classify`](super::classify) looked at), if any.
/// `torrents` is consulted once, when the stream key arrives (it is `Sync` so that the future
/// can move between threads: a map, or a [`LookupFn`](super::LookupFn) taking a lock briefly).
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    mut responder: Responder,
    first: &[u8],
    torrents: &(dyn SkeyLookup + Sync),
) -> Result<MseStream<S>, MseError> {
    let done = responder.feed(first, torrents)?;
    let output = responder.take_output();
    if let Some(outcome) = done {
        return finish(io, output, outcome).await;
    }
    drive(io, output, |received| {
        let done = responder.feed(received, torrents)?;
        Ok((responder.take_output(), done))
    })
    .await
}

/// Sends and receives at once (neither side's padding need fit the socket buffers) until the
/// machine is done, then sends the rest of its output. `feed` takes received bytes and
/// returns bytes to send, and the outcome once it is done.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    mut output: Vec<u8>,
    mut feed: impl FnMut(&[u8]) -> Result<(Vec<u8>, Option<Outcome>), MseError>,
) -> Result<MseStream<S>, MseError> {
    let mut buf = vec![0u8; 4096];
    let outcome = std::future::poll_fn(|cx| {
        loop {
            while !output.is_empty() {
                match Pin::new(&mut io).poll_write(cx, &output) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(MseError::Closed)),
                    Poll::Ready(Ok(n)) => drop(output.drain(..n)),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(MseError::Io(e))),
                    Poll::Pending => break,
                }
            }
            let mut read = ReadBuf::new(&mut buf);
            match Pin::new(&mut io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    return Poll::Ready(Err(MseError::Closed));
                }
                Poll::Ready(Ok(())) => match feed(read.filled()) {
                    Ok((more, done)) => {
                        output.extend_from_slice(&more);
                        if let Some(outcome) = done {
                            return Poll::Ready(Ok(outcome));
                        }
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                },
                Poll::Ready(Err(e)) => return Poll::Ready(Err(MseError::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await?;
    finish(io, output, outcome).await
}

/// Sends the machine's last bytes and wraps the stream.
async fn finish<S: AsyncWrite + Unpin>(
    mut io: S,
    output: Vec<u8>,
    outcome: Outcome,
) -> Result<MseStream<S>, MseError> {
    io.write_all(&output).await.map_err(MseError::Io)?;
    Ok(MseStream::new(io, outcome))
}

/// The receiving half of the negotiated stream: the handshake's leftover payload first, then
/// the socket's bytes, decrypted if RC4 was chosen.
#[derive(Debug)]
pub struct Decryptor {
    prefix: Vec<u8>,
    at: usize,
    cipher: Option<Keystream>,
}

impl Decryptor {
    fn poll_read_from<R: AsyncRead + Unpin>(
        &mut self,
        inner: &mut R,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.at);
            buf.put_slice(&self.prefix[self.at..self.at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(inner).poll_read(cx, buf))?;
        if let Some(cipher) = &mut self.cipher {
            cipher.apply(&mut buf.filled_mut()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

/// The sending half of the negotiated stream: encrypts if RC4 was chosen.
///
/// A write the socket accepts only in part keeps the encrypted rest; the next write must
/// continue with the same bytes (as `write_all` and every sink do), or it fails with
/// `InvalidInput` rather than send a corrupt stream.
#[derive(Debug)]
pub struct Encryptor {
    cipher: Option<Keystream>,
    /// Encrypted bytes the socket has not taken yet.
    pending: Vec<u8>,
    /// Their plaintext, to check the caller retries with the same bytes.
    plain: Vec<u8>,
}

impl Encryptor {
    fn poll_write_to<W: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut W,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(cipher) = &mut self.cipher else {
            return Pin::new(inner).poll_write(cx, buf);
        };
        if self.pending.is_empty() {
            let n = buf.len().min(WRITE_CHUNK);
            self.plain.extend_from_slice(&buf[..n]);
            self.pending.extend_from_slice(&buf[..n]);
            cipher.apply(&mut self.pending);
        }
        let m = buf.len().min(self.plain.len());
        if buf[..m] != self.plain[..m] {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an encrypted write was abandoned midway and different bytes followed",
            )));
        }
        let written = ready!(Pin::new(inner).poll_write(cx, &self.pending[..m]))?;
        self.pending.drain(..written);
        self.plain.drain(..written);
        Poll::Ready(Ok(written))
    }
}

/// Splits a handshake's outcome into the two halves of its stream.
fn halves(outcome: Outcome) -> (Decryptor, Encryptor) {
    let (decrypt, encrypt) = match outcome.stream {
        Stream::Plaintext => (None, None),
        Stream::Rc4 { encrypt, decrypt } => (Some(decrypt), Some(encrypt)),
    };
    let decryptor = Decryptor {
        prefix: outcome.payload,
        at: 0,
        cipher: decrypt,
    };
    let encryptor = Encryptor {
        cipher: encrypt,
        pending: Vec::new(),
        plain: Vec::new(),
    };
    (decryptor, encryptor)
}

/// A connection after its MSE handshake, reading and writing plaintext.
#[derive(Debug)]
pub struct MseStream<S> {
    inner: S,
    info_hash: InfoHash,
    method: Method,
    read: Decryptor,
    write: Encryptor,
}

impl<S> MseStream<S> {
    /// `io` continuing as `outcome` says, its payload read first.
    pub fn new(io: S, outcome: Outcome) -> Self {
        let (info_hash, method) = (outcome.info_hash, outcome.method());
        let (read, write) = halves(outcome);
        Self {
            inner: io,
            info_hash,
            method,
            read,
            write,
        }
    }

    /// The torrent of the handshake.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The method the handshake chose.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The socket and the two cipher halves, for [`MseReader`] and [`MseWriter`] over its
    /// split halves.
    pub fn into_parts(self) -> (S, Decryptor, Encryptor) {
        (self.inner, self.read, self.write)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MseStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.read.poll_read_from(&mut this.inner, cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MseStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write.poll_write_to(&mut this.inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The read half of a split [`MseStream`].
#[derive(Debug)]
pub struct MseReader<R> {
    inner: R,
    read: Decryptor,
}

impl<R> MseReader<R> {
    /// `inner` (a read half of the stream `read` came from) with its decryption.
    pub fn new(inner: R, read: Decryptor) -> Self {
        Self { inner, read }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for MseReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.read.poll_read_from(&mut this.inner, cx, buf)
    }
}

/// The write half of a split [`MseStream`].
#[derive(Debug)]
pub struct MseWriter<W> {
    inner: W,
    write: Encryptor,
}

impl<W> MseWriter<W> {
    /// `inner` (a write half of the stream `write` came from) with its encryption.
    pub fn new(inner: W, write: Encryptor) -> Self {
        Self { inner, write }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for MseWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write.poll_write_to(&mut this.inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
