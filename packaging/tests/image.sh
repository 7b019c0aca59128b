#!/usr/bin/env bash
# packaging/tests/image.sh - make (once) the cached Debian root filesystems the boot tests use.
#
#   $CACHE_DIR/bookworm-systemd-KEY.tar   debootstrap minbase + systemd systemd-sysv dbus ...
#   $CACHE_DIR/bookworm-sysvinit-KEY.tar  the same with sysvinit-core instead of systemd-sysv
#
# CACHE_DIR is /var/cache/btmirror-ci (override with BTMIRROR_CI_CACHE). KEY hashes the package
# lists below, so changing them rebuilds; later runs on the same machine reuse the tarballs.
# Prints the two tarball paths. Needs root and network access to the Debian mirror.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e
need_root

BASE_PACKAGES="systemd systemd-sysv dbus procps tmux adduser passwd util-linux logrotate ca-certificates libpam-systemd"
SYSV_PACKAGES="sysvinit-core"
key=$(printf '%s|%s|%s|v1' "$BASE_PACKAGES" "$SYSV_PACKAGES" "$SUITE" | sha256sum | cut -c1-12)
systemd_tar="$CACHE_DIR/$SUITE-systemd-$key.tar"
sysv_tar="$CACHE_DIR/$SUITE-sysvinit-$key.tar"

if [ -f "$systemd_tar" ] && [ -f "$sysv_tar" ]; then
	printf '%s\n%s\n' "$systemd_tar" "$sysv_tar"
	exit 0
fi

mkdir -p "$CACHE_DIR"
work=$(mktemp -d /var/tmp/btmirror-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "image.sh: debootstrap $SUITE (minbase) from $MIRROR; cached in $CACHE_DIR afterwards" >&2
debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
	tail -n 20 "$work/debootstrap.log" >&2
	exit 1
}
# never start services from maintainer scripts while building the image
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends $BASE_PACKAGES >"$work/apt.log" 2>&1 || {
	tail -n 20 "$work/apt.log" >&2
	exit 1
}
chroot "$rootfs" apt-get clean
rm -f "$rootfs/usr/sbin/policy-rc.d"
# a machine id and a hostname, so that the systemd boot is quiet and deterministic
: >"$rootfs/etc/machine-id"
echo btmirror-ci >"$rootfs/etc/hostname"
tar -C "$rootfs" -cf "$systemd_tar.tmp" .

printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends $SYSV_PACKAGES >"$work/apt-sysv.log" 2>&1 || {
	tail -n 20 "$work/apt-sysv.log" >&2
	exit 1
}
chroot "$rootfs" apt-get clean
rm -f "$rootfs/usr/sbin/policy-rc.d"
tar -C "$rootfs" -cf "$sysv_tar.tmp" .

mv "$systemd_tar.tmp" "$systemd_tar"
mv "$sysv_tar.tmp" "$sysv_tar"
# images made from other package lists are stale
for old in "$CACHE_DIR/$SUITE"-systemd-*.tar "$CACHE_DIR/$SUITE"-sysvinit-*.tar; do
	case $old in "$systemd_tar" | "$sysv_tar") ;; *) rm -f "$old" ;; esac
done
printf '%s\n%s\n' "$systemd_tar" "$sysv_tar"
