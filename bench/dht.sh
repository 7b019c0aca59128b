#!/usr/bin/env bash
# bench/dht.sh - btmirror's DHT on a loopback swarm (issue 12, "Benchmark").
#
# Starts a loopback DHT of NODES nodes (the `dht` crate's example dht_swarm: one sans-IO node
# per UDP socket, each on its own 127.0.X.Y address, all bootstrapped from the first), then:
#
#   1. time to the first peer of a trackerless torrent: one `btmirror get` seeds a SIZE_KIB
#      torrent (made with `btmirror make`, its `announce` removed) and announces it into the
#      swarm; then REPEAT fresh btmirror leechers (`get --no-seed`) and REPEAT fresh libtorrent
#      leechers (python3-libtorrent), alternating, each bootstrapping from another swarm node,
#      are timed from their start to the first peer from the DHT, to the first peer connected,
#      and to the complete download; medians are printed;
#   2. a `btmirror run` daemon with N public trackerless torrents (4 KiB each, one data file
#      hard-linked under N names): its CPU (utime+stime from /proc/PID/stat) and RSS over
#      DHT_SECS seconds once all are seeding, with the DHT on (bootstrapping from the swarm),
#      and over BASE_SECS seconds with --no-dht (the baseline), so the DHT's own cost shows.
#
# Targets from the issue: first peer under 5 s and no slower than libtorrent in the same run;
# with 10,000 torrents the DHT under 1 % of a core and under 20 MiB.
#
# Nothing leaves the machine: every btmirror gets BTMIRROR_DHT_BOOTSTRAP="" and an explicit
# --dht-bootstrap 127.0.X.Y:PORT (or --no-dht), libtorrent gets dht_bootstrap_nodes of one
# swarm node, listens on 127.0.0.1 only, with LSD, UPnP and NAT-PMP off; the torrents have no
# tracker.
#
# usage: bench/dht.sh [N]        (default N = 10000 torrents for part 2)
# environment:
#   BTMIRROR_BIN   binary to test (default: cargo build --release, in $CARGO_TARGET_DIR or target/)
#   SWARM_BIN      the dht_swarm example (default: built with cargo the same way)
#   NODES          swarm size (default 300)
#   REPEAT         leecher runs per client (default 3)
#   SIZE_KIB       size of the part 1 torrent (default 1024)
#   DHT_SECS       part 2 window with the DHT on (default 600)
#   BASE_SECS      part 2 window with --no-dht (default 120)
#   WARM_SECS      pause between all-seeding and the window (default 75: the first save of
#                  every torrent's resume data, within resume_interval = 60 s, is over)
#   PARTS          what to run: "first scale" (the default), or a subset of "first nodht dht"
#                  (scale = nodht dht: the --no-dht baseline and the run with the DHT)
#   LT_PYTHON      python with the libtorrent module (default: the first python3 that has it)
#   KEEP=1         keep the scratch directory (printed at the end)
#   TMPDIR         where the scratch directory goes
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from the swarm only.
export BTMIRROR_DHT_BOOTSTRAP=""

N=${1:-10000}
NODES=${NODES:-300}
REPEAT=${REPEAT:-3}
SIZE_KIB=${SIZE_KIB:-1024}
DHT_SECS=${DHT_SECS:-600}
BASE_SECS=${BASE_SECS:-120}
WARM_SECS=${WARM_SECS:-75}
PARTS=" ${PARTS:-first scale} "
[[ "$PARTS" == *" scale "* ]] && PARTS="$PARTS nodht dht "
want() { [[ "$PARTS" == *" $1 "* ]]; }
here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
helper="$here/bench/dht_helper.py"

if [[ -z "${BTMIRROR_BIN:-}" ]]; then
    echo "building btmirror (release)..." >&2
    cargo build --release -p btmirror --bin btmirror --manifest-path "$here/Cargo.toml" >&2
    BTMIRROR_BIN="$target/release/btmirror"
