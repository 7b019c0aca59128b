#!/usr/bin/env bash
# bench/mirror-load.sh - a mirror under load: one seeder, many torrents, many leechers at once.
#
# Makes T torrents of SIZE_MIB each (random data, `btmirror make`), starts `btmirror tracker`
# on 127.0.0.1, and then, for each seeder in turn (a `btmirror run` daemon, then one libtorrent
# session seeding the same files), empties the page cache (root only; it says so otherwise) and
# lets L libtorrent leechers download at once: half of them the first torrent, the other half
# spread over all T. The leechers are libtorrent sessions, L/P in each of P python processes.
# It prints, per seeder: aggregate MiB/s (bytes delivered / wall time), the seeder's CPU seconds
# per GiB served, and its peak RSS.
#
# The issue's target: btmirror at least twice libtorrent's aggregate at no more CPU per GiB.
#
# usage: bench/mirror-load.sh [T] [SIZE_MIB] [L]      (default 16 torrents, 256 MiB, 32 leechers)
# environment:
#   BTMIRROR_BIN   binary to test (default: build target/release/btmirror with cargo)
#   PROCS          leecher processes (default 4)
#   PYTHON         a python with the libtorrent module (default /usr/bin/python3)
#   SEEDERS        which seeders to run (default "btmirror libtorrent")
#   TIMEOUT        seconds one round may take (default 900)
#   KEEP=1         keep the scratch directory
#   TMPDIR         where the scratch directory goes (the disk by default)
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

T=${1:-16}
SIZE=${2:-256}
L=${3:-32}
PROCS=${PROCS:-4}
PYTHON=${PYTHON:-/usr/bin/python3}
SEEDERS=${SEEDERS:-btmirror libtorrent}
TIMEOUT=${TIMEOUT:-900}
here=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${BTMIRROR_BIN:-}" ]]; then
    echo "building btmirror (release)..." >&2
    cargo build --release -p btmirror --bin btmirror --manifest-path "$here/Cargo.toml" >&2
    BTMIRROR_BIN="$here/target/release/btmirror"
