#!/usr/bin/env bash
# packaging/tests/sysvinit.sh - the .deb's init script under a real sysvinit: the cached
# minimal Debian with sysvinit-core, the package installed beforehand (so rc 2 starts it at
# boot), booted with `systemd-nspawn --private-network /sbin/init`. An inittab "once" entry runs
# inside/sysvinit-selftest.sh: status, seeding, reload, restart, reinstall, stop by pid file only
# (a user's own btmirror survives), and the nohup test (a plain user's `nohup btmirror run`
# whose tmux session is killed keeps seeding, answers `btmirror status`, ends on SIGTERM).
# Then it halts, and rc 0 must stop the daemon cleanly.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$ROOT/packaging/tests/boot.sh"
prologue

prepare_rootfs "$SYSV_TAR"
install -m 0755 "$ROOT/packaging/tests/inside/sysvinit-selftest.sh" "$ROOTFS/usr/local/sbin/btmirror-selftest"

# install the package offline, without starting it (no init system runs in the chroot)
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
if chroot "$ROOTFS" dpkg -i /root/btmirror.deb >"$WORK/dpkg.log" 2>&1; then
	pass "sysvinit: dpkg -i in the image"
else
	fail "sysvinit: dpkg -i in the image" "$(tail -n 5 "$WORK/dpkg.log" | tr '\n' '|')"
	finish
fi
rm -f "$ROOTFS/usr/sbin/policy-rc.d"

# /etc/default/btmirror is sourced by init-d-script with the action in $1: log every call
# with the runlevel, to see rc 2 start it and rc 0 stop it.
cat >>"$ROOTFS/etc/default/btmirror" <<'HOOK'
# test hook (packaging/tests/sysvinit.sh)
echo "${1:-} runlevel=$(runlevel 2>/dev/null | tr ' ' /)" >>/var/log/btmirror-initd-calls.log
HOOK
echo 'bt:2:once:/usr/local/sbin/btmirror-selftest' >>"$ROOTFS/etc/inittab"

boot sysvinit 420 /sbin/init
report sysvinit

calls="$ROOTFS/var/log/btmirror-initd-calls.log"
if grep -q '^start runlevel=N/2$' "$calls" 2>/dev/null; then
	pass "sysvinit: rc 2 ran the init script's start at boot"
else
	fail "sysvinit: rc 2 ran the init script's start at boot" "$(tr '\n' '|' <"$calls" 2>&1)"
fi
if grep -q '^stop runlevel=2/0$' "$calls" 2>/dev/null; then
	pass "sysvinit: rc 0 ran the init script's stop at halt"
else
	fail "sysvinit: rc 0 ran the init script's stop at halt" "$(tr '\n' '|' <"$calls" 2>&1)"
fi
log="$ROOTFS/var/log/btmirror/btmirror.log"
if [ -f "$log" ] && tail -n 3 "$log" | grep -q stopped; then
	pass "sysvinit: the daemon shut down cleanly at halt"
else
	fail "sysvinit: the daemon shut down cleanly at halt" "$(tail -n 3 "$log" 2>&1 | tr '\n' '|')"
fi
finish