fi
if [[ -z "${SWARM_BIN:-}" ]]; then
    echo "building the dht_swarm example (release)..." >&2
    cargo build --release -p btmirror-dht --example dht_swarm --manifest-path "$here/Cargo.toml" >&2
    SWARM_BIN="$target/release/examples/dht_swarm"
fi
BIN=$BTMIRROR_BIN
if want first; then
    LT_PY=""
    for c in ${LT_PYTHON:-} $(type -ap python3 2>/dev/null); do
        if "$c" -c 'import libtorrent' >/dev/null 2>&1; then LT_PY=$c; break; fi
    done
    [[ -n "$LT_PY" ]] || { echo "no python3 with the libtorrent module (apt-get install python3-libtorrent, or LT_PYTHON)" >&2; exit 2; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dht-bench.XXXXXX")
swarm_pid=""
seed_pid=""
daemon_pid=""

cleanup() {
    for p in "$daemon_pid" "$seed_pid" "$swarm_pid"; do
        [[ -n "$p" ]] && kill "$p" 2>/dev/null || true
    done
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
swarm_line() { grep '^swarm' "$work/swarm.log" | tail -1; }

# --- the swarm ------------------------------------------------------------------------------
echo "starting a loopback DHT of $NODES nodes..." >&2
"$SWARM_BIN" --nodes "$NODES" --addrs "$work/addrs" --report 5 >"$work/swarm.out" 2>"$work/swarm.log" &
swarm_pid=$!
for _ in $(seq 100); do grep -q '^ready' "$work/swarm.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/swarm.out" || { echo "the swarm did not start; see $work/swarm.log" >&2; exit 1; }
mapfile -t addr <"$work/addrs"
# Until every node knows a few dozen others.
sleep 15
echo "  $(swarm_line)" >&2
declare -a results=()

# --- part 1: time to the first peer ---------------------------------------------------------
if want first; then
    mkdir -p "$work/seed"
    head -c "$((SIZE_KIB * 1024))" /dev/urandom >"$work/seed/payload.bin"
    # `make` wants a tracker; dht_helper.py removes it (the info-hash does not change).
    "$BIN" make "$work/seed/payload.bin" --announce "http://127.0.0.1:9/announce" \
        -o "$work/with-tracker.torrent" >/dev/null 2>&1
    python3 "$helper" trackerless "$work/with-tracker.torrent" "$work/one.torrent"
    echo "seeding a trackerless $SIZE_KIB KiB torrent, bootstrapping from ${addr[1]}..." >&2
    t=$(now)
    BTMIRROR_LOG=info,engine=debug "$BIN" get "$work/one.torrent" --dir "$work/seed" \
        --bind 127.0.0.1 --dht-bootstrap "${addr[1]}" >"$work/seed.log" 2>&1 &
    seed_pid=$!
    for _ in $(seq 600); do
        grep -Eq 'DHT announce done.*acked=[1-9]' "$work/seed.log" && break
        kill -0 "$seed_pid" 2>/dev/null || { echo "the seed died; see $work/seed.log" >&2; exit 1; }
        sleep 0.1
    done
    grep -Eq 'DHT announce done.*acked=[1-9]' "$work/seed.log" ||
        { echo "the seed did not announce in 60 s; see $work/seed.log" >&2; exit 1; }
    seed_announced=$(since "$t")
    seed_acked=$(grep -Eo 'DHT announce done.*acked=[0-9]+' "$work/seed.log" | head -1 | grep -Eo '[0-9]+$')
    echo "  announced after $seed_announced s ($seed_acked nodes took it)" >&2
    : >"$work/first.jsonl"
    for r in $(seq "$REPEAT"); do
        b=${addr[$(((2 * r) % NODES))]}
        l=${addr[$(((2 * r + 1) % NODES))]}
        python3 "$helper" btmirror "$BIN" "$work/one.torrent" "$work/bt$r" "$b" 60 | tee -a "$work/first.jsonl" >&2
        "$LT_PY" "$helper" libtorrent "$work/one.torrent" "$work/lt$r" "$l" 60 | tee -a "$work/first.jsonl" >&2
    done
    kill "$seed_pid" 2>/dev/null || true
    wait "$seed_pid" 2>/dev/null || true
    seed_pid=""
    results+=("$(python3 - "$work/first.jsonl" "$REPEAT" "$SIZE_KIB" "$seed_announced" "$seed_acked" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rep, size, ann, acked = sys.argv[2:]
def med(client, key):
    v = [r[key] for r in rows if r["client"] == client]
    ok = [x for x in v if x is not None]
    s = "%.2f s" % statistics.median(ok) if ok else "never"
    runs = " ".join("-" if x is None else "%.2f" % x for x in v)
    return "%-9s (runs: %s)" % (s, runs)
print(f"time to first peer, trackerless {size} KiB torrent, {rep} runs each, medians "
      f"(the seed announced after {ann} s to {acked} nodes):")
for c, origin in (("btmirror", "process start"), ("libtorrent", "session creation")):
    print(f"  {c:10} from {origin}:")
    print(f"    first peer from the DHT: {med(c, 'dht_peer')}")
    print(f"    first peer connected:    {med(c, 'connected')}")
    print(f"    download complete:       {med(c, 'complete')}")
EOF
)")
    echo "${results[-1]}" >&2
fi

# --- part 2: a daemon with N torrents -------------------------------------------------------
if want nodht || want dht; then
    echo "generating $N trackerless torrents of 4 KiB..." >&2
    mkdir -p "$work/watch"
    head -c 4096 /dev/urandom >"$work/watch/f000000.bin"
    "$BIN" make "$work/watch/f000000.bin" --announce "http://127.0.0.1:9/announce" \
        -o "$work/f000000.torrent" >/dev/null 2>&1
    python3 "$helper" many "$work/f000000.torrent" "$work/watch" "$N"

    seeding() {
        "$BIN" status --json --state-dir "$1" 2>/dev/null |
            jq '[.torrents[] | select(.state == "seeding")] | length' 2>/dev/null || echo 0
    }
    cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
    rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$daemon_pid/status"; }
    dht_json() { "$BIN" status --json --state-dir "$1" 2>/dev/null | jq -c '.dht' 2>/dev/null || echo '?'; }

    # run NAME SECS ARGS...: starts the daemon, waits for all N seeding, samples SECS seconds;
    # sets cpu_pct, cpu_steps (% a minute), rss_start, rss_end, rss_max (KiB), ready_secs.
    run_daemon() {
        local name=$1 secs=$2 state="$work/state-$1" t c0 c1 r hz
        shift 2
        mkdir -p "$state"
        cat >"$work/$name.toml" <<EOF
watch = ["$work/watch"]
state_dir = "$state"
port = 0
bind = "127.0.0.1"
resume_interval = 60
EOF
        t=$(now)
        "$BIN" run --config "$work/$name.toml" "$@" >>"$work/daemon-$name.log" 2>&1 &
        daemon_pid=$!
        while [[ $(seeding "$state") != "$N" ]]; do
            kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died; see $work/daemon-$name.log" >&2; exit 1; }
            sleep 1
        done
        ready_secs=$(since "$t")
        sleep "$WARM_SECS"
        dht_start=$(dht_json "$state")
        hz=$(getconf CLK_TCK)
        rss_start=$(rss_kib)
        rss_max=$rss_start
        c0=$(cpu_ticks)
        t=$(now)
        # The CPU of each minute too (of each 5 s sample when the window is under a minute).
        local per=12 i=0 cm=$c0 tm=$t cn
        ((secs < 60)) && per=1
        cpu_steps=""
        for _ in $(seq $((secs / 5))); do
            sleep 5
            r=$(rss_kib)
            ((r > rss_max)) && rss_max=$r
            i=$((i + 1))
            if ((i % per == 0)); then
                cn=$(cpu_ticks)
                cpu_steps+=" $(awk -v a="$cm" -v b="$cn" -v hz="$hz" -v s="$(since "$tm")" \
                    'BEGIN { printf "%.1f", (b - a) / hz / s * 100 }')"
                cm=$cn
                tm=$(now)
            fi
        done
        c1=$(cpu_ticks)
        cpu_pct=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$(since "$t")" \
            'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')
        rss_end=$(rss_kib)
        dht_end=$(dht_json "$state")
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
        daemon_pid=""
    }
    mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

    lines=("daemon with $N trackerless torrents of 4 KiB ($NODES-node loopback DHT; CPU and RSS"
        "from $WARM_SECS s after all are seeding):")
    if want nodht; then
        echo "daemon with $N torrents, --no-dht, $BASE_SECS s window..." >&2
        run_daemon nodht "$BASE_SECS" --no-dht
        lines+=(
            "  --no-dht:  all seeding after $ready_secs s; over $BASE_SECS s: CPU $cpu_pct % of a core,"
            "             RSS $(mib "$rss_start") -> $(mib "$rss_end") MiB (max $(mib "$rss_max")); CPU % by minute:$cpu_steps"
        )
        base_cpu=$cpu_pct
        base_rss=$rss_end
        printf '%s\n' "${lines[@]:2}" >&2
    fi
    if want dht; then
        echo "daemon with $N torrents, DHT from ${addr[0]}, $DHT_SECS s window..." >&2
        hashes0=$(swarm_line | sed -E 's/.*stored info-hashes ([0-9]+).*/\1/')
        run_daemon dht "$DHT_SECS" --dht-bootstrap "${addr[0]}"
        hashes1=$(swarm_line | sed -E 's/.*stored info-hashes ([0-9]+).*/\1/')
        lines+=(
            "  DHT on:    all seeding after $ready_secs s; over $DHT_SECS s: CPU $cpu_pct % of a core,"
            "             RSS $(mib "$rss_start") -> $(mib "$rss_end") MiB (max $(mib "$rss_max")); CPU % by minute:$cpu_steps"
        )
        if want nodht; then
            lines+=("  the DHT's own cost: CPU $(awk -v a="$cpu_pct" -v b="$base_cpu" 'BEGIN { printf "%.2f", a - b }') % of a core, RSS $(awk -v a="$rss_end" -v b="$base_rss" 'BEGIN { printf "%+.1f", (a - b) / 1024 }') MiB")
        fi
        # Announces finished in the window against what N torrents need: one each every
        # 25 minutes (the daemon's re-announce period; 25-30 min with jitter).
        ann=$(jq -n --argjson a "$dht_start" --argjson b "$dht_end" '($b.announces // 0) - ($a.announces // 0)' 2>/dev/null || echo '?')
        sent=$(jq -n --argjson a "$dht_start" --argjson b "$dht_end" '($b.sent // 0) - ($a.sent // 0)' 2>/dev/null || echo '?')
        lines+=(
            "  announces finished in the window: $ann ($(awk -v a="$ann" -v s="$DHT_SECS" 'BEGIN { printf "%.2f", a / s }')/s; $N torrents every 25 min need $(awk -v n="$N" 'BEGIN { printf "%.2f", n / 1500 }')/s), KRPC sent $(awk -v a="$sent" -v s="$DHT_SECS" 'BEGIN { printf "%.0f", a / s }')/s"
            "  status .dht at the window's start: $dht_start"
            "  status .dht at its end:            $dht_end"
            "  info-hashes stored in the swarm (sum over nodes): $hashes0 before the daemon, $hashes1 at the end"
        )
    fi
    results+=("$(printf '%s\n' "${lines[@]}")")
fi

echo
echo "dht bench: binary $BIN, swarm of $NODES nodes"
for r in "${results[@]}"; do echo "$r"; done
