#!/usr/bin/python3
"""A libtorrent 2.0 session speaking only uTP, for btmirror-utp's interop test.

usage: lt_utp_peer.py seed DIR       creates a small random file DIR/src/payload.bin, seeds it
       lt_utp_peer.py leech DIR      creates the same file, downloads it into DIR/dl from a
                                     peer given on stdin as "connect PORT"

Prints one line "ready PORT INFOHASH_HEX PIECE_LEN PIECE0_SHA1_HEX" once listening on 127.0.0.1
(TCP off, uTP on, DHT/LSD/UPnP/NAT-PMP off), then: seed runs until stdin closes; leech prints
"done" once the download is complete (and exits), or "timeout" after 60 s.
"""

import hashlib
import os
import random
import sys
import threading
import time

import libtorrent as lt

PIECE_LEN = 262144
SIZE = 16 * PIECE_LEN + 1234


def make_torrent(directory):
    rng = random.Random(29)
    data = rng.randbytes(SIZE)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "payload.bin")
    with open(path, "wb") as f:
        f.write(data)
    fs = lt.file_storage()
    lt.add_files(fs, path)
    ct = lt.create_torrent(fs, PIECE_LEN, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, directory)
    info = lt.torrent_info(ct.generate())
    return info, hashlib.sha1(data[:PIECE_LEN]).hexdigest()


def log_alerts(ses):
    for a in ses.pop_alerts():
        print("libtorrent: %s: %s" % (type(a).__name__, a.message()), file=sys.stderr, flush=True)


def main():
    role, directory = sys.argv[1], sys.argv[2]
    # the data is always created in DIR/src (the seed's save path, the btmirror side's source
    # when libtorrent leeches into DIR/dl)
    info, piece0 = make_torrent(os.path.join(directory, "src"))
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "allow_multiple_connections_per_ip": True,
        "in_enc_policy": int(lt.enc_policy.disabled),
        "out_enc_policy": int(lt.enc_policy.disabled),
        "alert_mask": int(lt.alert.category_t.all_categories if os.environ.get("LT_DEBUG") else lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
                          | lt.alert.category_t.peer_notification),
    })
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = os.path.join(directory, "src" if role == "seed" else "dl")
    # not auto-managed: a queued (paused) torrent makes libtorrent refuse incoming connections
    # ("rejected, no active torrents")
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    if role == "seed":
        params.flags |= lt.torrent_flags.seed_mode
    handle = ses.add_torrent(params)
    deadline = time.time() + 10
    # an incoming connection is refused (a FIN right away) while the torrent is still checking
    ready_states = (lt.torrent_status.seeding, lt.torrent_status.downloading)
    while (ses.listen_port() == 0 or handle.status().state not in ready_states) and time.time() < deadline:
        time.sleep(0.05)
    print("ready %d %s %d %s" % (ses.listen_port(), str(info.info_hash()), PIECE_LEN, piece0), flush=True)
    if role == "seed":
        stdin_closed = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
        while not stdin_closed.wait(0.1):
            log_alerts(ses)
        return 0
    line = sys.stdin.readline().split()
    handle.connect_peer(("127.0.0.1", int(line[1])))
    deadline = time.time() + 60
    while time.time() < deadline:
        log_alerts(ses)
        if handle.status().is_seeding:
            print("done", flush=True)
            return 0
        time.sleep(0.1)
    print("timeout", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
