//! Connections of a torrent: dialling what the swarm picks from its candidates, taking incoming
//! connections, and carrying out the swarm's verdict once a handshake is done.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::debug;
use wire::Handshake;

use super::stats::PeerRates;
use super::{CONNECT_TIMEOUT, PeerLink, TorrentTask};
use crate::addr_limit::ConnPermit;
use crate::encryption;
use crate::error::PeerError;
use crate::peer::{self, PeerCommand, PeerCounters, PeerSetup};
use crate::spawn::spawn_cancellable;
use crate::stats::TorrentState;
use crate::torrent::Incoming;
use crate::torrent::event::{Event, Handshaken};
use crate::transport::TransportKind;

impl TorrentTask {
    pub(super) fn on_incoming(&mut self, inc: Incoming) {
        if !self.accepting()
            || !self
                .swarm
                .accept_incoming(inc.addr, self.ctx.cfg.max_peers_per_torrent)
        {
            return;
        }
        // Answered under the hash the peer asked for (a hybrid is known by two).
        let handshake = self.handshake(inc.info_hash);
        let events = self.shared.events.clone();
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
                    ..
                } = inc;
                let r = tokio::time::timeout(CONNECT_TIMEOUT, async {
                    wire::write_handshake(&mut stream.io, &handshake).await?;
                    wire::read_peer_id(&mut stream.io).await
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

    /// Our handshake under `info_hash`, with the BEP 52 bit for a v2 or hybrid torrent.
    fn handshake(&self, info_hash: metainfo::InfoHash) -> Handshake {
        let h = Handshake::new(info_hash, self.ctx.peer_id)
            .with_dht(self.ctx.dht.is_some() && !self.meta.info.private);
        if self.meta.info_hash_v2.is_some() {
            h.with_v2()
        } else {
            h
        }
    }

    pub(super) fn add_candidates(&mut self, addrs: Vec<SocketAddr>) {
        self.swarm.add_candidates(addrs);
        self.connect_some();
    }

    pub(super) fn connect_some(&mut self) {
        if !self.accepting() {
            return;
        }
        let seeding = self.state == TorrentState::Seeding;
        while let Some(addr) = self
            .swarm
            .next_dial(seeding, self.ctx.cfg.max_peers_per_torrent)
        {
            let Ok(global) = self.ctx.conn_limit.clone().try_acquire_owned() else {
                self.swarm.requeue(addr);
                break;
            };
            let permit = ConnPermit::outgoing(global);
            self.swarm.dialing(addr);
            let handshake = self.handshake(self.meta.info_hash);
            let hashes = self.meta.swarm_hashes();
            let events = self.shared.events.clone();
            let span = tracing::debug_span!("dial", %addr);
            let cancel = self.peers_cancel.clone();
            let ctx = self.ctx.clone();
            let order = self
                .ctx
                .cfg
                .transports
                .dial_order(self.prefers_utp.contains(&addr));
            spawn_cancellable(&self.peer_tasks, "dial", span, cancel, async move {
                let how = encryption::Dialing {
                    order: &order,
                    policy: ctx.cfg.encryption,
                    udp: &ctx.udp,
                    timeout: CONNECT_TIMEOUT,
                    counters: &ctx.setups,
                };
                let ev = match encryption::dial(addr, &handshake, &how).await {
                    Ok((stream, theirs)) if hashes.contains(&theirs.info_hash) => {
                        Event::Handshaken(Handshaken {
                            stream,
                            addr,
                            peer_id: theirs.peer_id,
                            reserved: theirs.reserved,
                            outgoing: true,
                            permit,
                        })
                    }
                    Ok(_) => {
                        debug!(%addr, "peer answered for another torrent");
                        Event::ConnectFailed(addr)
                    }
                    Err(e) => {
                        debug!(%addr, "dial failed: {}", crate::error_chain(&e));
                        Event::ConnectFailed(addr)
                    }
                };
                let _ = events.send(ev).await;
            });
        }
    }

    pub(super) fn on_handshaken(&mut self, h: Handshaken) {
        let accepting = self.accepting();
        let admission = self.swarm.admit(h.peer_id, h.addr, h.outgoing, accepting);
        if let Some(p) = admission.close.and_then(|k| self.swarm.get(k)) {
            p.link.send(PeerCommand::Close(PeerError::Duplicate));
        }
        if let Err(why) = admission.verdict {
            debug!(addr = %h.addr, why = %why, "dropping connection");
            return;
        }
        let transport = h.stream.transport;
        if transport == TransportKind::Utp {
            // a uTP peer's source port is its listen port (one UDP socket per client): dial it
            // back over uTP first; after a TCP failure this keeps the fallback that worked
            self.remember_prefers_utp(h.addr);
        }
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(PeerCounters::default());
        debug!(addr = %h.addr, peer = %String::from_utf8_lossy(&h.peer_id.0[..8]), outgoing = h.outgoing, transport = transport.as_str(), "peer connected");
        let link = PeerLink {
            crypto: h.stream.crypto,
            cmd: cmd_tx,
            counters: counters.clone(),
            am_choking: true,
            rates: PeerRates::default(),
            transport,
        };
        let key = self.swarm.insert(h.addr, h.peer_id, h.outgoing, link);
        peer::spawn(
            self.shared.clone(),
            PeerSetup {
                key,
                addr: h.addr,
                stream: h.stream,
                reserved: h.reserved,
                counters,
                commands: cmd_rx,
                cancel: self.peers_cancel.child_token(),
                permit: h.permit,
            },
            &self.peer_tasks,
        );
    }
}

impl TorrentTask {
    pub(super) fn remember_prefers_utp(&mut self, addr: SocketAddr) {
        if self.prefers_utp.len() >= MAX_PREFERS_UTP {
            self.prefers_utp.clear();
        }
        self.prefers_utp.insert(addr);
    }
}

/// Addresses remembered as preferring uTP, per torrent (forgotten all at once past this).
const MAX_PREFERS_UTP: usize = 4096;
