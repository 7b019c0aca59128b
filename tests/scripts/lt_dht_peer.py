#!/usr/bin/python3
"""python3-libtorrent in a private DHT on 127.0.0.1, for btmirror's DHT end-to-end tests.

usage:
  lt_dht_peer.py make FILE TORRENT                     write a trackerless (v1) .torrent of FILE
  lt_dht_peer.py router PORT                           a DHT node only (no torrent)
  lt_dht_peer.py seed TORRENT DIR PORT BOOTSTRAP       seed TORRENT (data in DIR) and keep
                                                       announcing it to the DHT
  lt_dht_peer.py leech SOURCE DIR PORT BOOTSTRAP DONE  download SOURCE (a .torrent or a magnet)
                                                       into DIR with peers from the DHT only;
                                                       write DONE once complete and flushed

BOOTSTRAP is HOST:PORT on 127.0.0.1, or "" for no bootstrap node at all: nothing ever leaves the
loopback interface (libtorrent's default bootstrap node is replaced, LSD, UPnP and NAT-PMP are
off). The DHT restrictions that would refuse several loopback nodes on one IP are lifted. The
session listens on 127.0.0.1:PORT (TCP, uTP and the DHT). Runs until killed (except make).
"""

import os
import sys
import time

import libtorrent as lt


def settings(port, bootstrap):
    return {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": True,
        "dht_bootstrap_nodes": bootstrap,
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


def make(path, out):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: aria2 1.36 hashes a hybrid's info dictionary differently (it re-encodes it)
    t = lt.create_torrent(fs, 16 * 1024, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(t.generate()))
    # the v1 info-hash (libtorrent 2's info_hash() is the truncated v2 hash of a hybrid)
    print("HASH %s" % str(lt.torrent_info(out).info_hashes().v1), flush=True)
    return 0


def log_alerts(ses):
    for alert in ses.pop_alerts():
        name = type(alert).__name__
        if alert.category() & lt.alert.category_t.error_notification or name in (
            "dht_bootstrap_alert",
            "dht_announce_alert",
            "dht_get_peers_alert",
            "peer_connect_alert",
            "torrent_finished_alert",
        ):
            print("%s: %s" % (name, alert.message()), file=sys.stderr, flush=True)


def main(argv):
    role = argv[1] if len(argv) > 1 else ""
    if role == "make" and len(argv) == 4:
        return make(argv[2], argv[3])
    if role == "router" and len(argv) == 3:
        ses = lt.session(settings(int(argv[2]), ""))
        print("ROUTER %d" % ses.listen_port(), flush=True)
        while True:
            log_alerts(ses)
            time.sleep(0.2)
    if role in ("seed", "leech") and len(argv) >= 6:
        source, directory, port, bootstrap = argv[2], argv[3], int(argv[4]), argv[5]
        ses = lt.session(settings(port, bootstrap))
        if source.startswith("magnet:"):
            atp = lt.parse_magnet_uri(source)
        else:
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(source)
        atp.save_path = directory
        if role == "seed":
            atp.flags |= lt.torrent_flags.seed_mode
        handle = ses.add_torrent(atp)
        print("%s %d" % (role.upper(), ses.listen_port()), flush=True)
        done = argv[6] if role == "leech" and len(argv) > 6 else None
        last_announce = 0.0
        while True:
            now = time.time()
            if now - last_announce >= 3.0:
                handle.force_dht_announce()
                last_announce = now
            log_alerts(ses)
            st = handle.status()
            if done and st.is_seeding and not os.path.exists(done):
                handle.flush_cache()
                time.sleep(0.5)
                with open(done, "w") as f:
                    f.write("done\n")
                print("DONE", flush=True)
            time.sleep(0.2)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
