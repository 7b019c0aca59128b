#!/usr/bin/python3
"""A minimal libtorrent seed or leecher for btmirror's end-to-end tests.

usage: lt_client.py seed|leech TORRENT DIR PORT DONEFILE [REANNOUNCE_SECONDS]

TORRENT may be a magnet URI for a leecher: the metadata then comes from its peers (BEP 9).

Run it with Debian's /usr/bin/python3 (python3-libtorrent is built for that interpreter only).
Everything stays on 127.0.0.1: DHT, LSD, UPnP, NAT-PMP and uTP are off, the session listens on
127.0.0.1:PORT and accepts several connections from one IP (every peer in the swarm shares it).

seed:  adds the torrent in seed_mode (data in DIR is trusted; pieces are hashed when first
       uploaded) and seeds until SIGTERM/SIGINT. REANNOUNCE_SECONDS > 0 forces a re-announce
       that often, so it learns about leechers that cannot dial out (transmission on loopback).
leech: downloads into DIR. Once libtorrent reports is_seeding it flushes the disk cache and
       waits for cache_flushed_alert (libtorrent 2.0 can pass a piece's hash check while the
       write is still queued), then creates DONEFILE and exits 0.

LT_ENCRYPTION=forced-rc4 in the environment forces MSE with RC4 both ways (in_enc_policy and
out_enc_policy forced, allowed_enc_level rc4: qBittorrent's "require encryption").

With LT_TRANSPORT=utp in the environment, uTP replaces TCP both ways (enable_incoming_tcp and
enable_outgoing_tcp false, uTP on): the peer can only be reached and only dials over uTP.

A progress line goes to stdout every second; alerts about errors go to stderr.
"""

import os
import signal
import sys
import time

import libtorrent as lt


# Alerts worth a log line even though they are not errors (the corrupt-peer tests look for them).
LOGGED_ALERTS = {"hash_failed_alert", "peer_ban_alert", "peer_error_alert", "torrent_finished_alert"}


def main():
    if len(sys.argv) not in (6, 7) or sys.argv[1] not in ("seed", "leech"):
        print(__doc__, file=sys.stderr)
        return 2
    role, torrent, save, port, done = sys.argv[1:6]
    reannounce = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0

    settings = {
        "listen_interfaces": "127.0.0.1:%s" % port,
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_tcp": True,
        "enable_outgoing_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "in_enc_policy": int(lt.enc_policy.enabled),
        "out_enc_policy": int(lt.enc_policy.enabled),
        "allowed_enc_level": int(lt.enc_level.both),
        "alert_mask": int(
            lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.storage_notification
            | lt.alert.category_t.peer_notification
        ),
    }
    if os.environ.get("LT_ENCRYPTION") == "forced-rc4":
        settings["in_enc_policy"] = int(lt.enc_policy.forced)
        settings["out_enc_policy"] = int(lt.enc_policy.forced)
        settings["allowed_enc_level"] = int(lt.enc_level.rc4)
    if os.environ.get("LT_TRANSPORT") == "utp":
        settings.update(
            {
                "enable_incoming_utp": True,
                "enable_outgoing_utp": True,
                "enable_incoming_tcp": False,
                "enable_outgoing_tcp": False,
            }
        )
    ses = lt.session(settings)
    if torrent.startswith("magnet:"):
        atp = lt.parse_magnet_uri(torrent)
    else:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    if role == "seed":
        atp.flags |= lt.torrent_flags.seed_mode
    handle = ses.add_torrent(atp)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    start = time.time()
    last_announce = start
    last_progress = 0.0
    while not stop:
        now = time.time()
        if role == "seed" and reannounce > 0 and now - last_announce >= reannounce:
            handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            last_announce = now
        for alert in ses.pop_alerts():
            if alert.category() & lt.alert.category_t.error_notification or type(alert).__name__ in LOGGED_ALERTS:
                print("alert: %s: %s" % (type(alert).__name__, alert.message()), file=sys.stderr, flush=True)
        st = handle.status()
        if now - last_progress >= 1.0:
            print(
                "progress %.3f state=%s down=%d up=%d peers=%d seeds=%d"
                % (st.progress, st.state, st.total_payload_download, st.total_payload_upload, st.num_peers, st.num_seeds),
                flush=True,
            )
            last_progress = now
        if role == "leech" and st.is_seeding:
            handle.flush_cache()
            deadline = time.time() + 120
            flushed = False
            while not flushed and time.time() < deadline:
                ses.wait_for_alert(100)
                flushed = any(isinstance(a, lt.cache_flushed_alert) for a in ses.pop_alerts())
            if not flushed:
                print("error: no cache_flushed_alert within 120 s", file=sys.stderr, flush=True)
                return 1
            print("complete in %.3fs, downloaded=%d" % (time.time() - start, st.total_payload_download), flush=True)
            ses.pause()
            del handle
            del ses  # orderly shutdown: waits for outstanding disk jobs
            with open(done, "w"):
                pass
            return 0
        ses.wait_for_alert(100)

    st = handle.status()
    print(
        "stopped: state=%s uploaded=%d downloaded=%d" % (st.state, st.total_payload_upload, st.total_payload_download),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
