# packaging/tests/boot.sh - shared by systemd.sh and sysvinit.sh (sourced): unpack a cached
# image, put the .deb and a self-test into it, boot it with systemd-nspawn (no network but
# loopback), then report the self-test's result lines.

# prepare_rootfs TARBALL: unpacks into $WORK/rootfs and installs the self-test helpers.
prepare_rootfs() {
	WORK=$(mktemp -d /var/tmp/btmirror-boot.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
	ROOTFS="$WORK/rootfs"
	mkdir -p "$ROOTFS"
	tar -C "$ROOTFS" -xf "$1"
	install -D -m 0644 "$ROOT/packaging/tests/inside/common.sh" \
		"$ROOTFS/usr/local/lib/btmirror-selftest/common.sh"
	cp "$DEB" "$ROOTFS/root/btmirror.deb"
}

# boot NAME TIMEOUT ARGS...: runs systemd-nspawn on $ROOTFS with ARGS; console to $WORK/console.log.
boot() {
	local name=$1 limit=$2 t0=$SECONDS rc=0
	shift 2
	timeout --kill-after=20 "$limit" systemd-nspawn -q --keep-unit --register=no \
		--private-network --console=pipe -D "$ROOTFS" "$@" \
		</dev/null >"$WORK/console.log" 2>&1 || rc=$?
	echo "$name: container ran $((SECONDS - t0)) s (exit $rc)"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		fail "$name: container finished in time" "killed after $limit s"
	fi
}

# report NAME: prints the self-test's result lines, counts failures; on failure shows logs.
report() {
	local name=$1 results="$ROOTFS/root/results" line
	if [ ! -f "$results" ]; then
		fail "$name: self-test ran" "no results file"
	else
		while IFS= read -r line; do
			case $line in
			PASS\ *) pass "$name: ${line#PASS }" ;;
			FAIL\ *) fail "$name: ${line#FAIL }" ;;
			NOTE\ *) echo "note $name: ${line#NOTE }" ;;
			esac
		done <"$results"
		grep -qx DONE "$results" || fail "$name: self-test finished" "it stopped early (no DONE)"
	fi
	if [ "$FAILURES" -gt 0 ]; then
		echo "---- $name: console (last 40 lines)"
		tail -n 40 "$WORK/console.log"
		for log in journal.txt btmirror.log dpkg-install.log; do
			[ -f "$ROOTFS/root/$log" ] || continue
			echo "---- $name: /root/$log (btmirror lines, last 60)"
			grep -i btmirror "$ROOTFS/root/$log" | tail -n 60
		done
	fi
	# BTMIRROR_CI_KEEP=1 keeps the container's files after a failure, =all always
	if [ "${BTMIRROR_CI_KEEP:-}" = all ] || { [ -n "${BTMIRROR_CI_KEEP:-}" ] && [ "$FAILURES" -gt 0 ]; }; then
		trap - EXIT
		echo "kept $WORK (BTMIRROR_CI_KEEP is set)"
	fi
}

# prologue: root, the .deb, a daemon that implements `run`, and the cached images.
prologue() {
	need_root
	DEB=$(deb_path)
	if [ ! -f "$DEB" ]; then
		fail "$(basename "$0"): the .deb exists" "$DEB is missing (build.sh builds it)"
		finish
	fi
	if ! command -v systemd-nspawn >/dev/null; then
		fail "$(basename "$0"): systemd-nspawn" "not installed (packaging/tests/deps.sh)"
		finish
	fi
	local images
	images=$("$ROOT/packaging/tests/image.sh") || {
		fail "$(basename "$0"): debootstrap image" "image.sh failed"
		finish
	}
	SYSTEMD_TAR=$(sed -n 1p <<<"$images")
	SYSV_TAR=$(sed -n 2p <<<"$images")
}
