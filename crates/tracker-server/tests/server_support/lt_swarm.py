#!/usr/bin/python3
# libtorrent sessions on 127.0.0.1 for the tracker server's real-client tests.
#
#   lt_swarm.py TORRENT ROLE:DIR:PORT [ROLE:DIR:PORT ...]     ROLE = seed | leech
#
# One libtorrent session per spec, all in this process. Prints "COMPLETE" once every leecher
# has the whole torrent flushed to disk, then keeps seeding until stdin closes or 120 s pass.
# Tracker replies and errors go to stderr for the test log.
import os, select, sys, time
import libtorrent as lt

torrent = sys.argv[1]
specs = [s.split(':', 2) for s in sys.argv[2:]]
mask = int(lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification
           | lt.alert.category_t.status_notification)
sessions = []
for role, save, port in specs:
    ses = lt.session({
        'listen_interfaces': '127.0.0.1:%s' % port,
        'outgoing_interfaces': '127.0.0.1',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'enable_incoming_utp': False, 'enable_outgoing_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': mask,
    })
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    if role == 'seed':
        atp.flags |= lt.torrent_flags.seed_mode
    sessions.append((role, ses, ses.add_torrent(atp)))

t0 = time.time()
reported = False
while time.time() - t0 < 120:
    for role, ses, h in sessions:
        for a in ses.pop_alerts():
            if isinstance(a, (lt.tracker_reply_alert, lt.tracker_error_alert, lt.tracker_warning_alert,
                              lt.torrent_finished_alert)) or a.category() & lt.alert.category_t.error_notification:
                print('%s: %s' % (role, a.message()), file=sys.stderr, flush=True)
    if not reported and all(h.status().is_seeding for role, _, h in sessions if role == 'leech'):
        for role, _, h in sessions:
            if role == 'leech':
                h.flush_cache()
        time.sleep(0.5)
        print('COMPLETE', flush=True)
        reported = True
    r, _, _ = select.select([sys.stdin], [], [], 0.05)
    if r and not os.read(sys.stdin.fileno(), 1024):
        break
os._exit(0)
