#!/usr/bin/python3
"""Makes a .torrent of DIR with libtorrent: lt_make.py DIR OUT.torrent v1|v2|hybrid PIECE_LENGTH"""
import os
import sys

import libtorrent as lt

src, out, kind, pl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[kind]
fs = lt.file_storage()
lt.add_files(fs, src)
t = lt.create_torrent(fs, pl, flags=flags)
lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(src)))
with open(out, "wb") as f:
    f.write(lt.bencode(t.generate()))
h = lt.torrent_info(out).info_hashes()
print(h.v1 if h.has_v1() else "-", h.v2 if h.has_v2() else "-")
