#!/bin/sh
# /sbin/init of the live-tree test root (e2e TestLiveTree), in front of
# the standard one. A probe re-opens (or execs) each path every second
# and prints "SIDUS-LIVE: NAME VALUE uptime=U" when what it reads changes
# (errors included, folded on one line), while the test changes the tree
# on the server.
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
[ -r /proc/uptime ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
say() { echo "SIDUS-LIVE: $*"; }
up() { read -r u _ </proc/uptime; echo "$u"; }
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}"; return ;; esac; done; }
L=/usr/lib/sidus-live
mode=$(arg sidus.test.live)

# The node's own copy of a file of the tree: copied up into /rw.
echo node-own >/etc/sidus-live/mine
# A daemon run from a binary of the tree that the test replaces.
/usr/sbin/busybox-daemon sleep 100000 &
dpid=$!
say "daemon pid=$dpid"

probe() {
	case "$1" in
	renamed|inplace|gone) cat $L/$1 ;;
	new) cat $L/newdir/new ;;
	new2) cat $L/known/new2 ;;
	gonedir) cat $L/gonedir/x ;;
	link|link2) echo "$(readlink $L/$1)=$(cat $L/$1)" ;;
	tree) cat $L/tree/a/b ;;
	conf) cat /etc/sidus-live/conf ;;
	mine) cat /etc/sidus-live/mine ;;
	daemon) /usr/sbin/busybox-daemon echo daemon-v1 ;;
	alive) kill -0 "$dpid" && echo yes ;;
	esac
}
names="renamed inplace new new2 gone gonedir link link2 tree conf mine daemon alive"
# bigread: once the tree has go-read, read big 1 MiB a second from one
# open file (the test stops the NFS server meanwhile), then its checksum.
bigread() {
	until [ -e $L/go-read ]; do sleep 1; done
	say "bigread start uptime=$(up)"
	exec 3<$L/big
	n=0
	while [ $n -lt 48 ]; do
		dd bs=1M count=1 <&3 2>/dev/null
		n=$((n + 1))
		sleep 1
	done | sha256sum | {
		read -r s _
		say "bigread done sha=$s uptime=$(up)"
	}
}
# rest: NFS calls per minute while idle, with the agent, then with the
# agent stopped (SIGSTOP) for the same time.
rpc() { awk '/^proc3 |^proc4 /{for (i = 3; i <= NF; i++) s += $i} END {print s + 0}' /proc/net/rpc/nfs; }
if [ "$mode" = rest ]; then
	(
		secs=$(arg sidus.test.rest)
		secs=${secs:-60}
		sleep 5
		a=$(rpc); sleep "$secs"; b=$(rpc)
		agent=$(cat /run/sidus/agent.pid 2>/dev/null)
		kill -STOP "$agent" 2>/dev/null
		c=$(rpc); sleep "$secs"; d=$(rpc)
		kill -CONT "$agent" 2>/dev/null
		say "rest seconds=$secs calls-with-agent=$((b - a)) calls-agent-stopped=$((d - c))"
		bigread
	) &
fi

[ "$mode" = rest ] || bigread &
if [ "$mode" = probe ] || [ "$mode" = all ]; then
	for n in $names; do eval "last_$n=''"; done
	(
		ready=
		while :; do
			for n in $names; do
				v=$(probe $n 2>&1 | tr '\n' ' ' | sed 's/ *$//')
				[ -n "$v" ] || v='<empty>'
				eval "old=\$last_$n"
				if [ "$v" != "$old" ]; then
					say "$n $v uptime=$(up)"
					eval "last_$n=\$v"
				fi
			done
			[ -n "$ready" ] || { say "probe ready uptime=$(up)"; ready=1; }
			# A heartbeat every 10 rounds: the test checks the probe
			# still runs at the end.
			round=$((${round:-0} + 1))
			[ $((round % 10)) -ne 0 ] || say "probe alive uptime=$(up)"
			sleep 1
		done
	) &
fi
exec /sbin/init.sidus-test
