#!/usr/bin/env bash
# packaging/tests/run.sh - every packaging test, in order, with one summary at the end.
#
#   units.sh     systemd-analyze verify (silent) and security (<= 2.0); init script shape
#   build.sh     packaging/build-deb.sh, clean checkout, lintian, version, contents
#   systemd.sh   the .deb in a systemd-nspawn -b container: service, seeding, reload,
#                watchdog, stop, template instance, purge
#   sysvinit.sh  the .deb under sysvinit: rc links, init script, reinstall, nohup as a user
#
# Needs root and the tools from packaging/tests/deps.sh (.ci/run calls it first). The first
# run on a machine debootstraps a minimal Debian (cached in /var/cache/btmirror-ci).
# Exits non-zero when any check failed. Run one script alone: bash packaging/tests/NAME.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ "$(id -u)" != 0 ]; then
	# debootstrap, systemd-nspawn and dpkg need root; keep PATH (cargo from rustup) and HOME
	exec sudo -n env PATH="$PATH" HOME="$HOME" bash "$0" "$@"
fi

declare -a names=() results=() times=()
total_fail=0
t_start=$SECONDS

run_one() {
	local script=$1 t0=$SECONDS rc=0 log
	log=$(mktemp)
	printf '\n=== packaging/tests/%s\n' "$script"
	bash "packaging/tests/$script" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	local p f
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	rm -f "$log"
	names+=("$script")
	times+=("$((SECONDS - t0))")
	if [ "$rc" -ne 0 ]; then
		results+=("FAIL ($p passed, $f failed, exit $rc)")
		total_fail=$((total_fail + 1))
	else
		results+=("ok ($p passed)")
	fi
	return "$rc"
}

run_one units.sh
if run_one build.sh; then
	run_one systemd.sh
	run_one sysvinit.sh
else
	echo "build.sh failed: skipping the boot tests (they install the .deb)"
	names+=(systemd.sh sysvinit.sh)
	results+=("skipped" "skipped")
	times+=(0 0)
	total_fail=$((total_fail + 1))
fi

printf '\n%-14s %-40s %s\n' "script" "result" "seconds"
for i in "${!names[@]}"; do
	printf '%-14s %-40s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
printf '%-14s %-40s %s\n' "total" "" "$((SECONDS - t_start))"
if [ "$total_fail" -gt 0 ]; then
	echo "packaging tests: FAILED"
	exit 1
fi
echo "packaging tests: OK"
