#!/usr/bin/env python3
"""bench/dht_helper.py - the pieces of bench/dht.sh that are easier in Python.

  dht_helper.py trackerless TEMPLATE OUT
      TEMPLATE (a .torrent) without `announce`/`announce-list` (the info-hash is unchanged).
  dht_helper.py many TEMPLATE DIR N
      N trackerless torrents DIR/fNNNNNN.bin.torrent of one data file DIR/f000000.bin
      hard-linked under N names: the info dicts differ only in the name, so the N info-hashes
      differ (TEMPLATE is a torrent of DIR/f000000.bin).
  dht_helper.py btmirror BIN TORRENT DIR BOOTSTRAP [TIMEOUT]
      A btmirror leecher (`get --no-seed`); prints one JSON line of seconds since the process
      was started: first peer from the DHT, first peer connected, complete (exit 0).
  dht_helper.py libtorrent TORRENT DIR BOOTSTRAP [TIMEOUT]
      A libtorrent leecher (needs the libtorrent module); prints the same JSON line, in
      seconds since the session was created (first peer known, first connected, seeding).

BOOTSTRAP is one loopback HOST:PORT; neither leecher knows any other node (libtorrent's LSD,
UPnP and NAT-PMP are off, it listens on 127.0.0.1 only).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time


def bdecode(data, i=0):
    c = data[i : i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1 : j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i : i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while data[i : i + 1] != b"e":
            k, i = bdecode(data, i)
            out[k], i = bdecode(data, i)
        return out, i + 1
    j = data.index(b":", i)
    n = int(data[i:j])
    return data[j + 1 : j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"


def load_trackerless(path):
    meta, _ = bdecode(open(path, "rb").read())
    meta.pop(b"announce", None)
    meta.pop(b"announce-list", None)
    return meta


def cmd_trackerless(template, out):
    open(out, "wb").write(bencode(load_trackerless(template)))


def cmd_many(template, d, n):
    meta = load_trackerless(template)
    first = os.path.join(d, "f000000.bin")
    for i in range(int(n)):
        name = f"f{i:06d}.bin"
        if i:
            os.link(first, os.path.join(d, name))
        meta[b"info"][b"name"] = name.encode()
        with open(os.path.join(d, name + ".torrent"), "wb") as f:
            f.write(bencode(meta))


def cmd_btmirror(binary, torrent, d, bootstrap, timeout="60"):
    env = dict(os.environ, BTMIRROR_DHT_BOOTSTRAP="", BTMIRROR_LOG="info,engine=debug")
    argv = [binary, "get", torrent, "--dir", d, "--no-seed", "--bind", "127.0.0.1",
            "--dht-bootstrap", bootstrap]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, errors="replace")
    res = {"client": "btmirror", "dht_peer": None, "connected": None, "complete": None}
    killer = threading.Timer(float(timeout), p.kill)
    killer.start()
    log = open(d.rstrip("/") + ".log", "w")
    for line in p.stderr:
        log.write(line)
        now = time.monotonic() - t0
        if res["dht_peer"] is None and "peers from the DHT" in line:
            m = re.search(r"peers=(\d+)", line)
            if m and int(m.group(1)) > 0:
                res["dht_peer"] = round(now, 3)
        if res["connected"] is None and "peer connected" in line:
            res["connected"] = round(now, 3)
    rc = p.wait()
    killer.cancel()
    if rc == 0:
        res["complete"] = round(time.monotonic() - t0, 3)
    print(json.dumps(res), flush=True)


def cmd_libtorrent(torrent, d, bootstrap, timeout="60"):
    import libtorrent as lt

    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": True,
        "dht_bootstrap_nodes": bootstrap,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Every node of the loopback swarm is in 127/8, and in a few /24s.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": 0,
    }
    t0 = time.monotonic()
    ses = lt.session(settings)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = d
    h = ses.add_torrent(atp)
    res = {"client": "libtorrent", "dht_peer": None, "connected": None, "complete": None}
    deadline = t0 + float(timeout)
    while time.monotonic() < deadline:
        st = h.status()
        now = round(time.monotonic() - t0, 3)
        if res["dht_peer"] is None and st.list_peers > 0:
            res["dht_peer"] = now
        if res["connected"] is None and st.num_peers > 0:
            res["connected"] = now
        if st.is_seeding:
            res["complete"] = now
            break
        time.sleep(0.01)
    ses.pause()
    del ses
    print(json.dumps(res), flush=True)


def main():
    cmds = {
        "trackerless": cmd_trackerless,
        "many": cmd_many,
        "btmirror": cmd_btmirror,
        "libtorrent": cmd_libtorrent,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
