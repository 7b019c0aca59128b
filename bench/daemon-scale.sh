#!/usr/bin/env bash
# bench/daemon-scale.sh - how `btmirror run` copes with many torrents (issue 3, "Scale").
#
# Generates N small files with complete data and a torrent for each (made with
# `btmirror make`) in one watch directory, starts `btmirror tracker` on 127.0.0.1 and then:
#
#   1. starts the daemon with no resume data and times until all N torrents are seeding
#      (every torrent is hash-checked once);
#   2. waits until every torrent's resume data is saved, stops the daemon (SIGTERM, timed);
#   3. starts it again and times until all N are seeding from resume data (no check);
#   4. reports the daemon's RSS (current and peak), open file descriptors, and its CPU use
#      while idle over IDLE_SECS seconds.
#
# Targets from the issue: restart to all-seeding under 10 s, under 300 MiB RSS, under 1% of
# a core when idle.
#
# usage: bench/daemon-scale.sh [N]        (default N = 10000)
# environment:
#   BTMIRROR_BIN   binary to test (default: build target/release/btmirror with cargo)
#   FILE_SIZE      bytes per generated file (default 4096; with SPARSE=1 default 1 GiB)
#   PIECE          piece size for `btmirror make --piece-size` (default: btmirror's choice;
#                  with SPARSE=1 default 65536, so a 1 GiB torrent has 16,384 pieces)
#   SPARSE=1       real piece counts cheaply: one sparse file of FILE_SIZE hard-linked under N
#                  names, one `btmirror make`, and the N torrents differ only in their name
#   IDLE_SECS      idle CPU measurement window (default 30)
#   JOBS           parallel `btmirror make` processes (default: nproc)
#   KEEP=1         keep the scratch directory (printed at the end)
#   TMPDIR         where the scratch directory goes
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

N=${1:-10000}
SPARSE=${SPARSE:-0}
if [[ "$SPARSE" == 1 ]]; then
    FILE_SIZE=${FILE_SIZE:-1073741824}
    PIECE=${PIECE:-65536}
else
    FILE_SIZE=${FILE_SIZE:-4096}
    PIECE=${PIECE:-}
fi
make_opts=()
[[ -n "$PIECE" ]] && make_opts=(--piece-size "$PIECE")
IDLE_SECS=${IDLE_SECS:-30}
JOBS=${JOBS:-$(nproc)}
here=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${BTMIRROR_BIN:-}" ]]; then
    echo "building btmirror (release)..." >&2
    cargo build --release -p btmirror --bin btmirror --manifest-path "$here/Cargo.toml" >&2
    BTMIRROR_BIN="$here/target/release/btmirror"
fi
BIN=$BTMIRROR_BIN
work=$(mktemp -d "${TMPDIR:-/tmp}/daemon-scale.XXXXXX")
tracker_pid=""
daemon_pid=""

