#!/usr/bin/env bash
# bench/swarm.sh - loopback transfer benchmark: btmirror next to libtorrent and aria2.
#
# Builds btmirror in release mode and runs tools/swarm-bench (one opentracker, one seeder,
# K leechers, all on 127.0.0.1) for each pair, in one session, so the numbers compare:
#
#   btmirror -> btmirror     libtorrent -> libtorrent     aria2 -> aria2
#   btmirror -> libtorrent   libtorrent -> btmirror       (rqbit -> rqbit when installed)
#   btmirror-utp -> btmirror-utp   libtorrent-utp -> libtorrent-utp   (uTP only, TCP off)
#   btmirror-rc4 -> btmirror-rc4   libtorrent-rc4 -> libtorrent-rc4   aria2-rc4 -> aria2-rc4
#                                  (MSE required, RC4 on every byte)
#
# It prints swarm-bench's RESULT/MEDIAN lines as they come, then a summary table: MiB/s,
# wall time, CPU seconds of each side in the transfer window, CPU-s per GiB moved, and peak
# anonymous memory. See ../shared/research/perf-baseline.md for how to read them.
#
# usage: bench/swarm.sh [SIZE_MIB] [options] [-- swarm-bench options...]
#   SIZE_MIB            payload size (default 1024, or $SIZE_MIB)
#   --repeat N          runs per pair, medians reported (default 3, or $REPEAT)
#   --leechers K        leechers per run (default 1)
#   --pairs "S:L ..."   pairs to run, e.g. "btmirror:btmirror aria2:libtorrent"
#                       clients: btmirror btmirror-utp btmirror-rc4 aria2 aria2-rc4
#                       libtorrent libtorrent-utp libtorrent-rc4 transmission rqbit cmd-aria2
#                       (the -utp ones: uTP only, TCP off; the -rc4 ones: MSE with RC4 required)
#                       (cmd-aria2 is aria2c driven through a cmd: template; it checks the
#                       cmd: path of the harness without btmirror)
#   --no-build          use $BTMIRROR_BIN or the existing target/release/btmirror
#   --out FILE          also append RESULT/MEDIAN lines to FILE (default: a temp file)
#   --tmpfs             put the scratch data on tmpfs (/dev/shm) instead of the disk
#   --slow-disk MS      put it on a loop device behind device-mapper `delay` (MS per I/O, ~8
#                       like a 7200 rpm disk), or without dm-delay under the cgroup blkio
#                       throttle at 1000/MS IOPS and 150 MB/s (bench/slow-disk.sh); set up and
#                       torn down here; root only, and it says so when the kernel cannot
#
# The data goes to the machine's disk by default (TMPDIR, else /tmp; a tmpfs TMPDIR is refused
# without --tmpfs), and as root the page cache is emptied before each pair so the seeder reads
# cold data (it says so when it cannot).
#
# environment: BTMIRROR_BIN (binary to test; skips the build), TMPDIR (scratch; point it at
# tmpfs to take the disk out), RQBIT, SWARM_BENCH_PYTHON (see tools/swarm-bench --help).
#
# By default each run first waits up to 60 s for an idle machine and is redone (up to twice)
# when other processes used the CPU during it; pass other swarm-bench options after `--`.
set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/tools/swarm-bench"

SIZE=${SIZE_MIB:-1024}
REPEAT=${REPEAT:-3}
LEECHERS=1
PAIRS=
BUILD=1
OUT=
declare -a EXTRA=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "bench/swarm.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    [0-9]*) SIZE=$1; shift ;;
    --repeat) REPEAT=${2:?}; shift 2 ;;
    --leechers) LEECHERS=${2:?}; shift 2 ;;
    --pairs) PAIRS=${2:?}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT=${2:?}; shift 2 ;;
    --tmpfs) TMPFS=1; shift ;;
    --slow-disk) SLOW_MS=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $SIZE =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive integer, not $SIZE"

