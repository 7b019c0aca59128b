#!/usr/bin/env bash
# packaging/tests/systemd.sh - the .deb under a real systemd: boots the cached minimal Debian
# with `systemd-nspawn -b --private-network`; a self-test unit inside
# (inside/systemd-selftest.sh) installs the package and checks: enabled and active with a
# STATUS= text, running as btmirror with the hardening applied, seeds a torrent dropped into
# its directory to `btmirror get --no-seed`, reload, the watchdog restarting a SIGSTOPped
# daemon, a clean and quick stop, a template instance, and a purge that leaves no unit and no
# state behind but keeps the mirrored data.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$ROOT/packaging/tests/boot.sh"
prologue

prepare_rootfs "$SYSTEMD_TAR"
install -m 0755 "$ROOT/packaging/tests/inside/systemd-selftest.sh" "$ROOTFS/usr/local/sbin/btmirror-selftest"
cat >"$ROOTFS/etc/systemd/system/ci-selftest.service" <<'UNIT'
[Unit]
Description=btmirror package self-test
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/btmirror-selftest
StandardOutput=journal+console
TimeoutStartSec=400
# whatever happens, end the boot
ExecStopPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
ln -s ../ci-selftest.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/"

boot systemd 480 -b
report systemd
finish
