//! One peer connection: the reading half and the protocol logic run in this task, the writing
//! half in [`writer`]. The peer asks the shared picker for blocks, stores what it receives,
//! serves requests from the read cache or the disk, and obeys the torrent's choke decisions.

mod download;
mod hashes;
mod upload;
mod writer;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use metainfo::Bitfield;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wire::{BlockRequest, Codec, ExtensionHandshake, Message};

use crate::PeerKey;
use crate::addr_limit::ConnPermit;
use crate::error::PeerError;
use crate::spawn::spawn_in;
use crate::torrent::{Event, TorrentShared};

/// Requests unanswered for this long make the peer "snubbed": they are given to others.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A snubbed peer is asked again after this long.
const SNUB_RETRY: Duration = Duration::from_secs(60);
/// Requests in flight to one peer when it told us nothing (libtorrent's assumption).
const DEFAULT_REQQ: usize = 250;
/// Never more than this many requests in flight to one peer.
const MAX_DEPTH: usize = 500;
/// Requests in flight to a peer we know nothing about yet.
const INITIAL_DEPTH: usize = 32;
/// The request queue length we advertise (BEP 10 `reqq`).
const OUR_REQQ: u32 = 500;
/// The extended message id we want `ut_pex` messages under.
const OUR_PEX_ID: u8 = 1;
/// A peer's PEX messages are taken at most this often (BEP 11 says once a minute); others are
/// ignored.
const PEX_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Addresses taken from one PEX message (BEP 11 asks for at most 50).
const PEX_MAX_ADDED: usize = 100;
/// The extended message id we want `ut_metadata` messages under.
const OUR_METADATA_ID: u8 = 2;
/// `ut_metadata` requests answered per peer connection (a 16 MiB info dictionary is 1024
/// pieces): a peer asking for more is only wasting our upload.
const MAX_METADATA_REQUESTS: u32 = 4096;
/// BEP 52 `hash request`s answered per peer connection; later ones get a `hash reject`.
const MAX_HASH_REQUESTS: u32 = 1024;
/// Piece-layer hashes one connection may make us hash for proofs (a proof up to the root costs
/// about the file's piece count; 2^22 is a couple of CPU seconds, enough for the first proof of
/// a file of four million pieces and the cheap requests that follow).
const HASH_WORK_BUDGET: u64 = 1 << 22;
/// A peer with more unanswered requests than this to us is dropped.
const MAX_PENDING_UPLOADS: usize = 2048;

/// Counters the torrent task reads for choking and stats.
#[derive(Debug, Default)]
pub(crate) struct PeerCounters {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub peer_interested: AtomicBool,
    pub snubbed: AtomicBool,
    pub is_seed: AtomicBool,
}

/// What the torrent task tells a peer to do.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    Choke,
    Unchoke,
    /// We have a new piece.
    Have(u32),
    /// Someone else delivered this block first.
    Cancel(BlockRequest),
    /// Disconnect, saying why in the log.
    Close(PeerError),
    /// Tell the peer about other peers (BEP 11).
    Pex(wire::PexMessage),
}

/// Everything a peer task starts with.
pub(crate) struct PeerSetup {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub stream: crate::encryption::PeerStream,
    pub reserved: [u8; 8],
    pub counters: Arc<PeerCounters>,
    pub commands: mpsc::UnboundedReceiver<PeerCommand>,
    pub cancel: CancellationToken,
    pub permit: ConnPermit,
}

/// Starts the tasks of a connected peer.
pub(crate) fn spawn(shared: Arc<TorrentShared>, setup: PeerSetup, tasks: &TaskTracker) {
    let PeerSetup {
        key,
        addr,
        stream,
        reserved,
        counters,
        commands,
        cancel,
        permit,
    } = setup;
    let (rd, wr) = stream.io.into_halves();
    let (out, out_rx) = mpsc::unbounded_channel();
    let uploads = upload::Uploads::new(shared.ctx.upload_budget.clone());
    // Debug level: free unless someone reads the engine's debug logs.
    let span = tracing::debug_span!("peer", %addr, key);
    let writer = writer::run(
        wr,
        out_rx,
        uploads.queued.clone(),
        uploads.wake.clone(),
        shared.clone(),
        counters.clone(),
        cancel.clone(),
    );
    spawn_in(tasks, "peer writer", span.clone(), writer);
    let piece_count = shared.info.piece_count();
    let peer = Peer {
        key,
        addr,
        fast: wire::supports_fast(&reserved),
        extended: wire::supports_extended(&reserved),
        dht: wire::supports_dht(&reserved) && shared.ctx.dht.is_some() && !shared.info.private,
        dht_port_seen: false,
        frames: FramedRead::with_capacity(rd, Codec::default(), 256 * 1024),
        out,
        uploads,
        counters,
        commands,
        cancel,
        has: Bitfield::new(piece_count),
        am_interested: false,
        peer_choking: true,
        am_choking: true,
        inflight: HashSet::new(),
        depth: INITIAL_DEPTH,
        max_depth: DEFAULT_REQQ,
        last_progress: Instant::now(),
        snubbed_at: None,
        rate_window: (Instant::now(), 0),
        pick_buf: Vec::new(),
        space: shared.space_freed(),
        starved: false,
        their_pex_id: None,
        next_pex_at: Instant::now(),
        their_metadata_id: None,
        metadata_served: 0,
        metadata: None,
        hashes_served: 0,
        hash_work: 0,
        // libtorrent sets the v2 bit only towards v1 peers of a hybrid; a connection under a
        // v2-only torrent's hash is v2 whatever the bit says.
        v2: wire::supports_v2(&reserved) || !shared.info.has_v1(),
        hash_asks: 0,
        hashes_refused: false,
        shared,
        _permit: permit,
    };
    spawn_in(tasks, "peer", span, peer.run());
}

