#!/usr/bin/env bash
# bench/soak.sh - one hostile host must not take a seed down (issue 17): a soak test.
#
# A `btmirror run` daemon seeds N torrents (default 100) from one watch directory, with
# `btmirror tracker` on 127.0.0.1. Real leechers (aria2c, on 127.0.0.1) download random
# torrents back to back for the whole run. The run is three phases of SOAK_SECS/3 each:
#   before  - leechers only;
#   during  - bench/soak_hostile.py on 127.0.0.2 cycles through the attacks (silent peers,
#             600 idle sockets, never-reading peers with 600 requests, a PEX flood, 64 idle
#             control clients, a FIFO in the watch dir), ROUND_SECS each;
#   after   - leechers only again.
# It prints the leechers' throughput in each phase, the daemon's peak RSS and fds, failed
# downloads (wrong SHA-256 or none within LEECH_TIMEOUT), and any panic in the daemon's log.
# Exit status 1 when the daemon died, panicked, or a download came out wrong.
#
# usage: bench/soak.sh [N]                 (default N = 100)
# environment:
#   SOAK_SECS      total length in seconds (default 1800, at least 30)
#   ROUND_SECS     seconds per attack (default 20)
#   FILE_SIZE      bytes per torrent (default 4 MiB)
#   LEECHERS       concurrent real leechers (default 2)
#   LEECH_TIMEOUT  seconds one download may take (default 120)
#   BTMIRROR_BIN   binary to test (default: build target/release/btmirror with cargo)
#   KEEP=1         keep the scratch directory (printed at the end)
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

N=${1:-100}
SOAK_SECS=${SOAK_SECS:-1800}
ROUND_SECS=${ROUND_SECS:-20}
FILE_SIZE=${FILE_SIZE:-$((4 << 20))}
LEECHERS=${LEECHERS:-2}
LEECH_TIMEOUT=${LEECH_TIMEOUT:-120}
((SOAK_SECS >= 30)) || { echo "SOAK_SECS must be at least 30" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${BTMIRROR_BIN:-}" ]]; then
    echo "building btmirror (release)..." >&2
    cargo build --release -p btmirror --bin btmirror --manifest-path "$here/Cargo.toml" >&2
    BTMIRROR_BIN="$here/target/release/btmirror"
fi
BIN=$BTMIRROR_BIN
work=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/watch" "$work/state" "$work/leech" "$work/results"
tport=$(free_port)
"$BIN" tracker --listen "127.0.0.1:$tport" >"$work/tracker.log" 2>&1 &
pids+=($!)

echo "generating $N torrents of $FILE_SIZE bytes..." >&2
python3 - "$work/watch" "$N" "$FILE_SIZE" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, f"t{i:04d}.bin"), "wb") as f:
        f.write(os.urandom(size))
PY
( cd "$work/watch" && ls -- *.bin ) | xargs -P "$(nproc)" -I{} \
    "$BIN" make "$work/watch/{}" --announce "http://127.0.0.1:$tport/announce" \
    -o "$work/watch/{}.torrent" >/dev/null 2>&1
(cd "$work/watch" && sha256sum -- *.bin >"$work/sums")

dport=$(free_port)
cat >"$work/btmirror.toml" <<TOML
watch = ["$work/watch"]
state_dir = "$work/state"
port = $dport
bind = "127.0.0.1"
TOML
"$BIN" run --config "$work/btmirror.toml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")

echo "waiting until all $N torrents seed..." >&2
for _ in $(seq 600); do
    n=$("$BIN" status --json --state-dir "$work/state" 2>/dev/null |
        python3 -c 'import json,sys; print(sum(t["state"]=="seeding" for t in json.load(sys.stdin)["torrents"]))' 2>/dev/null || echo 0)
    [[ "$n" == "$N" ]] && break
    kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died; see $work/daemon.log" >&2; exit 1; }
    sleep 0.5
done

start=$(date +%s)
third=$((SOAK_SECS / 3))
end=$((start + SOAK_SECS))
phase_of() { local t=$1; if ((t < start + third)); then echo before; elif ((t < start + 2 * third)); then echo during; else echo after; fi; }

