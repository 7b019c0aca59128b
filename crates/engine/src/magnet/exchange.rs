//! One peer of a metadata fetch: dial, handshake, BEP 10 handshake, then `ut_metadata`
//! requests until the info dictionary is in and hashes to the info-hash.
//!
//! Each peer fills its own [`MetadataAssembler`], so a peer whose pieces do not hash is known
//! for certain and dropped; the others go on.

use std::net::SocketAddr;
use std::time::Duration;

use crate::ctx::SessionCtx;
use crate::encryption;
use crate::transport::Transport;
use futures_util::{SinkExt, StreamExt};
use metainfo::{InfoHash, PeerId};
use tokio_util::codec::Framed;
use wire::{
    Codec, ExtensionHandshake, Handshake, Message, MetadataAssembler, MetadataError,
    MetadataMessage,
};

/// Time to connect and exchange both handshakes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer silent this long during the fetch is dropped.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// Metadata requests in flight to one peer.
const PIPELINE: usize = 4;
/// The extended id we want `ut_metadata` under.
const OUR_METADATA_ID: u8 = 2;

/// Why one peer gave us no metadata. Only ever drops that peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ExchangeError {
    #[error("connect timed out")]
    Timeout,
    #[error("i/o")]
    Io(#[from] std::io::Error),
    #[error("protocol")]
    Wire(#[from] wire::Error),
    #[error("the peer has another torrent")]
    WrongTorrent,
    #[error("connection set-up failed")]
    Setup(#[source] encryption::SetupError),
    #[error("the peer does not speak ut_metadata")]
    NoMetadataExtension,
    #[error("the peer closed the connection")]
    Closed,
    #[error("the peer rejected metadata piece {0}")]
    Rejected(u32),
    #[error("bad metadata from the peer")]
    Bad(#[source] MetadataError),
}

/// The torrent whose info dictionary is wanted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wanted {
    /// The hash of its swarm (handshakes).
    pub info_hash: InfoHash,
    /// Its v2 info-hash, checked instead of the SHA-1 when the magnet has no v1 hash.
    pub v2: Option<[u8; 32]>,
}

/// Fetches the info dictionary of `wanted` from the peer at `addr`, connecting over the
/// session's transports as its encryption policy says.
pub(crate) async fn fetch_from(
    addr: SocketAddr,
    wanted: Wanted,
    peer_id: PeerId,
    listen_port: u16,
    ctx: &SessionCtx,
) -> Result<Vec<u8>, ExchangeError> {
    let info_hash = wanted.info_hash;
    let ours = Handshake::new(info_hash, peer_id).with_dht(ctx.dht.is_some());
    let order = ctx.cfg.transports.dial_order(false);
    let how = encryption::Dialing {
        order: &order,
        policy: ctx.cfg.encryption,
        udp: &ctx.udp,
        timeout: CONNECT_TIMEOUT,
        counters: &ctx.setups,
    };
    let (peer, theirs) = encryption::dial(addr, &ours, &how)
        .await
        .map_err(ExchangeError::Setup)?;
    let stream = peer.io;
    if theirs.info_hash != info_hash {
        return Err(ExchangeError::WrongTorrent);
    }
    if !theirs.supports_extended() {
        return Err(ExchangeError::NoMetadataExtension);
    }
    let mut framed = Framed::new(stream, Codec::default());
    let ours = ExtensionHandshake {
        m: vec![(wire::METADATA_EXTENSION.to_string(), OUR_METADATA_ID)],
        client: Some(crate::CLIENT_NAME.to_string()),
        listen_port: Some(listen_port),
        ..ExtensionHandshake::default()
    };
    framed.send(ours.to_message()).await?;
    let (their_id, size) = wait_for_extensions(&mut framed).await?;
    let mut asm = MetadataAssembler::new(info_hash, u64::from(size)).map_err(ExchangeError::Bad)?;
    if let Some(v2) = wanted.v2 {
        asm = asm.with_v2(v2);
    }
    let mut inflight = 0;
    loop {
        while inflight < PIPELINE
            && let Some(piece) = asm.next_request()
        {
            let msg = MetadataMessage::Request { piece };
            framed
                .send(Message::Extended {
                    id: their_id,
                    payload: msg.encode(),
                })
                .await?;
            inflight += 1;
        }
        let Some(MetadataMessage::Data {
            piece,
            total_size,
            data,
        }) = next_metadata_message(&mut framed).await?
        else {
            continue;
        };
        inflight = inflight.saturating_sub(1);
        if let Some(done) = asm
            .add(piece, total_size, &data)
            .map_err(ExchangeError::Bad)?
        {
            return Ok(done);
        }
    }
}

type Conn = Framed<Box<dyn Transport>, Codec>;

/// The next frame within [`SILENCE_TIMEOUT`].
async fn next_frame(framed: &mut Conn) -> Result<Message, ExchangeError> {
    match tokio::time::timeout(SILENCE_TIMEOUT, framed.next()).await {
        Err(_) => Err(ExchangeError::Timeout),
        Ok(None) => Err(ExchangeError::Closed),
        Ok(Some(r)) => Ok(r?),
    }
}

/// Reads until the peer's extension handshake: its `ut_metadata` id and `metadata_size`.
async fn wait_for_extensions(framed: &mut Conn) -> Result<(u8, u32), ExchangeError> {
    loop {
        if let Message::Extended { id: 0, payload } = next_frame(framed).await? {
            let hs = ExtensionHandshake::decode(&payload)?;
            let id = hs
                .id_of(wire::METADATA_EXTENSION)
                .ok_or(ExchangeError::NoMetadataExtension)?;
            let size = hs.metadata_size.ok_or(ExchangeError::NoMetadataExtension)?;
            return Ok((id, size));
        }
    }
}

/// The next `ut_metadata` message addressed to us: `Some(Data)`, or `None` for anything else
/// worth ignoring (other messages, a request from the peer: we have nothing to serve). A
/// reject ends the exchange with this peer.
async fn next_metadata_message(
    framed: &mut Conn,
) -> Result<Option<MetadataMessage>, ExchangeError> {
    let Message::Extended { id, payload } = next_frame(framed).await? else {
        return Ok(None);
    };
    if id != OUR_METADATA_ID {
        return Ok(None);
    }
    match MetadataMessage::decode(&payload)? {
        m @ MetadataMessage::Data { .. } => Ok(Some(m)),
        MetadataMessage::Reject { piece } => Err(ExchangeError::Rejected(piece)),
        MetadataMessage::Request { .. } => Ok(None),
    }
}
