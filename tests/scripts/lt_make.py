#!/usr/bin/python3
"""Makes a .torrent of CONTENT with libtorrent and prints what the tests need, as JSON.

usage: lt_make.py CONTENT OUT.torrent v1|v2|hybrid PIECE_LENGTH ANNOUNCE

Prints {"v1": hex or null, "v2": hex or null, "name": ..., "files": [[path, length], ...]}
(pad files left out).
"""
import json
import os
import sys

import libtorrent as lt

src, out, kind, pl, announce = sys.argv[1:6]
flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[kind]
fs = lt.file_storage()
lt.add_files(fs, src)
t = lt.create_torrent(fs, int(pl), flags=flags)
t.add_tracker(announce)
lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(src)))
with open(out, "wb") as f:
    f.write(lt.bencode(t.generate()))
ti = lt.torrent_info(out)
h = ti.info_hashes()
files = ti.files()
print(json.dumps({
    "v1": str(h.v1) if h.has_v1() else None,
    "v2": str(h.v2) if h.has_v2() else None,
    "name": ti.name(),
    "files": [[files.file_path(i), files.file_size(i)]
              for i in range(files.num_files()) if not files.file_flags(i) & 1],
}))
