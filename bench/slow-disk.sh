#!/usr/bin/env bash
# bench/slow-disk.sh - a slow block device for benchmarks, like a 7200 rpm disk of a mirror.
#
# Sourced by bench/swarm.sh (--slow-disk MS); also usable alone:
#   bench/slow-disk.sh up SIZE_MIB DELAY_MS   prints the mount point of a fresh ext4 file system
#                                             on a loop device behind device-mapper `delay`,
#                                             or, without dm-delay, the loop device under the
#                                             cgroup v1 blkio throttle (1000/DELAY_MS IOPS)
#   bench/slow-disk.sh down MOUNT_POINT       unmounts it and removes the device and its file
# Root only. When the kernel has neither it says so and fails.

set -euo pipefail
# Never the public DHT routers: every btmirror started here bootstraps from no node at all.
export BTMIRROR_DHT_BOOTSTRAP=""

slow_disk_die() { echo "bench/slow-disk.sh: $*" >&2; return 1; }

# slow_disk_up SIZE_MIB DELAY_MS -> prints the mount point
# Device-mapper `delay` when the kernel has it, else the block-I/O throttle of cgroups.
slow_disk_up() {
    local size=${1:?} delay=${2:?} dir img loop name sectors mode
    [[ $(id -u) == 0 ]] || { slow_disk_die "needs root (losetup, mount, dmsetup or cgroups)"; return 1; }
    modprobe dm-delay 2>/dev/null || true
    if command -v dmsetup >/dev/null && dmsetup targets 2>/dev/null | grep -q '^delay'; then
        mode=delay
    elif [[ -w /sys/fs/cgroup/blkio/blkio.throttle.read_iops_device ]]; then
        mode=throttle
    else
        slow_disk_die "this kernel has neither the device-mapper delay target (dm-delay) nor the cgroup v1 blkio throttle"
        return 1
    fi
    dir=$(mktemp -d "${SLOW_DISK_DIR:-/var/tmp}/slow-disk.XXXXXX")
    img="$dir/disk.img"
    truncate -s "${size}M" "$img"
    # Direct I/O to the backing file: the image's pages are not cached a second time.
    loop=$(losetup --find --show --direct-io=on "$img" 2>/dev/null || losetup --find --show "$img") ||
        { rm -rf "$dir"; slow_disk_die "losetup failed"; return 1; }
    echo "$loop" >"$dir/loop"
    if [[ $mode == delay ]]; then
        name="btmirror-slow-$$"
        sectors=$(blockdev --getsz "$loop")
        # Reads and writes each wait DELAY_MS before they reach the loop device.
        if ! echo "0 $sectors delay $loop 0 $delay $loop 0 $delay" | dmsetup create "$name"; then
            losetup -d "$loop"; rm -rf "$dir"
            slow_disk_die "dmsetup create failed"; return 1
        fi
        echo "$name" >"$dir/name"
        dev="/dev/mapper/$name"
    else
        # A disk that serves one I/O per DELAY_MS (8 ms: 125 IOPS, as a 7200 rpm disk) and at
        # most SLOW_DISK_MBPS MB/s (default 150), reads and writes alike. Set in the root
        # cgroup, so it holds for every process and for the kernel's writeback too.
        local iops=$(( 1000 / (delay > 0 ? delay : 1) )) bps=$(( ${SLOW_DISK_MBPS:-150} * 1000000 ))
        local majmin f
        majmin=$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')
        for f in read_iops_device write_iops_device; do
            echo "$majmin $iops" >"/sys/fs/cgroup/blkio/blkio.throttle.$f"
        done
        for f in read_bps_device write_bps_device; do
            echo "$majmin $bps" >"/sys/fs/cgroup/blkio/blkio.throttle.$f"
        done
        echo "$majmin" >"$dir/throttle"
        echo "slow disk: $loop throttled to $iops IOPS and ${SLOW_DISK_MBPS:-150} MB/s (no dm-delay here)" >&2
        dev=$loop
    fi
    mkfs.ext4 -q -F "$dev"
    mkdir -p "$dir/mnt"
    mount "$dev" "$dir/mnt"
    echo "$dir/mnt"
}

# slow_disk_down MOUNT_POINT
slow_disk_down() {
    local mnt=${1:?} dir f
    dir=$(dirname "$mnt")
    [[ -f "$dir/loop" ]] || { slow_disk_die "$mnt is not a slow disk"; return 1; }
    umount "$mnt" || true
    [[ -f "$dir/name" ]] && { dmsetup remove "$(cat "$dir/name")" || true; }
    if [[ -f "$dir/throttle" ]]; then
        for f in read_iops_device write_iops_device read_bps_device write_bps_device; do
            echo "$(cat "$dir/throttle") 0" >"/sys/fs/cgroup/blkio/blkio.throttle.$f" || true
        done
    fi
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