# On the disk unless asked: a tmpfs scratch dir hides every disk stall.
if [[ -n "${SLOW_MS:-}" ]]; then
  # shellcheck source=bench/slow-disk.sh
  . "$ROOT/bench/slow-disk.sh"
  # Room for the seed's and every leecher's copy, plus the file system's own.
  SLOW_MNT=$(slow_disk_up $(( SIZE * (LEECHERS + 2) + 256 )) "$SLOW_MS") ||
    die "no slow disk (see above)"
  trap 'slow_disk_down "$SLOW_MNT"' EXIT
  export TMPDIR=$SLOW_MNT
  echo "scratch data on a slow disk: $SLOW_MS ms per I/O ($SLOW_MNT; see above for how)" >&2
elif [[ "${TMPFS:-0}" == 1 ]]; then
  export TMPDIR=/dev/shm
else
  scratch_fs=$(findmnt -no FSTYPE -T "${TMPDIR:-/tmp}" 2>/dev/null | tail -n1)
  [[ "$scratch_fs" != tmpfs ]] || die "TMPDIR ${TMPDIR:-/tmp} is tmpfs; pass --tmpfs to mean it"
fi

# Empties the page cache (root only), so each pair starts from cold data.
drop_caches() {
  if [[ $(id -u) == 0 ]] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    echo "page cache emptied" >&2
  else
    echo "bench/swarm.sh: cannot empty the page cache (not root): the data may be warm" >&2
  fi
}

if [ -z "$PAIRS" ]; then
  PAIRS="btmirror:btmirror libtorrent:libtorrent aria2:aria2 btmirror:libtorrent libtorrent:btmirror"
  PAIRS+=" btmirror-utp:btmirror-utp libtorrent-utp:libtorrent-utp"
  PAIRS+=" btmirror-rc4:btmirror-rc4 libtorrent-rc4:libtorrent-rc4 aria2-rc4:aria2-rc4"
  if [ -n "${RQBIT:-}" ] || command -v rqbit >/dev/null 2>&1; then PAIRS+=" rqbit:rqbit"; fi
fi

# ---------------------------------------------------------------- the btmirror binary
BIN=
need_btmirror() {
  [ -n "$BIN" ] && return 0
  if [ -n "${BTMIRROR_BIN:-}" ]; then
    BIN=$BTMIRROR_BIN
  elif [ "$BUILD" = 1 ]; then
    echo "building btmirror (release)..." >&2
    BIN=$(cd "$ROOT" && cargo build --release -p btmirror --bin btmirror \
            --message-format=json-render-diagnostics \
          | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
  else
    BIN="$ROOT/target/release/btmirror"
  fi
  [ -n "$BIN" ] && [ -x "$BIN" ] || die "no btmirror binary (got '${BIN}')"
  echo "btmirror: $BIN" >&2
}

# ---------------------------------------------------------------- client specs
# client ROLE NAME -> the --seeder/--leecher argument for swarm-bench
client() {
  local role=$1 name=$2 q common
  case "$name" in
    btmirror|btmirror-utp|btmirror-rc4)
      need_btmirror
      q=$(printf '%q' "$BIN")
      common="exec $q get {torrent} --dir {dir} --port {port} --bind 127.0.0.1 --state-dir {work}/state"
      [ "$name" = btmirror-utp ] && common+=" --utp-only"
      [ "$name" = btmirror-rc4 ] && common+=" --encryption require"
      # the seed has no ready file: swarm-bench waits until the tracker scrape shows it complete
      if [ "$role" = seed ]; then echo "cmd:$common"; else echo "cmd:$common --no-seed"; fi
      ;;
    cmd-aria2|aria2-rc4)
      common="exec aria2c --dir={dir} --listen-port={port} --enable-dht=false --enable-dht6=false"
      if [ "$name" = aria2-rc4 ]; then
        common+=" --bt-enable-lpd=false --enable-peer-exchange=false --bt-require-crypto=true"
        common+=" --bt-min-crypto-level=arc4"
      else
        common+=" --bt-enable-lpd=false --enable-peer-exchange=false --bt-require-crypto=false"
      fi
      common+=" --disable-ipv6=true --file-allocation=none --summary-interval=0"
      common+=" --console-log-level=warn --bt-save-metadata=false --bt-stop-timeout=0"
      if [ "$role" = seed ]; then
        echo "cmd:$common --bt-seed-unverified=true --check-integrity=false --seed-ratio=0.0 {torrent}"
      else
        echo "cmd:$common --seed-time=0 {torrent}"
      fi
      ;;
    aria2|libtorrent|libtorrent-utp|libtorrent-rc4|transmission|rqbit|ctorrent|rtorrent) echo "$name" ;;
    *) die "unknown client: $name" ;;
  esac
}

