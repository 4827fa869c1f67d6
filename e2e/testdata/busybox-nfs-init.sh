#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /modules); do insmod "$m" || echo "SMOKE-FAIL insmod $m"; done
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 20 -T 1 -O rootpath -s /dhcp.sh || echo SMOKE-FAIL dhcp
. /tmp/dhcp
echo "SMOKE-DHCP ip=$ip rootpath=$rootpath hostname=$hostname"
server=${rootpath%%:*}
mkdir -p /ro /rw /newroot
mount -t nfs4 -o ro,vers=4.1,addr=$server,clientaddr=$ip "$rootpath" /ro || echo SMOKE-FAIL nfs
mount -t tmpfs tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot || echo SMOKE-FAIL overlay
[ -n "$hostname" ] && hostname "$hostname"
for d in ro rw proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /sbin/init