cleanup() {
    [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null || true
    [[ -n "$tracker_pid" ]] && kill "$tracker_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/watch" "$work/state"
port=$(free_port)
"$BIN" tracker --listen "127.0.0.1:$port" >"$work/tracker.log" 2>&1 &
tracker_pid=$!

t=$(now)
if [[ "$SPARSE" == 1 ]]; then
    echo "generating $N torrents of $FILE_SIZE sparse bytes in pieces of $PIECE..." >&2
    truncate -s "$FILE_SIZE" "$work/watch/f000000.bin"
    "$BIN" make "$work/watch/f000000.bin" --announce "http://127.0.0.1:$port/announce" \
        "${make_opts[@]}" -o "$work/f000000.torrent" >/dev/null 2>&1
    # Same-length names: the .torrent bytes differ only in the name, so each stays valid.
    python3 - "$work/watch" "$work/f000000.torrent" "$N" <<'EOF'
import os, sys
d, template, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(template, "rb").read()
first = os.path.join(d, "f000000.bin")
for i in range(n):
    name = f"f{i:06d}.bin"
    if i:
        os.link(first, os.path.join(d, name))
    with open(os.path.join(d, name + ".torrent"), "wb") as f:
        f.write(data.replace(b"f000000.bin", name.encode(), 1))
EOF
else
    echo "generating $N files of $FILE_SIZE bytes..." >&2
    python3 - "$work/watch" "$N" "$FILE_SIZE" <<'EOF'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
        f.write(os.urandom(size))
EOF
    echo "making $N torrents with btmirror make ($JOBS at a time)..." >&2
    ( cd "$work/watch" && ls -- *.bin ) | xargs -P "$JOBS" -I{} \
        "$BIN" make "$work/watch/{}" --announce "http://127.0.0.1:$port/announce" \
        "${make_opts[@]}" -o "$work/watch/{}.torrent" >/dev/null 2>&1
fi
made=$(find "$work/watch" -name '*.torrent' | wc -l)
[[ "$made" == "$N" ]] || { echo "only $made of $N torrents were made" >&2; exit 1; }
echo "  generated in $(since "$t") s" >&2

cat >"$work/btmirror.toml" <<EOF
watch = ["$work/watch"]
state_dir = "$work/state"
port = 0
bind = "127.0.0.1"
resume_interval = 10
EOF

seeding() {
    "$BIN" status --json --state-dir "$work/state" 2>/dev/null |
        jq '[.torrents[] | select(.state == "seeding")] | length' 2>/dev/null || echo 0
}

start_daemon() {
    "$BIN" run --config "$work/btmirror.toml" >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
}

# Waits until all N torrents are seeding; prints the seconds since $1.
wait_all_seeding() {
    local started=$1 n
    while true; do
        n=$(seeding)
        [[ "$n" == "$N" ]] && break
        kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died; see $work/daemon.log" >&2; exit 1; }
        sleep 0.2
    done
    since "$started"
}

# Stops the daemon with SIGTERM; sets $stop_secs (not run in a subshell: it waits for the child).
stop_daemon() {
    local t
    t=$(now)
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    daemon_pid=""
    stop_secs=$(since "$t")
}

proc_field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$daemon_pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }

python3 - "$work/watch/f000000.bin.torrent" "$work/pieces.json" <<'EOF'
import json, sys
data = open(sys.argv[1], "rb").read()
# The "pieces" byte string of the info dict: 20 bytes a piece.
i = data.index(b"6:pieces") + len(b"6:pieces")
j = data.index(b":", i)
json.dump({"pieces": int(data[i:j]) // 20}, open(sys.argv[2], "w"))
EOF
echo "run 1: no resume data..." >&2
t=$(now)
start_daemon
first=$(wait_all_seeding "$t")
echo "  all $N seeding after $first s" >&2

echo "waiting for resume data of every torrent..." >&2
while [[ $(find "$work/state/resume" -name '*.resume' | wc -l) -lt $N ]]; do sleep 1; done
stop_daemon
stop1=$stop_secs

echo "run 2: with resume data..." >&2
t=$(now)
start_daemon
second=$(wait_all_seeding "$t")
echo "  all $N seeding after $second s" >&2
resumed=$(grep -c "resumed without a check" "$work/daemon.log" || true)

sleep 5
hz=$(getconf CLK_TCK)
c0=$(cpu_ticks)
sleep "$IDLE_SECS"
c1=$(cpu_ticks)
idle=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$IDLE_SECS" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')
rss=$(proc_field VmRSS)
hwm=$(proc_field VmHWM)
fds=$(find "/proc/$daemon_pid/fd" -mindepth 1 | wc -l)
stop_daemon
stop2=$stop_secs

# An empty daemon, for the per-torrent figures.
mkdir -p "$work/empty/watch" "$work/empty/state"
sed -e "s|$work/watch|$work/empty/watch|" -e "s|$work/state|$work/empty/state|" \
    "$work/btmirror.toml" >"$work/empty.toml"
"$BIN" run --config "$work/empty.toml" >>"$work/empty.log" 2>&1 &
daemon_pid=$!
sleep 3
empty_rss=$(proc_field VmRSS)
stop_daemon
pieces=$(python3 -c 'import sys, json; print(json.load(open(sys.argv[1]))["pieces"])' \
    "$work/pieces.json" 2>/dev/null || echo 1)
per_torrent=$(awk -v a="$rss" -v b="$empty_rss" -v n="$N" 'BEGIN { printf "%.1f", (a - b) / n }')
per_piece=$(awk -v a="$rss" -v b="$empty_rss" -v n="$N" -v p="$pieces" \
    'BEGIN { printf "%.2f", (a - b) * 1024 / n / p }')

cat <<EOF
daemon-scale: N=$N files of $FILE_SIZE bytes ($pieces pieces each), binary $BIN
  all seeding, no resume data:     $first s
  all seeding, with resume data:   $second s   ($resumed torrents resumed without a check)
  RSS after restart:               $((rss / 1024)) MiB (peak $((hwm / 1024)) MiB)
  RSS per torrent:                 $per_torrent KiB ($per_piece bytes per piece; empty daemon $((empty_rss / 1024)) MiB)
  open file descriptors:           $fds
  idle CPU over $IDLE_SECS s:              $idle % of a core
  SIGTERM to exit:                 $stop1 s (run 1), $stop2 s (run 2)
EOF
