package initramfs

import (
	"errors"
	"io/fs"
	"net"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/iscsi"
	"github.com/sidus-go/sidus/netconf"
)

// readIBFT reads /sys/firmware/ibft once (loading iscsi_ibft first), for
// rd.iscsi.ibft / ip=ibft (the NIC) and rd.iscsi.firmware / iscsi_auto
// (the targets). Without a table it logs why and returns nil: the boot
// goes on with the command line's configuration.
func (b *booter) readIBFT() *iscsi.IBFT {
	if b.ibftRead {
		return b.ibft
	}
	b.ibftRead = true
	b.loadModules(nil, kmod.GroupNet)
	t, err := iscsi.ReadIBFT(b.sys.DirFS(iscsi.IBFTDir))
	if err != nil {
		why := "check that the firmware (BIOS/UEFI iSCSI boot) publishes an iBFT and that iscsi_ibft is packed (sidus-mkinitramfs -m iscsi_ibft)"
		if !errors.Is(err, fs.ErrNotExist) {
			why = "fix the firmware's iSCSI boot settings"
		}
		b.log.Printf("warning: iBFT: %v; %s; the boot goes on without it", err, why)
		return nil
	}
	b.log.Printf("iBFT: initiator %s, %d target(s), %d NIC(s)", t.Initiator, len(t.Targets), len(t.NICs))
	b.ibft = t
	return t
}

// ibftNetwork returns the iBFT's boot NIC when the command line gives no
// ip= and asks for the iBFT's (rd.iscsi.ibft, ip=ibft, iscsi_auto), and
// makes its MAC the boot NIC's: the NIC of the first target, else the
// first NIC.
func (b *booter) ibftNetwork() *iscsi.IBFTNIC {
	if b.cfg.IP.Mode != cmdline.IPIBFT {
		return nil
	}
	t := b.readIBFT()
	if t == nil || len(t.NICs) == 0 {
		if t != nil {
			b.log.Printf("warning: rd.iscsi.ibft: the iBFT describes no NIC; DHCP on the usual boot NIC")
		}
		return nil
	}
	nic := t.NICs[0]
	if len(t.Targets) > 0 {
		for _, n := range t.NICs {
			if n.Index == t.Targets[0].NICIndex {
				nic = n
				break
			}
		}
	}
	if nic.VLAN != 0 {
		b.log.Printf("warning: iBFT ethernet%d is on VLAN %d: add vlan=<name>:<nic> and ip=<name>:dhcp to boot over it", nic.Index, nic.VLAN)
	}
	if b.cfg.IP.Device == "" && b.cfg.BootIF == nil {
		b.ibftMAC = nic.MAC
	}
	return &nic
}

// ibftLease is the static configuration of an iBFT NIC, or nil and DHCP
// when the firmware got its address from DHCP (or has an IPv6 one, which
// this init does not configure).
func ibftLease(dev string, nic *iscsi.IBFTNIC) (*Lease, cmdline.IPMode) {
	ip4 := nic.IP.To4()
	if nic.DHCP || ip4 == nil {
		return nil, cmdline.IPDHCP
	}
	mask := ip4.DefaultMask()
	if nic.PrefixLen >= 0 && nic.PrefixLen <= 32 {
		mask = net.CIDRMask(nic.PrefixLen, 32)
	}
	var dns []net.IP
	for _, d := range nic.DNS {
		if d4 := d.To4(); d4 != nil {
			dns = append(dns, d4)
		}
	}
	return &Lease{
		Config: netconf.Config{Device: dev, IP: ip4, Netmask: mask, Gateway: nic.Gateway.To4(), DNS: dns, Hostname: nic.Hostname},
		Proto:  "none",
	}, cmdline.IPStatic
}