struct Peer {
    key: PeerKey,
    addr: SocketAddr,
    fast: bool,
    extended: bool,
    /// Both sides run a DHT node (BEP 5 reserved bit, public torrent): we send our `port`.
    dht: bool,
    /// The peer's `port` message was taken (one per connection).
    dht_port_seen: bool,
    frames: FramedRead<crate::transport::BoxRead, Codec>,
    out: mpsc::UnboundedSender<Message>,
    uploads: upload::Uploads,
    counters: Arc<PeerCounters>,
    commands: mpsc::UnboundedReceiver<PeerCommand>,
    cancel: CancellationToken,
    has: Bitfield,
    am_interested: bool,
    peer_choking: bool,
    am_choking: bool,
    inflight: HashSet<BlockRequest>,
    depth: usize,
    max_depth: usize,
    last_progress: Instant,
    snubbed_at: Option<Instant>,
    rate_window: (Instant, u64),
    pick_buf: Vec<BlockRequest>,
    /// Changes when piece buffer space frees somewhere in the torrent.
    space: tokio::sync::watch::Receiver<u64>,
    /// The last top-up got fewer requests than the pipeline has room for: wake on `space`.
    starved: bool,
    /// The id the peer wants `ut_pex` under, when it speaks it.
    their_pex_id: Option<u8>,
    /// When the next PEX message from this peer is taken.
    next_pex_at: Instant,
    /// The id the peer wants `ut_metadata` under, when it speaks it (never for private torrents).
    their_metadata_id: Option<u8>,
    /// `ut_metadata` requests answered so far.
    metadata_served: u32,
    /// The raw info dictionary, once the peer asked for it (shared with every other peer that
    /// holds it; read again from the `.torrent` when no one did).
    metadata: Option<Bytes>,
    /// BEP 52 `hash request`s answered so far.
    hashes_served: u32,
    /// Hashing those answers cost, in piece-layer hashes (see [`HASH_WORK_BUDGET`]).
    hash_work: u64,
    /// The peer speaks BitTorrent v2 (BEP 52): it may be asked for piece layers.
    v2: bool,
    /// Our `hash request`s it has not answered yet.
    hash_asks: u32,
    /// It rejected a `hash request` of ours: not asked again on this connection.
    hashes_refused: bool,
    shared: Arc<TorrentShared>,
    _permit: ConnPermit,
}

impl Peer {
    async fn run(mut self) {
        let reason = self.run_inner().await.err();
        self.cancel.cancel();
        self.release_all();
        self.shared.picker().remove_peer(&self.has);
        if let Some(mut f) = self.shared.hash_fetch() {
            f.release(self.key, None);
        }
        let _ = self
            .shared
            .events
            .send(Event::Closed {
                key: self.key,
                reason,
            })
            .await;
    }