fi
BIN=$BTMIRROR_BIN
work=$(mktemp -d "${TMPDIR:-/tmp}/mirror-load.XXXXXX")
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "${KEEP:-0}" == 1 ]]; then echo "scratch directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
hwm_mib() { awk '$1 == "VmHWM:" { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
drop_caches() {
    if [[ $(id -u) == 0 ]] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
        echo "  page cache emptied" >&2
    else
        echo "  cannot empty the page cache (not root): the seeder may read warm data" >&2
    fi
}

cat >"$work/lt_swarm.py" <<'EOF'
# lt_swarm.py seed DIR TORRENT... | leech BASE_DIR FIRST_INDEX TORRENT...
# seed: one session seeding every torrent from DIR until SIGTERM.
# leech: one session per torrent (each its own peer), all at once; prints "done BYTES SECS" per
# session and exits when every one has its data.
import os, signal, sys, time
import libtorrent as lt

def session():
    return lt.session({
        'listen_interfaces': '127.0.0.1:0', 'outgoing_interfaces': '127.0.0.1',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'enable_incoming_utp': False, 'enable_outgoing_utp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': int(lt.alert.category_t.error_notification),
    })

role = sys.argv[1]
if role == 'seed':
    ses = session()
    for t in sys.argv[3:]:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(t)
        atp.save_path = sys.argv[2]
        atp.flags |= lt.torrent_flags.seed_mode
        ses.add_torrent(atp)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    print('ready', flush=True)
    while not stop:
        ses.wait_for_alert(200)
        ses.pop_alerts()
    os._exit(0)

base, first = sys.argv[2], int(sys.argv[3])
todo = []
for k, t in enumerate(sys.argv[4:]):
    ses = session()
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(t)
    atp.save_path = os.path.join(base, 'leech%03d' % (first + k))
    todo.append((ses, ses.add_torrent(atp)))
t0 = time.time()
while todo:
    for pair in list(todo):
        ses, h = pair
        ses.pop_alerts()
        st = h.status()
        if st.is_seeding:
            print('done %d %.3f' % (st.total_payload_download, time.time() - t0), flush=True)
            todo.remove(pair)
    time.sleep(0.05)
os._exit(0)
EOF

mkdir -p "$work/data" "$work/state"
port=$(free_port)
"$BIN" tracker --listen "127.0.0.1:$port" >"$work/tracker.log" 2>&1 &
pids+=($!)

echo "making $T torrents of $SIZE MiB..." >&2
for i in $(seq 0 $((T - 1))); do
    f="$work/data/m$(printf %03d "$i").bin"
    head -c $((SIZE << 20)) /dev/urandom >"$f"
    "$BIN" make "$f" --announce "http://127.0.0.1:$port/announce" -o "$f.torrent" >/dev/null 2>&1
done
torrents=("$work"/data/*.torrent)

# Which torrent leecher j downloads: half the first torrent, half spread over all.
torrent_of() { local j=$1; if (( j < L / 2 )); then echo "${torrents[0]}"; else echo "${torrents[$(( j % T ))]}"; fi; }

start_seeder() {
    case "$1" in
        btmirror)
            cat >"$work/btmirror.toml" <<EOT
watch = ["$work/data"]
state_dir = "$work/state"
port = 0
bind = "127.0.0.1"
EOT
            "$BIN" run --config "$work/btmirror.toml" >"$work/btmirror.log" 2>&1 &
            seeder_pid=$!
            # Wait until it has checked and seeds every torrent.
            local n=0 deadline=$((SECONDS + TIMEOUT))
            while (( n < T )); do
                (( SECONDS < deadline )) || { echo "btmirror did not seed all torrents" >&2; exit 1; }
                sleep 0.5
                n=$("$BIN" status --json --state-dir "$work/state" 2>/dev/null |
                    jq '[.torrents[] | select(.state == "seeding")] | length' 2>/dev/null || echo 0)
            done ;;
        libtorrent)
            "$PYTHON" "$work/lt_swarm.py" seed "$work/data" "${torrents[@]}" >"$work/lt-seed.log" 2>&1 &
            seeder_pid=$!
            until grep -q ready "$work/lt-seed.log" 2>/dev/null; do sleep 0.2; done ;;
        *) echo "unknown seeder: $1" >&2; exit 2 ;;
    esac
    pids+=("$seeder_pid")
}

results=()
for seeder in $SEEDERS; do
    echo "=== $seeder seeding $T x $SIZE MiB to $L leechers" >&2
    rm -rf "$work"/leech*
    start_seeder "$seeder"
    sleep 1
    drop_caches
    c0=$(cpu_secs "$seeder_pid")
    t0=$(now)
    lpids=()
    per=$(( (L + PROCS - 1) / PROCS ))
    for p in $(seq 0 $((PROCS - 1))); do
        first=$((p * per)); (( first < L )) || break
        list=()
        for j in $(seq "$first" $(( first + per - 1 ))); do (( j < L )) && list+=("$(torrent_of "$j")"); done
        "$PYTHON" "$work/lt_swarm.py" leech "$work" "$first" "${list[@]}" >"$work/leech-$seeder-$p.log" 2>&1 &
        lpids+=($!)
    done
    for lp in "${lpids[@]}"; do
        timeout "$TIMEOUT" tail --pid="$lp" -f /dev/null || { echo "leechers timed out" >&2; exit 1; }
    done
    wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    cpu=$(awk -v a="$c0" -v b="$(cpu_secs "$seeder_pid")" 'BEGIN { printf "%.2f", b - a }')
    rss=$(hwm_mib "$seeder_pid")
    done_n=$(cat "$work"/leech-"$seeder"-*.log | grep -c '^done' || true)
    bytes=$(cat "$work"/leech-"$seeder"-*.log | awk '$1 == "done" { s += $2 } END { printf "%d", s }')
    kill "$seeder_pid"; wait "$seeder_pid" 2>/dev/null || true
    [[ "$done_n" == "$L" ]] || { echo "only $done_n of $L leechers finished" >&2; exit 1; }
    results+=("$(awk -v s="$seeder" -v b="$bytes" -v w="$wall" -v c="$cpu" -v r="$rss" 'BEGIN {
        gib = b / 1073741824
        printf "%-11s %10.1f %8.2f %10.2f %12.2f %9d", s, b / 1048576 / w, w, c, (gib > 0 ? c / gib : 0), r }')")
done

echo
echo "mirror-load: $T torrents x $SIZE MiB, $L leechers in $PROCS processes (half on one torrent), $(date -u +%F)"
printf '%-11s %10s %8s %10s %12s %9s\n' seeder "MiB/s" "wall s" "CPU s" "CPU s/GiB" "peak RSS"
printf '%s\n' "${results[@]}"
