#!/bin/bash
# Runs inside the systemd-booted test container (btmirror-selftest.service), then powers off.
# Installs /root/btmirror.deb and checks the service end to end; see packaging/tests/systemd.sh.
set -u
. /usr/local/lib/btmirror-selftest/common.sh

MIRROR=/var/lib/btmirror/mirror
STATE=/var/lib/btmirror
prop() { systemctl show -P "$2" "$1"; }
active() { [ "$(prop "$1" ActiveState)" = active ] && [ "$(prop "$1" SubState)" = running ]; }

phase_install() {
	if dpkg -i /root/btmirror.deb >/root/dpkg-install.log 2>&1; then
		pass "dpkg -i"
	else
		fail "dpkg -i" "$(tail -n 5 /root/dpkg-install.log)"
		return 1
	fi
	check "unit enabled by the package" test "$(systemctl is-enabled btmirror.service)" = enabled
	check "template not enabled by the package" test "$(systemctl is-enabled btmirror@.service)" != enabled
	check "user unit installed" test -f /usr/lib/systemd/user/btmirror.service
	check "system user btmirror" getent passwd btmirror
	check "mirror dir owned by btmirror" test "$(stat -c %U:%G "$MIRROR")" = btmirror:btmirror
	if wait_for 30 active btmirror.service; then
		pass "started by the package: active (running)"
	else
		fail "started by the package: active (running)" \
			"$(systemctl status --no-pager btmirror 2>&1 | tail -n 8)"
		return 1
	fi
	local status pid
	status=$(prop btmirror.service StatusText)
	if [ -n "$status" ]; then pass "STATUS= text: $status"; else fail "STATUS= text" "StatusText is empty"; fi
	pid=$(prop btmirror.service MainPID)
	check "runs as user btmirror" test "$(ps -o user= -p "$pid")" = btmirror
	check "hardening applied (no capabilities, NoNewPrivs, seccomp)" bash -c \
		"grep -qE '^CapEff:\s+0+$' /proc/$pid/status && grep -qE '^NoNewPrivs:\s+1$' /proc/$pid/status &&
		grep -qE '^Seccomp:\s+2$' /proc/$pid/status"
	check "btmirror status answers (as root, default state dir)" btmirror status
}

phase_seed() {
	systemd-run --quiet --unit=bt-tracker /usr/bin/btmirror tracker --listen 127.0.0.1:6969
	wait_for 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6969' || note "tracker did not come up"
	if ! make_payload "$MIRROR" payload.bin 8; then
		fail "make a torrent in the mirror dir" "btmirror make failed"
		return 1
	fi
	if wait_for 60 status_has "$STATE" payload.bin seeding; then
		pass "daemon picked up the torrent and seeds it"
	else
		fail "daemon picked up the torrent and seeds it" "$(btmirror status 2>&1 | tail -n 5)"
		return 1
	fi
	if out=$(fetch "$MIRROR/payload.bin.torrent" /root/dl 2>&1) && cmp -s "$MIRROR/payload.bin" /root/dl/payload.bin; then
		pass "btmirror get --no-seed downloaded it from the service"
	else
		fail "btmirror get --no-seed downloaded it from the service" "$(printf '%s' "$out" | tail -n 4)"
	fi
	if wait_for 15 bash -c 'systemctl show -P StatusText btmirror.service | grep -q seeding'; then
		pass "STATUS= text while seeding: $(prop btmirror.service StatusText)"
	else
		fail "STATUS= text while seeding" "$(prop btmirror.service StatusText)"
	fi
}

phase_reload() {
	local pid before after
	pid=$(prop btmirror.service MainPID)
	before=$(journalctl -u btmirror.service -o cat --no-pager | grep -ci reload)
	check "systemctl reload" systemctl reload btmirror.service
	wait_for 10 active btmirror.service
	check "still active after reload, same pid" test "$(prop btmirror.service MainPID)" = "$pid" -a \
		"$(prop btmirror.service ActiveState)" = active
	sleep 1
	after=$(journalctl -u btmirror.service -o cat --no-pager | grep -ci reload)
	if [ "$after" -gt "$before" ]; then pass "the daemon logged the reload"; else
		fail "the daemon logged the reload" "no new log line mentioning reload"
	fi
	check "still seeding after reload" wait_for 15 status_has "$STATE" payload.bin seeding
}

