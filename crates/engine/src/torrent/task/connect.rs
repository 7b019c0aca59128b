//! Connections of a torrent: dialling candidate addresses from trackers and peer exchange,
//! taking incoming connections, and admitting (or refusing) peers once their handshake is done.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;
use wire::Handshake;

use super::{CONNECT_TIMEOUT, MAX_CONNECT_FAILURES, PeerEntry, TorrentTask};
use crate::error::PeerError;
use crate::peer::{self, PeerCommand, PeerCounters, PeerSetup};
use crate::spawn::spawn_cancellable;
use crate::stats::TorrentState;
use crate::torrent::Incoming;
use crate::torrent::event::{Event, Handshaken};

impl TorrentTask {
    pub(super) fn on_incoming(&mut self, inc: Incoming) {
        if !self.accepting()
            || self.peers.len() + self.connecting >= self.ctx.cfg.max_peers_per_torrent
            || self.banned_addrs.contains(&inc.addr)
        {
            return;
        }
        let handshake = Handshake::new(self.meta.info_hash, self.ctx.peer_id);
        let events = self.shared.events.clone();
        self.connecting += 1;
        let span = tracing::debug_span!("handshake", addr = %inc.addr);
        let cancel = self.peers_cancel.clone();
        spawn_cancellable(
            &self.peer_tasks,
            "accept handshake",
            span,
            cancel,
            async move {
                let Incoming {
                    mut stream,
                    addr,
                    reserved,
                    permit,
                } = inc;
                let r = tokio::time::timeout(CONNECT_TIMEOUT, async {
                    wire::write_handshake(&mut stream, &handshake).await?;
                    wire::read_peer_id(&mut stream).await
                })
                .await;
                let ev = match r {
                    Ok(Ok(peer_id)) => Event::Handshaken(Handshaken {
                        stream,
                        addr,
                        peer_id,
                        reserved,
                        outgoing: false,
                        permit,
                    }),
                    _ => Event::ConnectFailed(addr),
                };
                let _ = events.send(ev).await;
            },
        );
    }

    pub(super) fn add_candidates(&mut self, addrs: Vec<SocketAddr>) {
        for addr in addrs {
            if self.is_self(addr)
                || self.banned_addrs.contains(&addr)
                || addr.port() == 0
                || self.is_connected_to(addr)
            {
                continue;
            }
            let c = self.candidates.entry(addr).or_default();
            if !c.connected && c.next_try.is_none() && !self.queue.contains(&addr) {
                self.queue.push_back(addr);
            }
        }
        self.connect_some();
    }

    /// Whether a connected peer listens at `addr` (an inbound peer told us its port): dialling
    /// it would only make a duplicate connection.
    pub(super) fn is_connected_to(&self, addr: SocketAddr) -> bool {
        self.peers.values().any(|p| p.listen_addr == Some(addr))
    }

    /// Our own listen address as trackers hand it back. Other addresses of ours (a public IP)
    /// are caught after the handshake by our peer id, and never dialled again.
    pub(super) fn is_self(&self, addr: SocketAddr) -> bool {
        let listen = self.ctx.listen_addr;
        (addr.port() == listen.port() || addr.port() == self.ctx.announce_port)
            && (addr.ip().is_loopback() || addr.ip() == listen.ip())
    }

    pub(super) fn connect_some(&mut self) {
        if !self.accepting() {
            return;
        }
        let seeding = self.state == TorrentState::Seeding;
        while self.peers.len() + self.connecting < self.ctx.cfg.max_peers_per_torrent {
            let Some(addr) = self.queue.pop_front() else {
                break;
            };
            let Some(c) = self.candidates.get(&addr) else {
                continue;
            };
            if c.connected || (seeding && c.is_seed) || self.is_connected_to(addr) {
                continue;
            }
            let Ok(permit) = self.ctx.conn_limit.clone().try_acquire_owned() else {
                self.queue.push_front(addr);
                break;
            };
            self.connecting += 1;
            if let Some(c) = self.candidates.get_mut(&addr) {
                c.connected = true;
            }
            let handshake = Handshake::new(self.meta.info_hash, self.ctx.peer_id);
            let events = self.shared.events.clone();
            let span = tracing::debug_span!("dial", %addr);
            let cancel = self.peers_cancel.clone();
            spawn_cancellable(&self.peer_tasks, "dial", span, cancel, async move {
                let r = tokio::time::timeout(CONNECT_TIMEOUT, async {
                    let mut stream = TcpStream::connect(addr).await?;
                    let _ = stream.set_nodelay(true);
                    wire::write_handshake(&mut stream, &handshake).await?;
                    let theirs = wire::read_handshake(&mut stream).await?;
                    Ok::<_, wire::Error>((stream, theirs))
                })
                .await;
                let ev = match r {
                    Ok(Ok((stream, theirs))) if theirs.info_hash == handshake.info_hash => {
                        Event::Handshaken(Handshaken {
                            stream,
                            addr,
                            peer_id: theirs.peer_id,
                            reserved: theirs.reserved,
                            outgoing: true,
                            permit,
                        })
                    }
                    _ => Event::ConnectFailed(addr),
                };
                let _ = events.send(ev).await;
            });
        }
    }