# One leecher: random torrents back to back until the end; one line per download:
# <end time> <bytes> <seconds> <ok|fail>
leecher() {
    local id=$1 k=0
    while (($(date +%s) < end)); do
        local i name dir t0 t1 ok=fail
        i=$((RANDOM % N)); name=$(printf 't%04d.bin' "$i"); dir="$work/leech/$id-$k"; k=$((k + 1))
        mkdir -p "$dir"
        t0=$(date +%s.%N)
        local sum=""
        if timeout "$LEECH_TIMEOUT" aria2c --quiet=true --seed-time=0 --enable-dht=false \
            --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
            --listen-port="$(free_port)" --bt-stop-timeout="$LEECH_TIMEOUT" \
            --dir="$dir" "$work/watch/$name.torrent" >/dev/null 2>&1; then
            sum=$(sha256sum "$dir/$name" 2>/dev/null | cut -d' ' -f1)
        fi
        if [[ -n "$sum" ]] && grep -qx "$sum  $name" "$work/sums"; then
            ok=ok
        fi
        t1=$(date +%s.%N)
        echo "$(date +%s) $FILE_SIZE $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $ok" >>"$work/results/$id"
        rm -rf "$dir"
    done
}

for l in $(seq "$LEECHERS"); do leecher "$l" & pids+=($!); done

# Sample RSS and fds every second; start the hostile host for the middle third.
peak_rss=0 peak_fds=0 hostile_pid=""
while (($(date +%s) < end)); do
    now=$(date +%s)
    if [[ -z "$hostile_pid" ]] && ((now >= start + third)); then
        echo "attacks start" >&2
        /usr/bin/python3 "$here/bench/soak_hostile.py" 127.0.0.1 "$dport" "$work/watch" \
            "$work/state/control.sock" "$((start + 2 * third))" "$ROUND_SECS" \
            "$work"/watch/*.torrent >"$work/hostile.log" 2>&1 &
        hostile_pid=$!
        pids+=("$hostile_pid")
    fi
    kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died; see $work/daemon.log" >&2; break; }
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null || echo 0)
    fds=$(find "/proc/$daemon_pid/fd" -mindepth 1 2>/dev/null | wc -l)
    ((rss > peak_rss)) && peak_rss=$rss
    ((fds > peak_fds)) && peak_fds=$fds
    sleep 1
done
wait_leechers_until=$((end + LEECH_TIMEOUT + 10))
while pgrep -f "aria2c.*$work" >/dev/null && (($(date +%s) < wait_leechers_until)); do sleep 1; done

alive=yes; kill -0 "$daemon_pid" 2>/dev/null || alive=no
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null || echo "$peak_rss")
panics=$(grep -c "panicked" "$work/daemon.log" || true)
cat "$work"/results/* 2>/dev/null >"$work/all" || true
report() {
    local p=$1
    awk -v p="$p" -v s="$start" -v t="$third" '
        { ph = ($1 < s + t) ? "before" : ($1 < s + 2 * t) ? "during" : "after" }
        ph == p { n++; if ($4 == "ok") { ok++; bytes += $2; secs += $3 } else fail++ }
        END { printf "  %-7s %3d downloads, %3d failed, %7.2f MiB/s per download\n", p, n, fail, (secs > 0 ? bytes / secs / 1048576 : 0) }' "$work/all"
}
echo "soak: N=$N torrents of $FILE_SIZE bytes, $SOAK_SECS s, $LEECHERS aria2c leechers, binary $BIN"
report before; report during; report after
echo "  attacks:          $(grep -c '^hostile:' "$work/hostile.log" 2>/dev/null || echo 0) rounds ($(sort -u <(sed -n 's/^hostile: //p' "$work/hostile.log" 2>/dev/null) | wc -l) kinds)"
echo "  daemon:           alive=$alive, peak RSS $((hwm / 1024)) MiB (sampled $((peak_rss / 1024)) MiB), peak fds $peak_fds, panics $panics"
failed=$(awk '$4 != "ok"' "$work/all" | wc -l)
[[ "$alive" == yes && "$panics" == 0 && "$failed" == 0 ]] || exit 1
