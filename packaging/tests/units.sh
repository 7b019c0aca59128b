#!/usr/bin/env bash
# packaging/tests/units.sh - static checks of the systemd units (no running systemd needed):
# `systemd-analyze verify` prints nothing for each unit (it exits 0 even on "Failed to parse"
# warnings, so any output fails), `systemd-analyze security --offline=yes` rates the system
# units at most 2.0, and the units name the commands and settings the package relies on.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# verify checks that ExecStart's program exists: point it at a stand-in in the temp dir
mkdir -p "$T/bin" "$T/system" "$T/user" "$T/runtime"
printf '#!/bin/sh\nexit 0\n' >"$T/bin/btmirror"
chmod +x "$T/bin/btmirror"
for f in btmirror.service btmirror@.service btmirror-tracker.service; do
	sed "s#/usr/bin/btmirror#$T/bin/btmirror#" "$ROOT/systemd/$f" >"$T/system/$f"
done
cp "$T/system/btmirror@.service" "$T/system/btmirror@srv-iso.service"
sed "s#/usr/bin/btmirror#$T/bin/btmirror#" "$ROOT/systemd/user/btmirror.service" >"$T/user/btmirror.service"

verify_silent() {
	local out
	out=$("$@" 2>&1)
	[ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}
for u in btmirror.service btmirror@srv-iso.service btmirror-tracker.service; do
	check "systemd-analyze verify $u prints nothing" verify_silent systemd-analyze verify --man=no "$T/system/$u"
done
check "systemd-analyze --user verify user/btmirror.service prints nothing" \
	verify_silent env XDG_RUNTIME_DIR="$T/runtime" systemd-analyze --user verify --man=no "$T/user/btmirror.service"

# A broken unit must be caught (the check can fail).
printf '[Service]\nExecStart=%s\nTypo=1\n' "$T/bin/btmirror" >"$T/system/broken.service"
if verify_silent systemd-analyze verify --man=no "$T/system/broken.service" >/dev/null; then
	fail "verify catches a bad key" "systemd-analyze verify printed nothing for Typo=1"
else
	pass "verify catches a bad key"
fi

for u in btmirror.service btmirror@srv-iso.service btmirror-tracker.service; do
	out=$(systemd-analyze security --offline=yes --man=no --threshold=20 "$T/system/$u" 2>&1)
	rc=$?
	level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
	if [ "$rc" = 0 ] && [ -n "$level" ] && awk -v l="${level% *}" 'BEGIN { exit !(l <= 2.0) }'; then
		pass "systemd-analyze security $u: $level (<= 2.0)"
	else
		fail "systemd-analyze security $u <= 2.0" "exit $rc, level '${level:-?}'"
	fi
done

unit=$ROOT/systemd/btmirror.service
tmpl=$ROOT/systemd/btmirror@.service
user=$ROOT/systemd/user/btmirror.service
has() { grep -qxF "$2" "$1"; }
for line in Type=notify WatchdogSec=60 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
	User=btmirror StateDirectory=btmirror LimitNOFILE=65536 NotifyAccess=main; do
	check "btmirror.service has $line" has "$unit" "$line"
done
for line in Type=notify WatchdogSec=60 'ExecReload=/bin/kill -HUP $MAINPID' 'ReadWritePaths=%f' \
	'RequiresMountsFor=%f' 'StateDirectory=btmirror/%i' User=btmirror; do
	check "btmirror@.service has $line" has "$tmpl" "$line"
done
for line in Type=notify WatchdogSec=60 'ExecReload=/bin/kill -HUP $MAINPID' WantedBy=default.target; do
	check "user/btmirror.service has $line" has "$user" "$line"
done
check "user unit has no User= (runs as the user)" bash -c "! grep -q '^User=' '$user'"

# The init script: the exact shebang lintian recognises, LSB header, stop by pid file.
init=$ROOT/debian/btmirror.init
check "init script shebang is #!/lib/init/init-d-script" test "$(head -n 1 "$init")" = '#!/lib/init/init-d-script'
check "init script Default-Start: 2 3 4 5" grep -qE '^# Default-Start:[[:space:]]+2 3 4 5$' "$init"
check "init script waits for READY=1 (--notify-await)" grep -q -- '--notify-await' "$init"
check "init script never matches by --exec alone" bash -c "! grep -q -- '--exec' '$init'"
check "init script parses (sh -n)" sh -n "$init"
for s in postinst postrm prerm; do
	check "debian/btmirror.$s parses (sh -n)" sh -n "$ROOT/debian/btmirror.$s"
done
finish
