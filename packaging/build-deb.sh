#!/usr/bin/env bash
# packaging/build-deb.sh - build the btmirror Debian package with one command.
#
#   packaging/build-deb.sh        ->  target/debian/btmirror_VERSION_ARCH.deb (+ .changes, .buildinfo)
#
# Runs from any directory. Needs debhelper and dpkg-dev (packaging/tests/deps.sh installs them)
# and cargo from rustup on PATH (or in ~/.cargo/bin). Builds target/release/btmirror (shared
# with developer builds) and the man pages and completions (packaging/gen-docs).
# The test suite is not run during the build (CI runs it separately); set DEB_BUILD_OPTIONS
# yourself (e.g. DEB_BUILD_OPTIONS= ) to run it. Offline: `cargo fetch --locked` once, then
# CARGO_NET_OFFLINE=true packaging/build-deb.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
	export PATH="$HOME/.cargo/bin:$PATH"
fi
for tool in cargo dpkg-buildpackage dh; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build-deb.sh: $tool not found (packaging/tests/deps.sh installs the Debian tools)" >&2
		exit 1
	}
done

export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS-nocheck}"

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
out="$root/target/debian"
mkdir -p "$out"

# dpkg-buildpackage writes its results to the parent directory; move them to target/debian/.
parent=$(dirname "$root")
rm -f "$parent"/btmirror_"$version"_*
dpkg-buildpackage -us -uc -b
for f in "$parent"/btmirror_"$version"_*; do
	mv -f "$f" "$out/"
done
deb="$out/btmirror_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "build-deb.sh: $deb was not produced" >&2; exit 1; }
echo "build-deb.sh: built $deb"
