#!/bin/sh
# /sbin/init of the SIDUS-Go test root (qemu.TestRoot installs it).
#
# It reports what the booted node sees as machine-readable console lines,
# all starting with "SIDUS-ROOT: ", which the end-to-end tests match:
#
#   SIDUS-ROOT: init-started uptime=<seconds> pid=<pid>
#   SIDUS-ROOT: uname <release>
#   SIDUS-ROOT: cmdline <kernel command line>
#   SIDUS-ROOT: mount <mountpoint> <fstype> <options>     for /, /ro, /rw ("none -" if absent)
#   SIDUS-ROOT: write <dir> ok|fail                        for / and /ro
#   SIDUS-ROOT: hostname <name>
#   SIDUS-ROOT: addr <dev> <cidr>                          each IPv4 address but lo's
#   SIDUS-ROOT: net <file> <line>                          each line of /run/net-*.conf
#   SIDUS-ROOT: file <path> <content, newlines as \n>|<missing>
#                 for each path in /etc/sidus-test/report and in sidus.test.report=a,b
#   SIDUS-ROOT: done uptime=<seconds>
#
# Then it powers off, unless the kernel command line has sidus.test=hold
# (stay up, e.g. while a test looks at the NFS or iSCSI server) or
# sidus.test=shell (a shell on the console, for make demo).
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

[ -r /proc/uptime ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -c /dev/console ] || mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1

say() { echo "SIDUS-ROOT: $*"; }
uptime() { read -r up _ </proc/uptime; echo "$up"; }

say "init-started uptime=$(uptime) pid=$$"
say "uname $(uname -r)"
cmdline=$(cat /proc/cmdline)
say "cmdline $cmdline"

for m in / /ro /rw; do
	# The last line for a mount point is the one on top.
	l=$(awk -v m="$m" '$2 == m { l = $3 " " $4 } END { print l }' /proc/mounts)
	say "mount $m ${l:-none -}"
done

for d in / /ro; do
	f="$d/.sidus-write-test.$$"
	if (echo x >"$f") 2>/dev/null; then
		rm -f "$f"
		say "write $d ok"
	else
		say "write $d fail"
	fi
done

say "hostname $(hostname)"
ip -4 -o addr show 2>/dev/null | while read -r _ dev _ cidr _; do
	[ "$dev" = lo ] || say "addr $dev $cidr"
done

for f in /run/net-*.conf; do
	[ -f "$f" ] || continue
	while IFS= read -r line || [ -n "$line" ]; do
		say "net $f $line"
	done <"$f"
done

report() {
	if [ -f "$1" ]; then
		say "file $1 $(sed ':a;N;$!ba;s/\n/\\n/g' "$1")"
	else
		say "file $1 <missing>"
	fi
}
if [ -f /etc/sidus-test/report ]; then
	while read -r p; do
		[ -n "$p" ] && report "$p"
	done </etc/sidus-test/report
fi
for w in $cmdline; do
	case "$w" in
	sidus.test.report=*)
		for p in $(echo "${w#sidus.test.report=}" | tr , ' '); do report "$p"; done
		;;
	esac
done

case " $cmdline " in
*" sidus.test=hold "*)
	say "hold uptime=$(uptime)"
	while :; do sleep 3600; done
	;;
*" sidus.test=shell "*)
	say "shell uptime=$(uptime)"
	while :; do setsid cttyhack sh -l; done
	;;
esac

say "done uptime=$(uptime)"
sync
poweroff -f
while :; do sleep 3600; done
