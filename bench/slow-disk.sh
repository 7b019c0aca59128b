#!/usr/bin/env bash
# bench/slow-disk.sh - a slow block device for benchmarks, like a 7200 rpm disk of a mirror.
#
# Sourced by bench/swarm.sh (--slow-disk MS); also usable alone:
#   bench/slow-disk.sh up SIZE_MIB DELAY_MS   prints the mount point of a fresh ext4 file system
#                                             on a loop device behind device-mapper `delay`
#   bench/slow-disk.sh down MOUNT_POINT       unmounts it and removes the device and its file
# Root only. When the kernel has no device-mapper (or `delay` target) it says so and fails.

set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

slow_disk_die() { echo "bench/slow-disk.sh: $*" >&2; return 1; }

# slow_disk_up SIZE_MIB DELAY_MS -> prints the mount point
slow_disk_up() {
    local size=${1:?} delay=${2:?} dir img loop name sectors
    [[ $(id -u) == 0 ]] || { slow_disk_die "needs root (losetup, dmsetup, mount)"; return 1; }
    command -v dmsetup >/dev/null || { slow_disk_die "dmsetup is not installed"; return 1; }
    modprobe dm-delay 2>/dev/null || true
    dmsetup targets 2>/dev/null | grep -q '^delay' ||
        { slow_disk_die "this kernel has no device-mapper delay target (no dm-delay)"; return 1; }
    dir=$(mktemp -d "${SLOW_DISK_DIR:-/var/tmp}/slow-disk.XXXXXX")
    img="$dir/disk.img"
    truncate -s "${size}M" "$img"
    loop=$(losetup --find --show "$img") || { rm -rf "$dir"; slow_disk_die "losetup failed"; return 1; }
    name="btmirror-slow-$$"
    sectors=$(blockdev --getsz "$loop")
    # Reads and writes each wait DELAY_MS before they reach the loop device.
    if ! echo "0 $sectors delay $loop 0 $delay $loop 0 $delay" | dmsetup create "$name"; then
        losetup -d "$loop"; rm -rf "$dir"
        slow_disk_die "dmsetup create failed"; return 1
    fi
    mkfs.ext4 -q -F "/dev/mapper/$name"
    mkdir -p "$dir/mnt"
    mount "/dev/mapper/$name" "$dir/mnt"
    echo "$loop" >"$dir/loop"
    echo "$name" >"$dir/name"
    echo "$dir/mnt"
}

# slow_disk_down MOUNT_POINT
slow_disk_down() {
    local mnt=${1:?} dir
    dir=$(dirname "$mnt")
    [[ -f "$dir/name" ]] || { slow_disk_die "$mnt is not a slow disk"; return 1; }
    umount "$mnt" || true
    dmsetup remove "$(cat "$dir/name")" || true
    losetup -d "$(cat "$dir/loop")" || true
    rm -rf "$dir"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    case "${1:-}" in
        up) slow_disk_up "${2:?SIZE_MIB}" "${3:-8}" ;;
        down) slow_disk_down "${2:?MOUNT_POINT}" ;;
        *) echo "usage: $0 up SIZE_MIB [DELAY_MS] | down MOUNT_POINT" >&2; exit 2 ;;
    esac
fi
