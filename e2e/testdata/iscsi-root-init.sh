#!/bin/sh
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
[ -r /proc/uptime ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
say() { echo "SIDUS-ITEST: $*"; }
act=
for w in $(cat /proc/cmdline); do
	case "$w" in sidus.test.iscsi=*) act="${w#sidus.test.iscsi=}" ;; esac
done
for s in /sys/class/iscsi_session/session*; do
	[ -d "$s" ] || continue
	say "session $(basename $s) state=$(cat $s/state 2>/dev/null) target=$(cat $s/targetname 2>/dev/null)"
done
for a in $(echo "$act" | tr , ' '); do
	case "$a" in
	write500)
		mkdir -p /data
		i=0
		while [ $i -lt 500 ]; do echo "sidus-file-$i" >/data/f$i; i=$((i+1)); done
		sync
		say "write500 done files=$(ls /data | grep -c '^f')"
		;;
	check500)
		ok=0 bad=0 i=0
		while [ $i -lt 500 ]; do
			if [ "$(cat /data/f$i 2>/dev/null)" = "sidus-file-$i" ]; then ok=$((ok+1)); else bad=$((bad+1)); fi
			i=$((i+1))
		done
		say "check500 ok=$ok bad=$bad"
		;;
	powercut)
		mkdir -p /data
		echo "synced-before-power-cut" >/data/powercut
		sync
		say "powercut synced"
		;;
	checkcut)
		say "checkcut $(cat /data/powercut 2>/dev/null || echo '<missing>')"
		;;
	writeload)
		# Numbered files, each fsync'ed, without pause, for
		# sidus.test.load=SECONDS (default 60): write number i goes to
		# slot i % 4000 (the LUN is small), then the count is stored.
		secs=60
		for w in $(cat /proc/cmdline); do
			case "$w" in sidus.test.load=*) secs="${w#sidus.test.load=}" ;; esac
		done
		rm -rf /data/load
		mkdir -p /data/load
		sync
		read -r t0 _ </proc/uptime
		t0=${t0%.*}
		end=$((t0 + secs))
		i=0 errs=0 now=$t0
		say "writeload start uptime=$t0"
		while [ "$now" -lt "$end" ]; do
			if echo "load-$i" | dd of=/data/load/w$((i % 4000)) conv=fsync 2>/dev/null; then
				i=$((i+1))
				echo "$i" >/run/sidus-wl
			else
				errs=$((errs+1))
				say "writeload error at $i"
			fi
			read -r now _ </proc/uptime
			now=${now%.*}
			[ $((i % 20)) -eq 0 ] && say "writeload wrote=$i uptime=$now"
		done
		echo done >/run/sidus-wl
		echo "$i" | dd of=/data/load/count conv=fsync 2>/dev/null
		sync
		say "writeload done files=$i errors=$errs"
		;;
	stallwatch)
		# In the background: when writeload has made no progress for
		# 55 s (longer than a target restart), print what the session, the agent and the blocked
		# tasks are doing (once per stall).
		(
			last= same=0 dumped=
			while :; do
				sleep 5
				cur=$(cat /run/sidus-wl 2>/dev/null)
				[ "$cur" = done ] && exit 0
				if [ "$cur" = "$last" ]; then same=$((same+5)); else same=0 dumped=; fi
				last=$cur
				[ $same -ge 55 ] && [ -z "$dumped" ] || continue
				dumped=1
				say "stallwatch: no write for 55 s at $cur"
				for s in /sys/class/iscsi_session/session* /sys/class/iscsi_connection/connection*; do
					say "stallwatch: $(basename $s) state=$(cat $s/state 2>/dev/null)"
				done
				for d in /sys/block/sd*/device; do say "stallwatch: $d state=$(cat $d/state) busy=$(cat $d/device_busy 2>/dev/null)"; done
				pid=$(cat /run/sidus/agent.pid 2>/dev/null)
				say "stallwatch: agent $pid $(grep State /proc/$pid/status 2>/dev/null)"
				for t in /proc/$pid/task/*; do
					say "stallwatch: agent task ${t##*/} $(cat $t/stat | cut -d' ' -f3) wchan=$(cat $t/wchan 2>/dev/null) $(cat $t/stack 2>/dev/null | tr '\n' ' ')"
				done
				echo w >/proc/sysrq-trigger
				dmesg | tail -n 120 | while read -r l; do say "stallwatch: dmesg $l"; done
				kill -QUIT "$pid"
			done
		) &
		;;
	agentstatus)
		if [ -x /run/sidus/sidus-agent ]; then
			/run/sidus/sidus-agent status 2>&1 | while read -r l; do say "agent $l"; done
		else
			say "agent none"
		fi
		;;
	checkload)
		# Each slot holds the last write made to it.
		n=$(cat /data/load/count 2>/dev/null || echo 0)
		ok=0 bad=0 k=0
		while [ $k -lt 4000 ] && [ $k -lt "$n" ]; do
			i=$((n - 1 - (n - 1 - k) % 4000))
			if [ "$(cat /data/load/w$k 2>/dev/null)" = "load-$i" ]; then ok=$((ok+1)); else bad=$((bad+1)); fi
			k=$((k+1))
		done
		say "checkload files=$n ok=$ok bad=$bad"
		;;
	esac
done
say "mounts $(grep -E ' /(rw|ro)? ' /proc/mounts | tr '\n' ';')"
exec /sbin/init.sidus-test
