#!/usr/bin/python3
"""A libtorrent seed that requires MSE with RC4, for wire's MSE interop test.

usage: lt_mse_peer.py DIR

Creates a small one-piece v1 torrent in DIR, seeds it from a session listening on 127.0.0.1
(DHT, LSD, UPnP, NAT-PMP and uTP off) with in_enc_policy = out_enc_policy = forced and
allowed_enc_level = rc4, waits until it is seeding, then prints one line "ready PORT INFOHASH_HEX PIECES" to stdout.
Each line read from stdin is a command: "connect PORT" makes the seed dial 127.0.0.1:PORT.
Exits when stdin closes. Alerts about errors and peers go to stderr.
"""

import os
import sys
import threading

import libtorrent as lt


def main():
    save = sys.argv[1]
    data = bytes((i * 7 + 3) % 251 for i in range(40000))
    with open(os.path.join(save, "payload.bin"), "wb") as f:
        f.write(data)
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(save, "payload.bin"))
    ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, save)
    ti = lt.torrent_info(lt.bencode(ct.generate()))

    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "in_enc_policy": int(lt.enc_policy.forced),
        "out_enc_policy": int(lt.enc_policy.forced),
        "allowed_enc_level": int(lt.enc_level.rc4),
        "alert_mask": int(lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification | lt.alert.category_t.connect_notification),
    })
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    # Started at once: an auto-managed torrent stays paused until the queue's next tick, and a
    # session with only paused torrents closes incoming connections unseen.
    atp.flags |= lt.torrent_flags.seed_mode
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    handle = ses.add_torrent(atp)
    while ses.listen_port() == 0 or handle.status().state != lt.torrent_status.seeding:
        ses.wait_for_alert(50)

    def log_alerts():
        while True:
            ses.wait_for_alert(500)
            for alert in ses.pop_alerts():
                print("alert: %s: %s" % (type(alert).__name__, alert.message()), file=sys.stderr, flush=True)

    threading.Thread(target=log_alerts, daemon=True).start()
    print("ready %d %s %d" % (ses.listen_port(), str(ti.info_hashes().v1), ti.num_pieces()), flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0] == "connect":
            handle.connect_peer(("127.0.0.1", int(words[1])))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
