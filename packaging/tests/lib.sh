# packaging/tests/lib.sh - shared by the packaging test scripts (sourced, not run).
#
# Each test script prints "PASS name" / "FAIL name: why" lines (check, pass, fail) and exits
# non-zero when any check failed. run.sh collects them into one summary.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE_DIR=${BTMIRROR_CI_CACHE:-/var/cache/btmirror-ci}
SUITE=bookworm
MIRROR=${BTMIRROR_CI_MIRROR:-http://deb.debian.org/debian}
FAILURES=0

pass() { printf 'PASS %s\n' "$1"; }
fail() {
	printf 'FAIL %s: %s\n' "$1" "${2:-}"
	FAILURES=$((FAILURES + 1))
}
# check NAME CMD...: runs CMD quietly; PASS when it succeeds, FAIL with its last output lines.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | tail -n 5 | tr '\n' '|')"
	fi
}
finish() {
	if [ "$FAILURES" -gt 0 ]; then
		printf '%s: %d check(s) failed\n' "$(basename "$0")" "$FAILURES"
		exit 1
	fi
	exit 0
}
need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "$(basename "$0"): needs root (debootstrap, systemd-nspawn, dpkg -i)" >&2
		exit 1
	fi
}
crate_version() {
	# [workspace.package] version in the root Cargo.toml (crates/btmirror uses version.workspace)
	awk '/^\[workspace\.package\]/ { p = 1; next } /^\[/ { p = 0 }
		p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.toml"
}
deb_path() {
	if [ -n "${BTMIRROR_DEB:-}" ]; then
		printf '%s\n' "$BTMIRROR_DEB"
		return
	fi
	local version arch
	version=$(cd "$ROOT" && dpkg-parsechangelog -S Version)
	arch=$(dpkg-architecture -q DEB_HOST_ARCH)
	printf '%s/target/debian/btmirror_%s_%s.deb\n' "$ROOT" "$version" "$arch"
}
# The release binary implements `run` (not the placeholder saying "not available").
daemon_available() {
	local st out
	[ -x "$ROOT/target/release/btmirror" ] || return 1
	st=$(mktemp -d)
	out=$(timeout -s TERM 2 "$ROOT/target/release/btmirror" run "$st/none" --state-dir "$st/state" \
		--bind 127.0.0.1 --port 0 2>&1)
	rm -rf "$st"
	! grep -qi 'not available' <<<"$out"
}
