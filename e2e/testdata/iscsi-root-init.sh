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
	esac
done
say "mounts $(grep -E ' /(rw|ro)? ' /proc/mounts | tr '\n' ';')"
exec /sbin/init.sidus-test