    pub(super) fn connect_failed(&mut self, addr: SocketAddr) {
        let Some(c) = self.candidates.get_mut(&addr) else {
            return;
        };
        c.connected = false;
        c.failures += 1;
        if c.failures >= MAX_CONNECT_FAILURES {
            self.candidates.remove(&addr);
        } else {
            c.next_try = Some(Instant::now() + Duration::from_secs(15 * u64::from(c.failures)));
        }
    }

    pub(super) fn on_ready(&mut self, r: Handshaken) {
        self.connecting = self.connecting.saturating_sub(1);
        let dial_addr = r.outgoing.then_some(r.addr);
        let reject = if r.peer_id == self.ctx.peer_id {
            Some(PeerError::ConnectedToSelf)
        } else if self.banned_ids.contains(&r.peer_id) || self.banned_addrs.contains(&r.addr) {
            Some(PeerError::Banned)
        } else if !self.keep_if_duplicate(&r) {
            Some(PeerError::AlreadyConnected)
        } else if !self.accepting() {
            Some(PeerError::NotAccepting)
        } else {
            None
        };
        if let Some(why) = reject {
            debug!(addr = %r.addr, why = %why, "dropping connection");
            if let Some(c) = dial_addr.and_then(|a| self.candidates.get_mut(&a)) {
                c.connected = false;
                if matches!(why, PeerError::ConnectedToSelf) {
                    c.failures = MAX_CONNECT_FAILURES;
                }
            }
            return;
        }
        let key = self.next_key;
        self.next_key += 1;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(PeerCounters::default());
        debug!(addr = %r.addr, peer = %String::from_utf8_lossy(&r.peer_id.0[..8]), outgoing = r.outgoing, "peer connected");
        self.peers.insert(
            key,
            PeerEntry {
                addr: r.addr,
                peer_id: r.peer_id,
                cmd: cmd_tx,
                counters: counters.clone(),
                am_choking: true,
                rate_down: 0,
                rate_up: 0,
                last_down: 0,
                last_up: 0,
                dial_addr,
                listen_addr: dial_addr,
                pex: false,
                pex_sent: HashSet::new(),
            },
        );
        peer::spawn(
            self.shared.clone(),
            PeerSetup {
                key,
                addr: r.addr,
                stream: r.stream,
                reserved: r.reserved,
                counters,
                commands: cmd_rx,
                cancel: self.peers_cancel.child_token(),
                permit: r.permit,
            },
            &self.peer_tasks,
        );
    }

    /// Whether a new connection to a peer we may already be connected to should be kept. When
    /// both sides dialled each other at once (after PEX, say), both keep the connection opened
    /// by the side with the smaller peer id, so exactly one survives; the other is closed.
    pub(super) fn keep_if_duplicate(&mut self, r: &Handshaken) -> bool {
        let Some(existing) = self.peers.values().find(|p| p.peer_id == r.peer_id) else {
            return true;
        };
        let existing_outgoing = existing.dial_addr.is_some();
        if existing_outgoing == r.outgoing {
            return false;
        }
        let we_are_smaller = self.ctx.peer_id.0 < r.peer_id.0;
        let keep_new = r.outgoing == we_are_smaller;
        if keep_new {
            let _ = existing.cmd.send(PeerCommand::Close(PeerError::Duplicate));
        }
        keep_new
    }
}
