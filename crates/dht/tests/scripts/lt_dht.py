#!/usr/bin/python3
"""Three libtorrent DHT sessions on 127.0.0.1 for btmirror-dht's interop test.

usage: lt_dht.py OURPORT DIR

Every session listens on 127.0.0.1 (an ephemeral port) and bootstraps its DHT from
127.0.0.1:OURPORT only: nothing leaves the loopback interface. LSD, UPnP and NAT-PMP are off, and
the DHT restrictions that would refuse several loopback nodes on one IP are lifted.

Session 0 seeds a fresh trackerless torrent created in DIR and keeps announcing it to the DHT;
once it runs, a line "SEED <listen port> <info-hash hex>" goes to stdout. Commands on stdin:
  GET <info-hash hex> <port>   session 1 runs dht_get_peers until a reply holds 127.0.0.1:<port>;
                               prints "FOUND <port>", or "NOTFOUND" after 60 s
  QUIT                         exits
Alerts worth knowing go to stderr.
"""

import os
import queue
import sys
import threading
import time

import libtorrent as lt


def settings(our_port):
    return {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": True,
        "dht_bootstrap_nodes": "127.0.0.1:%d" % our_port,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_extended_routing_table": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "dht_block_ratelimit": 1000,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": int(lt.alert.category_t.all_categories),
    }


def make_torrent(directory):
    path = os.path.join(directory, "payload.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(64 * 1024))
    fs = lt.file_storage()
    lt.add_files(fs, path)
    t = lt.create_torrent(fs, 16 * 1024)
    lt.set_piece_hashes(t, directory)
    return lt.torrent_info(lt.bencode(t.generate()))


def stdin_lines(q):
    for line in sys.stdin:
        q.put(line.split())
    q.put(["QUIT"])


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    our_port = int(sys.argv[1])
    directory = sys.argv[2]
    sessions = [lt.session(settings(our_port)) for _ in range(3)]
    ti = make_torrent(directory)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = directory
    atp.flags |= lt.torrent_flags.seed_mode
    handle = sessions[0].add_torrent(atp)
    print("SEED %d %s" % (sessions[0].listen_port(), str(ti.info_hash())), flush=True)

    commands = queue.Queue()
    threading.Thread(target=stdin_lines, args=(commands,), daemon=True).start()
    search = None  # (sha1_hash, port, deadline, next_query)
    last_announce = 0.0
    while True:
        now = time.time()
        if now - last_announce >= 3.0:
            handle.force_dht_announce()
            last_announce = now
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd and cmd[0] == "QUIT":
            return 0
        if cmd and cmd[0] == "GET":
            search = [lt.sha1_hash(bytes.fromhex(cmd[1])), int(cmd[2]), now + 60.0, 0.0]
        if search and now >= search[3]:
            sessions[1].dht_get_peers(search[0])
            search[3] = now + 2.0
        if search and now >= search[2]:
            print("NOTFOUND", flush=True)
            search = None
        for i, ses in enumerate(sessions):
            for alert in ses.pop_alerts():
                name = type(alert).__name__
                if name == "dht_get_peers_reply_alert" and search and i == 1:
                    peers = [(ip, port) for ip, port in alert.peers()]
                    if ("127.0.0.1", search[1]) in peers:
                        print("FOUND %d" % search[1], flush=True)
                        search = None
                elif alert.category() & lt.alert.category_t.error_notification:
                    print("session %d: %s: %s" % (i, name, alert.message()), file=sys.stderr, flush=True)
        time.sleep(0.05)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
