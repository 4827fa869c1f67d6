#!/bin/sh
case "$1" in
bound|renew)
	ip addr add "$ip/$mask" dev "$interface"
	{ echo "ip=$ip"; echo "rootpath=$rootpath"; echo "hostname=$hostname"; } >/tmp/dhcp
	;;
esac
