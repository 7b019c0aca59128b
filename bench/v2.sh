#!/usr/bin/env bash
# bench/v2.sh - BitTorrent v2 next to v1 on the same data (issue 10, "Speed").
#
# Generates SIZE_MIB of random data and makes a v1 and a v2-only torrent of it with the same
# piece size, then, in the same run:
#
#   1. `btmirror check` of each, warm page cache (the data is read once first), best of
#      REPEAT runs: SHA-1 pieces against SHA-256 Merkle trees (target: v2 within 1.5x of v1);
#   2. unless --no-transfer, a btmirror -> btmirror transfer of each over 127.0.0.1 through a
#      `btmirror tracker` (target: v2 within 10 % of v1), the leecher's copy checked by SHA-256.
#
# Prints MiB/s of each and the ratios. It says whether the CPU has the SHA extensions (sha_ni).
#
# One run (release build, 1024 MiB, 1 MiB pieces, 2 shared cores with sha_ni, warm cache):
# check v1 1280 MiB/s, v2 1237 MiB/s (1.03x the time); transfer v1 283 MiB/s, v2 383 MiB/s
# (the first transfer of a run pays for warming up; swap the order to see).
#
# usage: bench/v2.sh [SIZE_MIB] [--no-transfer]       (default 1024)
# environment:
#   BTMIRROR_BIN   binary to test (default: build target/release/btmirror with cargo)
#   PIECE          piece size for both torrents (default 1MiB)
#   REPEAT         check runs per torrent (default 3)
#   KEEP=1         keep the scratch directory; TMPDIR: where it goes
set -euo pipefail

SIZE_MIB=1024
TRANSFER=1
for a in "$@"; do
    case "$a" in
        [0-9]*) SIZE_MIB=$a ;;
        --no-transfer) TRANSFER=0 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "bench/v2.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done
PIECE=${PIECE:-1MiB}
REPEAT=${REPEAT:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${BTMIRROR_BIN:-}" ]]; then
    echo "building btmirror (release)..." >&2
    cargo build --release -p btmirror --bin btmirror --manifest-path "$here/Cargo.toml" >&2
    BTMIRROR_BIN="$here/target/release/btmirror"
fi
BIN=$BTMIRROR_BIN
work=$(mktemp -d "${TMPDIR:-/tmp}/v2-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

grep -qw sha_ni /proc/cpuinfo && echo "cpu: sha_ni present" || echo "cpu: no sha_ni (software SHA)"
echo "data: $SIZE_MIB MiB, pieces of $PIECE"
mkdir -p "$work/src"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/src/data.bin"
port=$(( 20000 + RANDOM % 20000 ))
announce="http://127.0.0.1:$port/announce"
"$BIN" make "$work/src/data.bin" --announce "$announce" --piece-size "$PIECE" -o "$work/v1.torrent" >/dev/null
"$BIN" make "$work/src/data.bin" --announce "$announce" --piece-size "$PIECE" --v2 -o "$work/v2.torrent" >/dev/null
cat "$work/src/data.bin" >/dev/null   # warm the page cache

now() { date +%s.%N; }
rate() { python3 -c "import sys; print('%.0f' % ($SIZE_MIB / float(sys.argv[1])))" "$1"; }
best_check() {
    local t best=
    for _ in $(seq "$REPEAT"); do
        local s; s=$(now)
        "$BIN" check "$work/$1.torrent" --dir "$work/src" >/dev/null
        t=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$(now)")
        if [[ -z "$best" ]] || python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$t" "$best"; then
            best=$t
        fi
    done
    echo "$best"
}
c1=$(best_check v1); c2=$(best_check v2)
r1=$(rate "$c1"); r2=$(rate "$c2")
echo "check v1 (SHA-1):   ${r1} MiB/s"
echo "check v2 (SHA-256): ${r2} MiB/s"
python3 -c "import sys; r=float(sys.argv[2])/float(sys.argv[1]); print('check v2/v1 time: %.2fx (target <= 1.5x) %s' % (r, 'ok' if r <= 1.5 else 'SLOWER'))" "$c1" "$c2"

[[ "$TRANSFER" == 1 ]] || exit 0
"$BIN" tracker --listen "127.0.0.1:$port" >"$work/tracker.log" 2>&1 &
pids+=($!)
sleep 1
expected=$(sha256sum "$work/src/data.bin" | cut -d' ' -f1)
transfer() {
    local kind=$1 sp=$((port + 1)) lp=$((port + 2))
    "$BIN" get "$work/$kind.torrent" --dir "$work/src" --port $sp --bind 127.0.0.1 \
        --state-dir "$work/state-seed-$kind" >"$work/seed-$kind.log" 2>&1 &
    local seed=$!
    pids+=($seed)
    # The seed checks the data, then announces: wait for the tracker to list it.
    local hash; hash=$("$BIN" show "$work/$kind.torrent" --json | python3 -c "
import json, sys; j = json.load(sys.stdin); print((j['info_hash'] or j['info_hash_v2'])[:40])")
    python3 - "$port" "$hash" <<'PY'
import sys, time, urllib.request
port, h = sys.argv[1], bytes.fromhex(sys.argv[2])
q = "".join("%%%02X" % b for b in h)
for _ in range(600):
    try:
        body = urllib.request.urlopen("http://127.0.0.1:%s/scrape?info_hash=%s" % (port, q), timeout=2).read()
        if b"8:completei1e" in body:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit("the seed never showed up on the tracker")
PY
    mkdir -p "$work/dst-$kind"
    local s; s=$(now)
    "$BIN" get "$work/$kind.torrent" --dir "$work/dst-$kind" --no-seed --port $lp --bind 127.0.0.1 \
        --state-dir "$work/state-leech-$kind" >"$work/leech-$kind.log" 2>&1
    local t; t=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$(now)")
    kill "$seed" 2>/dev/null || true
    wait "$seed" 2>/dev/null || true
    [[ $(sha256sum "$work/dst-$kind/data.bin" | cut -d' ' -f1) == "$expected" ]] ||
        { echo "$kind transfer: wrong data" >&2; exit 1; }
    rm -rf "$work/dst-$kind"
    echo "$t"
}
t1=$(transfer v1); t2=$(transfer v2)
echo "transfer v1: $(rate "$t1") MiB/s"
echo "transfer v2: $(rate "$t2") MiB/s"
python3 -c "import sys; r=float(sys.argv[2])/float(sys.argv[1]); print('transfer v2/v1 time: %.2fx (target <= 1.10x) %s' % (r, 'ok' if r <= 1.1 else 'SLOWER'))" "$t1" "$t2"
