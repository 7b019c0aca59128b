#!/usr/bin/python3
"""The hostile host of bench/soak.sh: from 127.0.0.2 it cycles through the attacks of
issue 17 against a btmirror daemon until DEADLINE (unix time), one attack at a time, each
for ROUND seconds, and prints one line per round.

usage: soak_hostile.py HOST PORT WATCH_DIR CONTROL_SOCKET DEADLINE ROUND TORRENT...

attacks: silent peers (handshake, then nothing), idle sockets (600 connections that send
nothing), upload pinning (600 requests over many pieces, never reading), a PEX flood, idle
control-socket clients (64), a FIFO in the watch dir. Traffic goes only to 127.0.0.0/8.
"""

import os
import random
import socket
import struct
import sys
import time

import libtorrent as lt

SRC = "127.0.0.2"


def connect(host, port, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((SRC, 0))
    s.connect((host, port))
    return s


def handshake(s, info_hash, n):
    reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])  # BEP 10 + fast
    peer_id = b"-XX0001-soak" + struct.pack(">Q", n)
    s.sendall(b"\x13BitTorrent protocol" + reserved + info_hash + peer_id)
    got = b""
    while len(got) < 68:
        chunk = s.recv(68 - len(got))
        if not chunk:
            raise ConnectionError("closed during the handshake")
        got += chunk


def msg(mid, payload=b""):
    return struct.pack(">IB", len(payload) + 1, mid) + payload


def hold(socks, until):
    while time.time() < until:
        time.sleep(0.5)
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def silent_peers(host, port, torrents, until):
    socks = []
    for i in range(60):
        try:
            s = connect(host, port)
            handshake(s, random.choice(torrents)[0], i)
            socks.append(s)
        except OSError:
            pass
    hold(socks, until)
    return f"{len(socks)} silent peers"


def idle_sockets(host, port, torrents, until):
    socks = []
    while time.time() < until:
        socks = [s for s in socks if s.fileno() != -1]
        while len(socks) < 600 and time.time() < until:
            try:
                socks.append(connect(host, port, timeout=1))
            except OSError:
                break
        time.sleep(0.2)
    hold(socks, 0)
    return "600 idle sockets"


def upload_pin(host, port, torrents, until):
    socks = []
    for i in range(4):
        info_hash, pieces, piece_len = random.choice(torrents)
        try:
            s = connect(host, port)
            handshake(s, info_hash, 100 + i)
            s.sendall(msg(2))  # interested
            time.sleep(1)
            reqs = b"".join(
                msg(6, struct.pack(">III", k % pieces, (k // pieces * 16384) % max(piece_len, 16384), 16384))
                for k in range(600)
            )
            s.sendall(reqs)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            socks.append(s)
        except OSError:
            pass
    hold(socks, until)  # never reads
    return f"{len(socks)} never-reading peers with 600 requests each"


def pex_flood(host, port, torrents, until):
    sent = 0
    try:
        s = connect(host, port)
        handshake(s, random.choice(torrents)[0], 200)
        s.sendall(msg(20, b"\x00" + b"d1:md6:ut_pexi1eee"))
        while time.time() < until:
            added = b"".join(
                bytes([127, random.randint(100, 200), random.randint(0, 255), random.randint(1, 254)])
                + struct.pack(">H", random.randint(20000, 60000))
                for _ in range(100)
            )
            payload = b"d5:added%d:" % len(added) + added + b"e"
            s.sendall(msg(20, b"\x01" + payload))
            sent += 100
    except OSError:
        pass
    return f"PEX flood of {sent} addresses"


def control_idle(sock_path, until):
    socks = []
    for _ in range(64):
        try:
            u = socket.socket(socket.AF_UNIX)
            u.connect(sock_path)
            socks.append(u)
        except OSError:
            pass
    hold(socks, until)
    return f"{len(socks)} idle control clients"


def fifo(watch, until):
    path = os.path.join(watch, "zz-soak-fifo.torrent")
    try:
        os.mkfifo(path)
    except OSError:
        return "no FIFO"
    hold([], until)
    os.unlink(path)
    return "a FIFO in the watch dir"


def main():
    host, port, watch, control, deadline, round_secs = sys.argv[1:7]
    port, deadline, round_secs = int(port), float(deadline), float(round_secs)
    torrents = []
    for t in sys.argv[7:]:
        ti = lt.torrent_info(t)
        torrents.append((bytes(ti.info_hash().to_bytes()), ti.num_pieces(), ti.piece_length()))
    attacks = [
        lambda u: silent_peers(host, port, torrents, u),
        lambda u: idle_sockets(host, port, torrents, u),
        lambda u: upload_pin(host, port, torrents, u),
        lambda u: pex_flood(host, port, torrents, u),
        lambda u: control_idle(control, u),
        lambda u: fifo(watch, u),
    ]
    i = 0
    while time.time() < deadline:
        until = min(deadline, time.time() + round_secs)
        what = attacks[i % len(attacks)](until)
        print(f"hostile: {what}", flush=True)
        i += 1


if __name__ == "__main__":
    main()
