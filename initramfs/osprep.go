package initramfs

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The booted OS runs on an NFS root through the boot NIC, so nothing in it
// may reconfigure that NIC, and the per-node facts from DHCP must reach it.
// prepareRoot writes them into the union (so into the node's rw layer; the
// shared tree is read-only and never written) and under /run, which
// switch_root carries over. Each part can be turned off with sidus.KEY=off.

func (b *booter) prepareRoot(root string) []string {
	var written []string
	write := func(p, data string) {
		if err := b.sys.MkdirAll(filepath.Dir(p)); err != nil {
			b.log.Printf("warning: mkdir %s: %v", filepath.Dir(p), err)
			return
		}
		// A symlink (e.g. resolv.conf -> /run/...) is replaced, not followed.
		_ = b.sys.Remove(p)
		if err := b.sys.WriteFile(p, []byte(data), 0o644); err != nil {
			b.log.Printf("warning: write %s: %v", p, err)
			return
		}
		written = append(written, strings.TrimPrefix(p, root))
	}
	l := b.res.Lease
	if l != nil && l.Hostname != "" && b.cfg.On("hostname") {
		write(root+"/etc/hostname", l.Hostname+"\n")
	}
	if l != nil && len(l.DNS) > 0 && b.cfg.On("resolv") {
		write(root+"/etc/resolv.conf", resolvConf(l))
	}
	if b.cfg.On("fstab") {
		if data, err := b.sys.ReadFile(root + "/etc/fstab"); err == nil {
			if f, changed := FilterFstab(string(data)); changed {
				write(root+"/etc/fstab", f)
			}
		}
	}
	if l != nil && b.cfg.On("netprotect") {
		// The boot NIC, or the bond or VLAN and every interface under it
		// (the bond's slaves, the VLAN's parent): any of them taken down or
		// re-addressed cuts the root.
		devs := b.netStack
		if len(devs) == 0 || devs[0] != l.Device {
			devs = []string{l.Device}
		}
		dev := l.Device
		for _, d := range devs {
			what := d + " carries the NFS root"
			if d != dev {
				what = d + " is under " + dev + ", which carries the NFS root"
			}
			// systemd-networkd: leave the boot NIC alone (systemd #21967).
			write("/run/systemd/network/10-sidus-"+d+".network",
				fmt.Sprintf("# Written by sidus-init: %s.\n[Match]\nName=%s\n\n[Link]\nUnmanaged=yes\n", what, d))
			// ifupdown: the NIC is configured already; "manual" keeps ifup and
			// ifdown (and so shutdown) from touching its address.
			write(root+"/etc/network/interfaces.d/sidus-"+d,
				fmt.Sprintf("# Written by sidus-init: %s.\niface %s inet manual\n", what, d))
		}
		// NetworkManager reads /run/NetworkManager/conf.d; one file, as a
		// later file's unmanaged-devices= would replace an earlier one's.
		var match []string
		for _, d := range devs {
			match = append(match, "interface-name:"+d)
		}
		write("/run/NetworkManager/conf.d/sidus-"+dev+".conf",
			fmt.Sprintf("# Written by sidus-init: %s carries the NFS root.\n[keyfile]\nunmanaged-devices=%s\n", strings.Join(devs, ", "), strings.Join(match, ";")))
	}
	return written
}

// FilterFstab drops the lines for / and swap from an fstab: the root is
// the union, and a diskless node has no swap device of the shared tree's.
func FilterFstab(in string) (string, bool) {
	var out []string
	changed := false
	for _, line := range strings.SplitAfter(in, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && !strings.HasPrefix(f[0], "#") && (f[1] == "/" || f[2] == "swap") {
			out = append(out, "# sidus-init: "+line)
			changed = true
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, ""), changed
}
