#!/usr/bin/env bash
# packaging/tests/deps.sh - install the Debian packages the packaging tests need (only the missing ones).
#
#   debhelper lintian        build and lint the .deb (dpkg-dev, fakeroot come with build-essential)
#   debootstrap              a minimal Debian root for the boot tests
#   systemd-container        systemd-nspawn, to boot that root under a real systemd and under sysvinit
#                            (tmux, for the nohup test, is installed inside that root, not here)
#
# Needs root or sudo. Safe to run repeatedly.
set -euo pipefail

PACKAGES=(debhelper lintian debootstrap systemd-container dpkg-dev fakeroot)

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "deps.sh: need root or sudo to run: $*" >&2
    return 1
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps.sh: all present: ${PACKAGES[*]}"
  exit 0
fi
echo "deps.sh: installing ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
