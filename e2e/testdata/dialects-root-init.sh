#!/bin/sh
# /sbin/init of the dialects tests' root (e2e/dialects_test.go), in front
# of the standard test root's (init.sidus-test). sidus.test.dialect=A[,A]
# runs these before it, with "SIDUS-DTEST: " lines:
#
#   writemark  write sidus.test.mark=VALUE to /sidus-dialect-mark, sync:
#              "writemark done"
#   checkmark  "mark <content of /sidus-dialect-mark>|<missing>"
#   watch      sidus.test.watch=N rounds, 2 s apart: drop the page cache,
#              read /ro/bin/busybox over NFS: "watch n=I active=<bond0's
#              active slave>|- ok|fail"
#   iscsi      each iSCSI session: "session <name> state=<state>
#              target=<iqn> block=<disks>"; the device of /rw: "rw-dev <dev>"
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
[ -r /proc/uptime ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
say() { echo "SIDUS-DTEST: $*"; }
arg() {
	for w in $(cat /proc/cmdline); do
		case "$w" in "$1"=*) echo "${w#$1=}" ;; esac
	done
}
for a in $(arg sidus.test.dialect | tr , ' '); do
	case "$a" in
	writemark)
		arg sidus.test.mark >/sidus-dialect-mark
		sync
		say "writemark done"
		;;
	checkmark)
		say "mark $(cat /sidus-dialect-mark 2>/dev/null || echo '<missing>')"
		;;
	watch)
		n=$(arg sidus.test.watch)
		i=0
		while [ "$i" -lt "${n:-30}" ]; do
			echo 3 >/proc/sys/vm/drop_caches
			active=$(cat /sys/class/net/bond0/bonding/active_slave 2>/dev/null)
			if md5sum /ro/bin/busybox >/dev/null 2>&1; then r=ok; else r=fail; fi
			say "watch n=$i active=${active:--} $r"
			i=$((i + 1))
			sleep 2
		done
		;;
	iscsi)
		for s in /sys/class/iscsi_session/session*; do
			[ -d "$s" ] || continue
			blocks=$(ls -d "$s"/device/target*/*/block/* 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')
			say "session $(basename "$s") state=$(cat "$s/state" 2>/dev/null) target=$(cat "$s/targetname" 2>/dev/null) block=$blocks"
		done
		say "rw-dev $(awk '$2 == "/rw" { d = $1 } END { print d }' /proc/mounts)"
		;;
	esac
done
exec /sbin/init.sidus-test "$@"
