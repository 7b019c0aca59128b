#!/usr/bin/env bash
# packaging/tests/build.sh - the .deb: built by the one command, from a clean checkout, lintian
# clean, with the version of the crate, and holding what the package promises.
#
# When the working tree has uncommitted changes, the clean-checkout build runs on an export of
# the tree (tracked and untracked, not ignored, files) in a temporary directory, sharing
# target/ for the dependencies; in CI (a fresh clone) the in-place build is that build.
# BTMIRROR_CI_SKIP_CLEAN=1 skips the export build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

changelog_version=$(cd "$ROOT" && dpkg-parsechangelog -S Version)
cargo_version=$(crate_version)
check "debian/changelog version ($changelog_version) == crate version ($cargo_version)" \
	test "$changelog_version" = "$cargo_version"

DEB=$(deb_path)
t0=$SECONDS
if "$ROOT/packaging/build-deb.sh" >"$ROOT/target/build-deb.log" 2>&1 && [ -f "$DEB" ]; then
	pass "packaging/build-deb.sh built $(basename "$DEB") in $((SECONDS - t0)) s"
else
	fail "packaging/build-deb.sh" "$(tail -n 15 "$ROOT/target/build-deb.log" | tr '\n' '|')"
	finish
fi

check "the build leaves nothing beside the checkout" bash -c \
	"! ls -d '$(dirname "$ROOT")'/btmirror_*.deb '$(dirname "$ROOT")'/btmirror_*.changes 2>/dev/null | grep ."

lint=$(lintian --pedantic --display-info "${DEB%.deb}.changes" 2>&1 | grep -v '^running with root privileges')
if [ -z "$lint" ]; then pass "lintian --pedantic: no tags"; else
	if printf '%s\n' "$lint" | grep -qE '^[EW]: '; then
		fail "lintian: no errors or warnings" "$(printf '%s' "$lint" | tr '\n' '|')"
	else
		pass "lintian: no errors or warnings (info/pedantic: $(printf '%s' "$lint" | tr '\n' '|'))"
	fi
fi

deb_version=$(dpkg-deb -f "$DEB" Version)
check "the .deb's version is the crate version" test "$deb_version" = "$cargo_version"
contents=$(dpkg-deb -c "$DEB" | awk '{ print $6 }')
for f in ./usr/bin/btmirror ./etc/btmirror/btmirror.toml ./etc/default/btmirror ./etc/init.d/btmirror \
	./etc/logrotate.d/btmirror ./lib/systemd/system/btmirror.service ./lib/systemd/system/btmirror@.service ./lib/systemd/system/btmirror-tracker.service \
	./usr/lib/systemd/user/btmirror.service ./usr/share/applications/btmirror.desktop \
	./usr/share/man/man1/btmirror.1.gz ./usr/share/man/man1/btmirror-run.1.gz ./usr/share/man/man1/btmirror-feed-check.1.gz \
	./usr/share/bash-completion/completions/btmirror ./usr/share/zsh/vendor-completions/_btmirror \
	./usr/share/fish/vendor_completions.d/btmirror.fish ./usr/share/doc/btmirror/examples/btmirror.cron; do
	check "the .deb holds $f" grep -qxF "$f" <<<"$contents"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)
for f in /etc/btmirror/btmirror.toml /etc/default/btmirror /etc/init.d/btmirror; do
	check "$f is a conffile" grep -qxF "$f" <<<"$conffiles"
done
x=$(mktemp -d)
dpkg-deb -x "$DEB" "$x"
check "the packaged binary reports the crate version" bash -c \
	"'$x/usr/bin/btmirror' --version | grep -qxF 'btmirror $cargo_version'"
man_lists_subcommands() {
	local page c
	page=$(zcat "$x/usr/share/man/man1/btmirror.1.gz") || return 1
	for c in run get top status tracker make check; do
		grep -qF "btmirror\\-$c(1)" <<<"$page" || { echo "no btmirror-$c in btmirror.1"; return 1; }
	done
}
check "the man page is generated from the CLI (lists every subcommand)" man_lists_subcommands
check "the man page carries the version" bash -c "zcat '$x/usr/share/man/man1/btmirror.1.gz' | grep -q 'btmirror $cargo_version'"
check "bash completion knows 'run --state-dir'" grep -q -- '--state-dir' "$x/usr/share/bash-completion/completions/btmirror"
check "bash completion loads" bash -c ". '$x/usr/share/bash-completion/completions/btmirror' && complete -p btmirror"
if command -v desktop-file-validate >/dev/null; then
	check "desktop-file-validate btmirror.desktop" desktop-file-validate "$x/usr/share/applications/btmirror.desktop"
fi
check ".desktop handles application/x-bittorrent with 'btmirror get %u'" bash -c \
	"grep -qx 'MimeType=application/x-bittorrent;' '$x/usr/share/applications/btmirror.desktop' &&
	 grep -qx 'Exec=btmirror get %u' '$x/usr/share/applications/btmirror.desktop'"
# Start the packaged binary on the packaged config (loopback only, state in a temp dir) for
# 3 s: a config it rejects would end it at once with exit 2.
config_accepted() {
	local st rc=0
	st=$(mktemp -d)
	timeout -s TERM 3 "$x/usr/bin/btmirror" run --config "$x/etc/btmirror/btmirror.toml" \
		--state-dir "$st" --bind 127.0.0.1 --port 0 >"$st/out" 2>&1 || rc=$?
	cat "$st/out"
	rm -rf "$st"
	[ "$rc" = 0 ] || [ "$rc" = 124 ]
}
if daemon_available; then
	check "btmirror run accepts the packaged config" config_accepted
else
	fail "btmirror run accepts the packaged config" "target/release/btmirror does not implement run yet"
fi
rm -rf "$x"

# --- the one command from a clean checkout
if [ -n "${BTMIRROR_CI_SKIP_CLEAN:-}" ]; then
	echo "skip: clean-checkout build (BTMIRROR_CI_SKIP_CLEAN is set)"
elif [ -z "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] && git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
	pass "the .deb built from a clean checkout (this tree has no uncommitted changes)"
else
	clean=$(mktemp -d /var/tmp/btmirror-clean.XXXXXX)
	mkdir "$clean/btmirror"
	(cd "$ROOT" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
		[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
	done | tar --null -T - -cf -) | tar -C "$clean/btmirror" -xf -
	t0=$SECONDS
	if CARGO_TARGET_DIR="$ROOT/target" "$clean/btmirror/packaging/build-deb.sh" >"$clean/build.log" 2>&1 &&
		[ -f "$clean/btmirror/target/debian/$(basename "$DEB")" ]; then
		pass "the one command builds the .deb from an export of the checkout ($((SECONDS - t0)) s)"
	else
		fail "the one command builds the .deb from an export of the checkout" \
			"$(tail -n 15 "$clean/build.log" | tr '\n' '|')"
	fi
	rm -rf "$clean"
fi
finish