phase_watchdog() {
	local pid n0 t0
	mkdir -p /run/systemd/system/btmirror.service.d
	printf '[Service]\nWatchdogSec=3\nRestartSec=1\nTimeoutAbortSec=5\nLimitCORE=0\n' \
		>/run/systemd/system/btmirror.service.d/zz-test-watchdog.conf
	systemctl daemon-reload
	systemctl restart btmirror.service
	wait_for 30 active btmirror.service
	pid=$(prop btmirror.service MainPID)
	n0=$(prop btmirror.service NRestarts)
	sleep 4 # the daemon keeps pinging: no restart while it is healthy
	check "healthy daemon is not restarted by the watchdog" test "$(prop btmirror.service NRestarts)" = "$n0"
	t0=$SECONDS
	kill -STOP "$pid"
	if wait_for 40 bash -c "[ \"\$(systemctl show -P NRestarts btmirror.service)\" -gt $n0 ] &&
		[ \"\$(systemctl show -P MainPID btmirror.service)\" != $pid ] &&
		[ \"\$(systemctl show -P SubState btmirror.service)\" = running ]"; then
		pass "watchdog restarted the hung (SIGSTOPped) daemon in $((SECONDS - t0)) s"
	else
		fail "watchdog restarted the hung daemon" "$(systemctl status --no-pager btmirror 2>&1 | tail -n 6)"
	fi
	check "journal shows the watchdog timeout" bash -c \
		'journalctl -u btmirror.service --no-pager | grep -q "Watchdog timeout"'
	rm -rf /run/systemd/system/btmirror.service.d
	systemctl daemon-reload
	systemctl restart btmirror.service
	check "active again with the packaged settings" wait_for 30 active btmirror.service
}

phase_stop() {
	local t0 t1 ms
	wait_for 60 status_has "$STATE" payload.bin seeding
	t0=$(date +%s%N)
	systemctl stop btmirror.service
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	if [ "$ms" -lt 10000 ]; then pass "systemctl stop took $ms ms"; else fail "systemctl stop is quick" "took $ms ms"; fi
	check "stop was clean: Result=success, exit status 0" test \
		"$(prop btmirror.service Result)/$(prop btmirror.service ExecMainCode)/$(prop btmirror.service ExecMainStatus)" = success/1/0
	check "stop needed no SIGKILL" bash -c \
		'! journalctl -u btmirror.service --no-pager | grep -q "State .stop-sigterm. timed out"'
	check "resume data saved" bash -c "ls $STATE/resume/*.resume"
	systemctl start btmirror.service
	check "starts again" wait_for 30 active btmirror.service
	check "restart resumes seeding" wait_for 60 status_has "$STATE" payload.bin seeding
}

phase_template() {
	local unit
	mkdir -p /srv/iso
	chown btmirror:btmirror /srv/iso
	make_payload /srv/iso small.iso 1
	chown -R btmirror:btmirror /srv/iso
	unit="btmirror@$(systemd-escape --path /srv/iso).service"
	check "$unit: enable --now" systemctl enable --now "$unit"
	if wait_for 30 active "$unit"; then pass "$unit active"; else
		fail "$unit active" "$(systemctl status --no-pager "$unit" 2>&1 | tail -n 6)"
		return 1
	fi
	check "$unit keeps its state in /var/lib/btmirror/srv-iso" test -S /var/lib/btmirror/srv-iso/control.sock
	check "$unit seeds /srv/iso" wait_for 60 status_has /var/lib/btmirror/srv-iso small.iso seeding
}

# The packaged user unit under a real `systemd --user` (lingering, no login needed).
phase_user_unit() {
	useradd -m -s /bin/bash alice
	local uid u
	uid=$(id -u alice)
	# systemctl --user as alice, talking to her manager's private socket
	u="runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/$uid systemctl --user --quiet"
	runuser -l alice -c 'mkdir -p ~/mirror ~/.config/btmirror &&
		printf "watch = [\"%s/mirror\"]\nport = 0\n" "$HOME" > ~/.config/btmirror/btmirror.toml'
	if ! loginctl enable-linger alice || ! wait_for 30 systemctl is-active --quiet "user@$uid.service"; then
		fail "user unit: lingering user manager for alice" "$(systemctl status --no-pager "user@$uid.service" 2>&1 | tail -n 4)"
		return 1
	fi
	check "user unit: systemctl --user enable --now btmirror" $u enable --now btmirror.service
	if wait_for 30 bash -c "[ \"\$($u show -P SubState btmirror.service)\" = running ]"; then
		pass "user unit: active (running), STATUS: $($u show -P StatusText btmirror.service)"
	else
		fail "user unit: active (running)" "$($u status --no-pager btmirror.service 2>&1 | tail -n 6)"
		return 1
	fi
	check "user unit: runs as alice with state in ~/.local/state/btmirror" bash -c \
		"[ \"\$(ps -o user= -p \$($u show -P MainPID btmirror.service))\" = alice ] && test -S /home/alice/.local/state/btmirror/control.sock"
	check "user unit: btmirror status (as alice)" runuser -l alice -c 'btmirror status'
	check "user unit: reload" $u reload btmirror.service
	check "user unit: stop, exit status 0" bash -c "$u stop btmirror.service &&
		[ \"\$($u show -P Result btmirror.service)/\$($u show -P ExecMainStatus btmirror.service)\" = success/0 ]"
	$u disable btmirror.service
	loginctl disable-linger alice
}

# The packaged tracker unit: installed but not enabled; serves HTTP (stats) and reloads.
http_get() { # PATH: prints the response of our tracker on 127.0.0.1:6969
	exec 3<>/dev/tcp/127.0.0.1/6969 && printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3 && cat <&3
}
phase_tracker_unit() {
	systemctl stop bt-tracker 2>/dev/null
	check "tracker unit not enabled by the package" \
		test "$(systemctl is-enabled btmirror-tracker.service)" != enabled
	check "tracker unit: start" systemctl start btmirror-tracker.service
	if ! wait_for 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6969'; then
		fail "tracker unit listens on 6969" "$(systemctl status --no-pager btmirror-tracker.service 2>&1 | tail -n 6)"
		return 1
	fi
	check "tracker unit: runs as btmirror" test \
		"$(ps -o user= -p "$(systemctl show -P MainPID btmirror-tracker.service)")" = btmirror
	cp "$MIRROR/payload.bin.torrent" /var/lib/btmirror/tracker/allowed/
	check "tracker unit: reload" systemctl reload btmirror-tracker.service
	check "tracker unit: stats page lists the allowed torrent" \
		wait_for 10 bash -c "$(declare -f http_get); http_get /stats.json | grep -q payload.bin"
	check "tracker unit: stop, exit status 0" bash -c 'systemctl stop btmirror-tracker.service &&
		[ "$(systemctl show -P Result btmirror-tracker.service)" = success ]'
}

phase_purge() {
	if dpkg -P btmirror >/root/dpkg-purge.log 2>&1; then pass "dpkg -P"; else
		fail "dpkg -P" "$(tail -n 5 /root/dpkg-purge.log)"
	fi
	systemctl daemon-reload
	check "no daemon process left (user btmirror)" bash -c '! pgrep -u btmirror'
	check "no unit file left" bash -c '! find /etc/systemd /lib/systemd /usr/lib/systemd -name "btmirror*" | grep .'
	check "systemd knows no btmirror unit" bash -c \
		'! systemctl list-unit-files --no-legend "btmirror*" | grep . && ! systemctl list-units --all --no-legend "btmirror*" | grep -v not-found | grep .'
	check "no /etc/btmirror, /etc/default/btmirror, /etc/init.d/btmirror" bash -c \
		'! ls -d /etc/btmirror /etc/default/btmirror /etc/init.d/btmirror /etc/rc?.d/*btmirror 2>/dev/null | grep .'
	check "state removed (resume, lock, socket, logs)" bash -c \
		'! ls -d /var/lib/btmirror/resume /var/lib/btmirror/lock /var/lib/btmirror/control.sock /var/lib/btmirror/srv-iso /var/log/btmirror 2>/dev/null | grep .'
	check "mirrored data kept" test -f "$MIRROR/payload.bin" -a -f "$MIRROR/payload.bin.torrent" -a -f /srv/iso/small.iso
}

phase_install && phase_seed && phase_reload
active btmirror.service && phase_watchdog
active btmirror.service && phase_stop
phase_template
phase_user_unit
phase_tracker_unit
phase_purge
systemctl stop bt-tracker 2>/dev/null
journalctl -b --no-pager >/root/journal.txt 2>&1
echo DONE >>"$RESULTS"
systemctl poweroff