    async fn run_inner(&mut self) -> Result<(), PeerError> {
        self.send_greeting();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The idle deadline moves only when the peer sends something: no other event (the
        // tick, a command, a disk read) can keep a silent peer connected.
        let idle_timeout = self.shared.ctx.cfg.peer_idle_timeout;
        let idle = tokio::time::sleep(idle_timeout);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.on_command(c)?,
                    None => return Ok(()),
                },
                frame = self.frames.next() => match frame {
                    Some(Ok(msg)) => {
                        idle.as_mut().reset(Instant::now() + idle_timeout);
                        self.on_message(msg).await?;
                    }
                    Some(Err(e)) => return Err(PeerError::Protocol(e)),
                    None => return Err(PeerError::ClosedByPeer),
                },
                () = &mut idle => return Err(PeerError::IdleTimeout),
                Some(done) = self.uploads.reads.join_next(), if !self.uploads.reads.is_empty() => {
                    match done {
                        Ok(Ok((piece, result))) => self.on_read(piece, result)?,
                        Ok(Err(e)) | Err(e) => return Err(PeerError::ReadTask(e)),
                    }
                }
                () = self.uploads.wake.notified(), if self.uploads.waiting() => {
                    self.pump_uploads(None)?;
                }
                Ok(()) = self.space.changed(), if self.starved => self.fill_requests()?,
                _ = tick.tick() => {
                    self.on_tick();
                    self.pump_uploads(None)?;
                }
            }
        }
    }

    fn send(&self, m: Message) -> Result<(), PeerError> {
        self.out.send(m).map_err(|_| PeerError::WriterGone)
    }

    fn send_greeting(&mut self) {
        let have = self.shared.have();
        let msg = if self.fast && have.is_full() {
            Some(Message::HaveAll)
        } else if self.fast && have.count() == 0 {
            Some(Message::HaveNone)
        } else if have.count() > 0 {
            Some(Message::Bitfield(Bytes::copy_from_slice(have.as_bytes())))
        } else {
            None
        };
        if let Some(m) = msg {
            let _ = self.send(m);
        }
        if self.dht
            && let Some(d) = &self.shared.ctx.dht
        {
            let _ = self.send(Message::Port(d.port));
        }
        if self.extended {
            // Private torrents neither exchange peers nor hand out their metadata (as libtorrent).
            let private = self.shared.info.private;
            let m = if private {
                Vec::new()
            } else {
                vec![
                    (wire::PEX_EXTENSION.to_string(), OUR_PEX_ID),
                    (wire::METADATA_EXTENSION.to_string(), OUR_METADATA_ID),
                ]
            };
            let hs = ExtensionHandshake {
                m,
                metadata_size: u32::try_from(self.shared.metadata.len())
                    .ok()
                    .filter(|_| !private),
                client: Some(crate::CLIENT_NAME.to_string()),
                reqq: Some(OUR_REQQ),
                listen_port: Some(self.shared.ctx.announce_port),
                ..ExtensionHandshake::default()
            };
            let _ = self.send(hs.to_message());
        }
    }

    fn on_command(&mut self, cmd: PeerCommand) -> Result<(), PeerError> {
        match cmd {
            PeerCommand::Choke => {
                self.am_choking = true;
                self.send(Message::Choke)?;
                self.drop_uploads()?;
            }
            PeerCommand::Unchoke => {
                self.am_choking = false;
                self.send(Message::Unchoke)?;
            }
            PeerCommand::Have(i) => {
                self.send(Message::Have(i))?;
                let complete = self.shared.picker().is_complete();
                if complete && self.has.is_full() {
                    return Err(PeerError::BothSeeds);
                }
                if self.am_interested && self.inflight.is_empty() {
                    self.update_interest();
                    self.fill_requests()?;
                }
            }
            PeerCommand::Cancel(r) => {
                if self.inflight.remove(&r) {
                    self.send(Message::Cancel(r))?;
                    self.fill_requests()?;
                }
            }
            PeerCommand::Close(why) => return Err(why),
            PeerCommand::Pex(msg) => {
                if let Some(id) = self.their_pex_id {
                    self.send(Message::Extended {
                        id,
                        payload: msg.encode(),
                    })?;
                }
            }
        }
        Ok(())
    }

    async fn on_message(&mut self, msg: Message) -> Result<(), PeerError> {
        let n = self.has.len();
        match msg {
            Message::Port(port) => {
                // BEP 5: the peer's DHT node, once per connection (a peer repeating it with
                // other ports cannot make us ping them); never for a private torrent (BEP 27)
                if let Some(d) = &self.shared.ctx.dht
                    && !self.shared.info.private
                    && port != 0
                    && !std::mem::replace(&mut self.dht_port_seen, true)
                {
                    d.add_node(SocketAddr::new(self.addr.ip(), port));
                }
                Ok(())
            }
            Message::KeepAlive | Message::SuggestPiece(_) | Message::AllowedFast(_) => Ok(()),
            // BEP 3/6 want these first, but clients send their BEP 10 handshake before them and
            // aria2 may follow have-none with a bitfield: a later one replaces what we knew.
            Message::Bitfield(bytes) => {
                let bf = wire::validate_bitfield(&bytes, n).ok_or(PeerError::MalformedBitfield)?;
                self.set_bitfield(bf)
            }
            Message::HaveAll if self.fast => self.set_bitfield(Bitfield::full(n)),
            Message::HaveNone if self.fast => self.set_bitfield(Bitfield::new(n)),
            Message::HaveAll | Message::HaveNone => Err(PeerError::FastNotNegotiated),
            Message::Have(i) => self.on_have(i),
            Message::Choke => {
                self.peer_choking = true;
                self.release_all();
                Ok(())
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.last_progress = Instant::now();
                self.fill_requests()
            }
            Message::Interested => self.on_interest(true).await,
            Message::NotInterested => self.on_interest(false).await,
            Message::Request(r) => self.on_request(r),
            Message::Cancel(r) => {
                self.on_cancel(r);
                Ok(())
            }
            Message::Piece { index, begin, data } => self.on_block(index, begin, data).await,
            Message::RejectRequest(r) => {
                self.on_reject(r);
                Ok(())
            }
            Message::Extended { id, payload } => {
                self.on_extended(id, &payload).await;
                Ok(())
            }
            Message::HashRequest(r) => self.on_hash_request(r),
            Message::Hashes { request, hashes } => self.on_hashes(request, &hashes),
            Message::HashReject(r) => self.on_hash_reject(r),
        }
    }

    /// The peer became interested or not: the torrent decides about unchoking it.
    async fn on_interest(&mut self, interested: bool) -> Result<(), PeerError> {
        let before = self
            .counters
            .peer_interested
            .swap(interested, Ordering::Relaxed);
        if before != interested {
            let _ = self
                .shared
                .events
                .send(Event::InterestChanged(self.key))
                .await;
        }
        Ok(())
    }

    /// BEP 10: the extension handshake (its queue depth, `ut_pex` id and listen port) and
    /// BEP 11 peer exchange (never for a private torrent).
    async fn on_extended(&mut self, id: u8, payload: &Bytes) {
        let private = self.shared.info.private;
        if id == 0 {
            let Ok(hs) = ExtensionHandshake::decode(payload) else {
                return;
            };
            if let Some(q) = hs.reqq {
                self.max_depth = (q as usize).clamp(1, MAX_DEPTH);
                self.depth = self.depth.min(self.max_depth);
            }
            self.their_pex_id = hs.id_of(wire::PEX_EXTENSION).filter(|_| !private);
            self.their_metadata_id = hs.id_of(wire::METADATA_EXTENSION).filter(|_| !private);
            let ev = Event::Extensions {
                key: self.key,
                listen_port: hs.listen_port.filter(|p| *p != 0),
                pex: self.their_pex_id.is_some(),
            };
            let _ = self.shared.events.send(ev).await;
        } else if id == OUR_METADATA_ID && !private {
            self.on_metadata(payload).await;
        } else if id == OUR_PEX_ID
            && !private
            && Instant::now() >= self.next_pex_at
            && let Ok(mut pex) = wire::PexMessage::decode(payload)
            && !pex.added.is_empty()
        {
            self.next_pex_at = Instant::now() + PEX_MIN_INTERVAL;
            pex.added.truncate(PEX_MAX_ADDED);
            pex.utp.truncate(PEX_MAX_ADDED);
            let ev = Event::Pex {
                added: pex.added,
                utp: pex.utp,
            };
            let _ = self.shared.events.send(ev).await;
        }
    }

    /// BEP 9: a peer that started from a magnet link asks for our metadata; anything but a
    /// request (or past [`MAX_METADATA_REQUESTS`]) is ignored.
    async fn on_metadata(&mut self, payload: &Bytes) {
        let (Some(id), Ok(wire::MetadataMessage::Request { piece })) = (
            self.their_metadata_id,
            wire::MetadataMessage::decode(payload),
        ) else {
            return;
        };
        if self.metadata.is_none() && self.metadata_served < MAX_METADATA_REQUESTS {
            // Loading may read and parse the `.torrent` again: off the runtime.
            let shared = self.shared.clone();
            self.metadata = tokio::task::spawn_blocking(move || shared.metadata.load())
                .await
                .ok()
                .flatten()
                .map(|b| Bytes::from_owner(SharedBytes(b)));
        }
        let reply = match &self.metadata {
            Some(info) if self.metadata_served < MAX_METADATA_REQUESTS => {
                self.metadata_served += 1;
                wire::metadata_piece(info, piece)
            }
            _ => wire::MetadataMessage::Reject { piece },
        };
        let _ = self.send(Message::Extended {
            id,
            payload: reply.encode(),
        });
    }
}

/// A shared byte slice as the owner of a [`Bytes`] (served without a second copy).
struct SharedBytes(Arc<[u8]>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
