#!/bin/bash
# Runs inside the sysvinit-booted test container (an /etc/inittab "once" entry for runlevel 2,
# after rc 2), then halts. The package was installed before the boot, so rc 2 started it.
# Checks the init script (start at boot, status, reload, restart, stop by pid file only) and a
# plain user's `nohup btmirror run` whose tmux session is killed. The host checks rc 0.
set -u
. /usr/local/lib/btmirror-selftest/common.sh

MIRROR=/var/lib/btmirror/mirror
STATE=/var/lib/btmirror
PIDFILE=/run/btmirror.pid
LOG=/var/log/btmirror/btmirror.log
daemon_pid() { cat "$PIDFILE" 2>/dev/null; }
running() { local p; p=$(daemon_pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
user_of() { ps -o user= -p "$1" | tr -d ' '; }

phase_boot() {
	check "runlevel 2" bash -c 'runlevel | grep -q " 2$"'
	check "rc2.d link" bash -c 'ls /etc/rc2.d/S*btmirror'
	check "rc0.d and rc6.d kill links" bash -c 'ls /etc/rc0.d/K*btmirror /etc/rc6.d/K*btmirror'
	if running; then pass "started at boot by rc 2 (pid file $PIDFILE)"; else
		fail "started at boot by rc 2" "$(tail -n 5 "$LOG" 2>&1)"
		return 1
	fi
	check "runs as user btmirror" test "$(user_of "$(daemon_pid)")" = btmirror
	check "service btmirror status" service btmirror status
	check "btmirror status answers (as root)" btmirror status
	check "logs go to $LOG" grep -q "running" "$LOG"
}

phase_seed() {
	setsid nohup btmirror tracker --listen 127.0.0.1:6969 >/root/tracker.log 2>&1 &
	wait_for 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6969' || note "tracker did not come up"
	make_payload "$MIRROR" payload.bin 4 || fail "make a torrent" "btmirror make failed"
	check "the init-script daemon seeds a dropped torrent" wait_for 60 status_has "$STATE" payload.bin seeding
	if out=$(fetch "$MIRROR/payload.bin.torrent" /root/dl 2>&1) && cmp -s "$MIRROR/payload.bin" /root/dl/payload.bin; then
		pass "btmirror get --no-seed downloaded it"
	else
		fail "btmirror get --no-seed downloaded it" "$(printf '%s' "$out" | tail -n 4)"
	fi
}

phase_reload_restart() {
	local pid before
	pid=$(daemon_pid)
	before=$(grep -c "SIGHUP" "$LOG")
	check "service btmirror reload" service btmirror reload
	check "reload: same pid, still running" bash -c "sleep 1; [ \"\$(cat $PIDFILE)\" = $pid ] && kill -0 $pid"
	check "reload: the daemon logged it" wait_for 10 bash -c "[ \$(grep -c SIGHUP $LOG) -gt $before ]"
	check "service btmirror restart" service btmirror restart
	check "restart: a new pid, running" bash -c "p=\$(cat $PIDFILE) && [ \"\$p\" != $pid ] && kill -0 \"\$p\""
	check "restart: the old process is gone" bash -c "! kill -0 $pid 2>/dev/null"
	check "restart: seeding again" wait_for 60 status_has "$STATE" payload.bin seeding
	check "start while running: no second daemon" bash -c \
		"service btmirror start && [ \$(pgrep -u btmirror -x btmirror | wc -l) = 1 ]"
}

# A plain user starts `nohup btmirror run ~/mirror &` in a tmux shell, then the terminal goes.
phase_nohup_start() {
	useradd -m -s /bin/bash alice
	runuser -l alice -c 'mkdir -p ~/mirror'
	make_payload /home/alice/mirror user.bin 2
	chown -R alice:alice /home/alice/mirror
	runuser -l alice -c 'tmux new-session -d -s mirror -x 120 -y 30 bash -i'
	runuser -l alice -c "tmux send-keys -t mirror 'nohup btmirror run ~/mirror --port 0 &' Enter"
	if wait_for 20 test -S /home/alice/.local/state/btmirror/control.sock; then
		pass "nohup: plain user's daemon started (state in ~/.local/state/btmirror)"
	else
		fail "nohup: plain user's daemon started" "$(cat /home/alice/nohup.out 2>&1 | tail -n 5)"
		return 1
	fi
	USER_PID=$(head -n 1 /home/alice/.local/state/btmirror/lock)
	check "nohup: runs as alice" test "$(user_of "$USER_PID")" = alice
	runuser -l alice -c 'tmux kill-server'
	sleep 2
	check "nohup: survives the tmux session being killed" kill -0 "$USER_PID"
	check "nohup: reparented away from the terminal" bash -c "[ \"\$(ps -o tty= -p $USER_PID | tr -d ' ')\" = '?' ] || ps -o ppid= -p $USER_PID | grep -qw 1"
	check "nohup: btmirror status answers (as alice)" runuser -l alice -c 'btmirror status'
	check "nohup: seeds its torrent" wait_for 60 status_has /home/alice/.local/state/btmirror user.bin seeding
	if out=$(fetch /home/alice/mirror/user.bin.torrent /root/dl-user 2>&1) && cmp -s /home/alice/mirror/user.bin /root/dl-user/user.bin; then
		pass "nohup: a client downloads from it after the terminal is gone"
	else
		fail "nohup: a client downloads from it after the terminal is gone" "$(printf '%s' "$out" | tail -n 4)"
	fi
}

phase_stop() {
	local pid t0 ms
	pid=$(daemon_pid)
	t0=$(date +%s%N)
	check "service btmirror stop" service btmirror stop
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "$ms" -lt 10000 ]; then pass "stop took $ms ms"; else fail "stop is quick" "took $ms ms"; fi
	check "stop: process gone, pid file removed" bash -c "! kill -0 $pid 2>/dev/null && [ ! -e $PIDFILE ]"
	check "stop: clean shutdown logged" bash -c "tail -n 5 $LOG | grep -q stopped"
	check "stop: status reports not running" bash -c '! service btmirror status'
	if [ -n "${USER_PID:-}" ]; then
		check "stop: a user's own btmirror is left alone (pid file only)" kill -0 "$USER_PID"
	fi
	check "stop when stopped succeeds" service btmirror stop
	check "service btmirror start" service btmirror start
	check "start: running again" running
}

# logrotate's rule (copytruncate as user btmirror): the rotated file holds the old lines, the
# daemon keeps appending to the truncated log from its start (O_APPEND: no hole of NULs).
phase_logrotate() {
	check "logrotate -f /etc/logrotate.d/btmirror" logrotate -f /etc/logrotate.d/btmirror
	check "logrotate: the old log moved to btmirror.log.1" grep -q running "$LOG.1"
	service btmirror reload >/dev/null
	check "logrotate: the daemon writes on into the truncated log" wait_for 10 grep -q SIGHUP "$LOG"
	check "logrotate: no hole of NUL bytes at the start" bash -c "[ \"\$(head -c 1 $LOG | od -An -tx1 | tr -d ' ')\" != 00 ]"
}

phase_nohup_end() {
	[ -n "${USER_PID:-}" ] || return 0
	local t0=$SECONDS
	kill -TERM "$USER_PID"
	if wait_for 15 bash -c "! kill -0 $USER_PID 2>/dev/null"; then
		pass "nohup: SIGTERM ends it in $((SECONDS - t0)) s"
	else
		fail "nohup: SIGTERM ends it" "still running after 15 s"
	fi
	check "nohup: clean shutdown in nohup.out" bash -c 'tail -n 5 /home/alice/nohup.out | grep -q stopped'
	check "nohup: the hangup arrived as a reload" grep -q SIGHUP /home/alice/nohup.out
}

# dpkg -i over the running package (an upgrade replaces /usr/bin/btmirror under the daemon):
# postinst restarts it through the init script, which finds it by pid file, name and user.
phase_reinstall() {
	local pid
	pid=$(daemon_pid)
	if dpkg -i /root/btmirror.deb >/root/dpkg-reinstall.log 2>&1; then pass "dpkg -i over the running package"; else
		fail "dpkg -i over the running package" "$(tail -n 5 /root/dpkg-reinstall.log)"
	fi
	check "reinstall: the daemon was restarted (new pid)" bash -c "p=\$(cat $PIDFILE) && [ \"\$p\" != $pid ] && kill -0 \"\$p\""
	check "reinstall: exactly one system daemon" test "$(pgrep -u btmirror -x btmirror | wc -l)" = 1
}

if phase_boot; then
	phase_seed
	phase_reload_restart
	phase_reinstall
	phase_nohup_start
	phase_stop
	phase_logrotate
	phase_nohup_end
fi
echo DONE >>"$RESULTS"
# rc 0 must stop the daemon; the host checks the init script's log of calls afterwards
halt
