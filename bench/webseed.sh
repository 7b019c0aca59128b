#!/usr/bin/env bash
# bench/webseed.sh - filling a torrent from web seeds (issue 13, "Speed").
#
# Serves one generated file from a local nginx (four locations, /m1/ .. /m4/, all the same
# directory, standing in for four mirrors) and, each from an empty page cache for the source
# and into a fresh directory, times:
#
#   1. curl -o of the file (the baseline: one HTTP stream);
#   2. aria2c with a torrent whose only source is the web seed /m1/;
#   3. btmirror get --no-seed with the same torrent (web seed only);
#   4. btmirror get --no-seed with a torrent naming the four locations.
#
# Prints rate (MiB/s) and peak RSS of each, and checks every copy's SHA-256. Targets from
# the issue: btmirror >= 90 % of curl from one web seed and ahead of aria2; from four web
# seeds faster than curl; bounded memory (no whole-file buffering).
#
# usage: bench/webseed.sh [SIZE_MB]        (default 1024)
# environment:
#   BTMIRROR_BIN   binary to test (default: build target/release/btmirror with cargo)
#   NGINX          nginx binary (default /usr/sbin/nginx)
#   KEEP=1         keep the scratch directory (printed at the end)
#   TMPDIR         where the scratch directory goes
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

SIZE_MB=${1:-1024}
NGINX=${NGINX:-/usr/sbin/nginx}
here=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${BTMIRROR_BIN:-}" ]]; then
    echo "building btmirror (release)..." >&2
    cargo build --release -p btmirror --bin btmirror --manifest-path "$here/Cargo.toml" >&2
    BTMIRROR_BIN="$here/target/release/btmirror"
fi
BIN=$BTMIRROR_BIN
for tool in "$NGINX" curl aria2c /usr/bin/time python3 sha256sum; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/webseed-bench.XXXXXX")
nginx_pid=""

cleanup() {
    [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Drops the source file's pages from the page cache (no root needed).
uncache() {
    python3 - "$@" <<'PY'
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
}

mkdir -p "$work/www/data" "$work/nginx" "$work/out"
src="$work/www/data/bench.bin"
echo "generating ${SIZE_MB} MiB..." >&2
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$src"
want=$(sha256sum "$src" | cut -d' ' -f1)

port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        location /m1/ { alias $work/www/data/; }
        location /m2/ { alias $work/www/data/; }
        location /m3/ { alias $work/www/data/; }
        location /m4/ { alias $work/www/data/; }
    }
}
CONF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/m1/bench.bin" -r 0-0 && break
    sleep 0.1
done
base="http://127.0.0.1:$port"

"$BIN" make "$src" --announce http://127.0.0.1:1/announce --web-seed "$base/m1/" \
    -o "$work/one.torrent" >/dev/null
"$BIN" make "$src" --announce http://127.0.0.1:1/announce --web-seed "$base/m1/" \
    --web-seed "$base/m2/" --web-seed "$base/m3/" --web-seed "$base/m4/" \
    -o "$work/four.torrent" >/dev/null

results=()
# run NAME OUTPUT_FILE COMMAND...: times COMMAND from an empty cache, checks OUTPUT_FILE.
run() {
    local name=$1 out=$2
    shift 2
    uncache "$src"
    local t0 t1
    t0=$(now)
    /usr/bin/time -f '%M' -o "$work/$name.rss" "$@" >"$work/$name.log" 2>&1 || {
        echo "$name failed:" >&2
        tail -20 "$work/$name.log" >&2
        exit 1
    }
    t1=$(now)
    local got
    got=$(sha256sum "$out" | cut -d' ' -f1)
    [[ "$got" == "$want" ]] || { echo "$name: wrong data" >&2; exit 1; }
    results+=("$(awk -v n="$name" -v a="$t0" -v b="$t1" -v mb="$SIZE_MB" -v rss="$(cat "$work/$name.rss")" \
        'BEGIN { printf "%-22s %8.1f s %9.1f MiB/s %9.1f MiB peak RSS", n, b - a, mb / (b - a), rss / 1024 }')")
    echo "${results[-1]}" >&2
}

run curl "$work/out/curl.bin" curl -sS -o "$work/out/curl.bin" "$base/m1/bench.bin"
run aria2c "$work/out/aria2/bench.bin" aria2c --seed-time=0 --enable-dht=false \
    --bt-enable-lpd=false --enable-peer-exchange=false --console-log-level=warn \
    --summary-interval=0 --dir "$work/out/aria2" "$work/one.torrent"
run "btmirror 1 web seed" "$work/out/bm1/bench.bin" "$BIN" get "$work/one.torrent" --no-seed \
    --dir "$work/out/bm1" --port "$(free_port)" --bind 127.0.0.1 --state-dir "$work/state1"
run "btmirror 4 web seeds" "$work/out/bm4/bench.bin" "$BIN" get "$work/four.torrent" --no-seed \
    --dir "$work/out/bm4" --port "$(free_port)" --bind 127.0.0.1 --state-dir "$work/state4"

echo
echo "web seed download of ${SIZE_MB} MiB from a local nginx ($(nproc) cores):"
printf '%s\n' "${results[@]}"
