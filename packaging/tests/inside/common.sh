# packaging/tests/inside/common.sh - helpers for the self-tests that run inside the test
# containers (copied to /usr/local/lib/btmirror-selftest/). Results go to /root/results as
# "PASS name" / "FAIL name: why" lines; the host script reads and reports them.

RESULTS=/root/results
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
: >"$RESULTS"

pass() { printf 'PASS %s\n' "$1" >>"$RESULTS"; }
fail() { printf 'FAIL %s: %s\n' "$1" "$(printf '%s' "${2:-}" | tr '\n' '|' | cut -c1-400)" >>"$RESULTS"; }
note() { printf 'NOTE %s\n' "$*" >>"$RESULTS"; }
# check NAME CMD...: PASS when CMD succeeds, else FAIL with the end of its output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tail -n 4)"; fi
}
# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds; false after SECONDS.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}
# A payload of MiB random bytes and its torrent (announcing to the in-container tracker).
# make_payload DIR NAME MIB
make_payload() {
	local dir=$1 name=$2 mib=$3 tmp
	tmp=$(mktemp -d)
	head -c "$((mib * 1024 * 1024))" /dev/urandom >"$tmp/$name"
	btmirror make "$tmp/$name" --announce http://127.0.0.1:6969/announce \
		-o "$tmp/$name.torrent" >/dev/null || return 1
	cp "$tmp/$name" "$dir/$name"
	# the .torrent last, atomically: the daemon sees complete data when it sees the torrent
	cp "$tmp/$name.torrent" "$dir/.$name.torrent.tmp"
	mv "$dir/.$name.torrent.tmp" "$dir/$name.torrent"
	rm -rf "$tmp"
}
# status_has STATE_DIR NAME STATE: the daemon's status (JSON) lists torrent NAME in STATE.
status_has() {
	btmirror status --json --state-dir "$1" 2>/dev/null |
		tr -d ' \n' | grep -q "\"name\":\"$2\"[^}]*\"state\":\"$3\""
}
# fetch TORRENT OUTDIR: download it with our own client; exit 0 once complete and verified.
fetch() {
	rm -rf "$2" && mkdir -p "$2" &&
		timeout 90 btmirror get "$1" --dir "$2" --no-seed --port 0 </dev/null
}