# resolve (and build) the binary once, here: client() runs in command substitutions
case " $PAIRS " in *btmirror*) need_btmirror ;; esac

RUNOUT=$(mktemp -t swarm-bench-results.XXXXXX)
echo "size ${SIZE} MiB, ${REPEAT} run(s) per pair, ${LEECHERS} leecher(s); results in $RUNOUT" >&2

failed=0
for pair in $PAIRS; do
  seeder=${pair%%:*}; leecher=${pair#*:}
  [ -n "$seeder" ] && [ -n "$leecher" ] && [ "$seeder" != "$pair" ] || die "bad pair: $pair (want SEEDER:LEECHER)"
  s_arg=$(client seed "$seeder"); l_arg=$(client leech "$leecher")
  echo "=== $seeder -> $leecher" >&2
  drop_caches
  args=(--size-mib "$SIZE" --seeder "$s_arg" --leecher "$l_arg" --leechers "$LEECHERS"
        --repeat "$REPEAT" --label "$seeder->$leecher" --out "$RUNOUT" --hash-poll 0
        --wait-idle 60 --retry-busy 2)
  "$BENCH" "${args[@]}" ${EXTRA[@]+"${EXTRA[@]}"} || { failed=$((failed + 1)); echo "=== $pair FAILED" >&2; }
done

# ---------------------------------------------------------------- summary
# One row per label: the MEDIAN line when there is one, else the last ok RESULT line.
echo
awk -v size="$SIZE" '
  function val(k,   i, n, kv) { for (i = 1; i <= NF; i++) { n = index($i, "="); if (n && substr($i, 1, n - 1) == k) return substr($i, n + 1) } return "-" }
  $1 == "RESULT" && val("status") == "ok" { lab = val("label"); if (!(lab in med)) row[lab] = $0; if (!(lab in seen)) { seen[lab] = 1; order[++n] = lab } }
  $1 == "RESULT" && val("status") != "ok" { lab = val("label"); if (!(lab in seen)) { seen[lab] = 1; order[++n] = lab } }
  $1 == "MEDIAN" { lab = val("label"); med[lab] = 1; row[lab] = $0; if (!(lab in seen)) { seen[lab] = 1; order[++n] = lab } }
  END {
    printf "%-26s %9s %8s %10s %10s %9s %10s %10s\n", "seeder->leecher", "MiB/s", "wall s", "seed CPU s", "leech CPU", "CPU s/GiB", "seed anon", "leech anon"
    for (i = 1; i <= n; i++) {
      lab = order[i]
      if (!(lab in row)) { printf "%-26s %9s\n", lab, "FAILED"; continue }
      $0 = row[lab]
      s = val("seeder_cpu_s"); l = val("leecher_cpu_s"); k = val("leechers"); if (k == "-") k = 1
      per = (s != "-" && l != "-") ? sprintf("%.2f", (s + l) / (k * size / 1024)) : "-"
      printf "%-26s %9s %8s %10s %10s %9s %9sM %9sM\n", lab, val("mib_s"), val("wall_s"), s, l, per, val("seeder_anon_mib"), val("leecher_anon_mib")
    }
  }' "$RUNOUT"
[ -z "$OUT" ] || cat "$RUNOUT" >>"$OUT"
[ "$failed" -eq 0 ]
