#!/usr/bin/env bash
# demo.sh - btmirror end to end on this machine, nothing but loopback:
#   1. builds btmirror (release),
#   2. starts our own tracker on 127.0.0.1,
#   3. generates a file, makes a .torrent for it and drops it into a watch directory,
#   4. runs the daemon (`btmirror run`) on that directory: it checks the data and seeds it,
#   5. downloads it back with `btmirror get --no-seed` into another directory,
#   6. compares SHA-256 sums, shows `btmirror status`, and stops everything cleanly.
# usage: tools/demo.sh [SIZE_MIB]   (default 64)
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""
size_mib=${1:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "== building btmirror (release)"
cargo build --release --locked -p btmirror
bm="$root/target/release/btmirror"

work=$(mktemp -d "${TMPDIR:-/tmp}/btmirror-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

tport=$(free_port)
echo "== tracker on 127.0.0.1:$tport"
"$bm" tracker --listen "127.0.0.1:$tport" --state "$work/tracker.state" 2> "$work/tracker.log" &
pids+=($!)

mkdir -p "$work/mirror" "$work/download"
echo "== generating a ${size_mib} MiB file and its torrent"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/mirror/demo.iso"
"$bm" make "$work/mirror/demo.iso" --announce "http://127.0.0.1:$tport/announce" -o "$work/demo.iso.torrent"

echo "== daemon: btmirror run $work/mirror"
"$bm" run "$work/mirror" --port "$(free_port)" --bind 127.0.0.1 --state-dir "$work/state" 2> "$work/daemon.log" &
daemon=$!
pids+=($daemon)
# The directory is the manifest: dropping the .torrent in starts seeding the data beside it.
sleep 1
cp "$work/demo.iso.torrent" "$work/mirror/"
for _ in $(seq 1 100); do
  "$bm" status --state-dir "$work/state" 2>/dev/null | grep -q seeding && break
  sleep 0.2
done
"$bm" status --state-dir "$work/state" || true

echo "== downloading it back with btmirror get --no-seed"
time "$bm" get "$work/demo.iso.torrent" --dir "$work/download" --port "$(free_port)" --bind 127.0.0.1 --no-seed

a=$(sha256sum < "$work/mirror/demo.iso" | cut -d' ' -f1)
b=$(sha256sum < "$work/download/demo.iso" | cut -d' ' -f1)
echo "source   sha256 $a"
echo "download sha256 $b"
[ "$a" = "$b" ] || { echo "MISMATCH"; exit 1; }
sleep 1.5   # stats are published once a second
"$bm" status --state-dir "$work/state" || true
echo "== stopping the daemon (SIGTERM: announces stopped, saves resume data)"
kill -TERM "$daemon"; wait "$daemon"
echo "demo ok"
