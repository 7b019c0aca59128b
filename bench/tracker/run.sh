#!/usr/bin/env bash
# Tracker benchmark: announces per second and p50/p99 latency over HTTP on loopback, for
# btmirror's tracker and opentracker (Debian build, whitelist mode) measured in the same run.
#
#   bench/tracker/run.sh            # env: CONNS=32 SECS=10 TORRENTS=100 PEERS=500 LOADGEN_THREADS=1
#
# Ours is measured with HTTP keep-alive and with one connection per announce; opentracker closes
# the connection after every answer, so it is measured with one connection per announce only.
# Builds release binaries (the tracker_server example and the standalone load generator).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONNS=${CONNS:-32}
SECS=${SECS:-10}
TORRENTS=${TORRENTS:-100}
PEERS=${PEERS:-500}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}

command -v opentracker >/dev/null || { echo "run.sh: opentracker is not installed (apt-get install opentracker)" >&2; exit 2; }

echo "building (release)..." >&2
cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p btmirror-tracker-server --example tracker_server
cargo build --quiet --release --manifest-path "$ROOT/bench/tracker/Cargo.toml"
TRACKER="$ROOT/target/release/examples/tracker_server"
LOADGEN="$ROOT/bench/tracker/target/release/tracker-loadgen"

SCRATCH=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket
t=socket.socket(); t.bind(("127.0.0.1",0)); p=t.getsockname()[1]
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1",p)); print(p)'
}

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "run.sh: nothing listens on port $1" >&2
  exit 1
}

loadgen() {
  "$LOADGEN" --target "127.0.0.1:$1" --mode "$2" --connections "$CONNS" --seconds "$SECS" \
    --torrents "$TORRENTS" --peers "$PEERS" --threads "$LOADGEN_THREADS"
}

# --- btmirror tracker
P1=$(free_port)
"$TRACKER" --listen "127.0.0.1:$P1" --log warn >"$SCRATCH/ours.log" 2>&1 &
OURS=$!; PIDS+=("$OURS")
wait_port "$P1"
OURS_KA=$(loadgen "$P1" keepalive)
OURS_RC=$(loadgen "$P1" reconnect)
OURS_RSS=$(awk '/VmHWM/ {print $2 " kB"}' "/proc/$OURS/status")
kill "$OURS"; wait "$OURS" 2>/dev/null || true

# --- opentracker: whitelist mode; as root it chroots into -d and drops to nobody
mkdir -p "$SCRATCH/ot"
"$LOADGEN" --print-hashes "$TORRENTS" >"$SCRATCH/ot/whitelist"
chmod 755 "$SCRATCH" "$SCRATCH/ot"; chmod 644 "$SCRATCH/ot/whitelist"
P2=$(free_port)
(cd "$SCRATCH/ot" && exec opentracker -i 127.0.0.1 -p "$P2" -P "$P2" -d "$SCRATCH/ot" -w whitelist) >"$SCRATCH/ot.log" 2>&1 &
OT=$!; PIDS+=("$OT")
wait_port "$P2"
OT_RC=$(loadgen "$P2" reconnect)
OT_RSS=$(awk '/VmHWM/ {print $2 " kB"}' "/proc/$OT/status" 2>/dev/null || echo "?")
kill "$OT"; wait "$OT" 2>/dev/null || true

rate() { sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p' <<<"$1"; }
echo
echo "tracker benchmark: $CONNS clients, ${SECS}s, $TORRENTS torrents x $PEERS peers, $(nproc) CPUs"
printf '%-34s %s\n' "btmirror (keep-alive)" "$OURS_KA"
printf '%-34s %s\n' "btmirror (connection per announce)" "$OURS_RC"
printf '%-34s %s\n' "opentracker (connection per announce)" "$OT_RC"
printf '%-34s %s / %s\n' "peak RSS btmirror / opentracker" "$OURS_RSS" "$OT_RSS"
awk -v a="$(rate "$OURS_KA")" -v b="$(rate "$OURS_RC")" -v o="$(rate "$OT_RC")" 'BEGIN {
  if (o > 0) printf "ratio vs opentracker: keep-alive %.2f, connection per announce %.2f\n", a / o, b / o }'
