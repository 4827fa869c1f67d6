// Package initramfs is the SIDUS boot sequence: what /init does between the
// kernel and the shared root's /sbin/init. Boot runs it on a System, the
// seam to the kernel, from the Config package cmdline parses; Main wires
// the real ones and never returns.
package initramfs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/iscsi"
	"github.com/sidus-go/sidus/overlay"
)

// Result is what Boot found out on the way; it feeds the boot report.
type Result struct {
	Lease *Lease
	// NFSServer is the server whose export is mounted at /ro (its address).
	NFSServer string
	// NFSServers is the list of servers the node chose from, in the order
	// named (nil with one server).
	NFSServers []string
	NFSPath    string
	NFSVersion string
	NFSOptions string
	Upper      cmdline.UpperKind
	UpperDev   string
	Union      string   // union mount data
	Shared     []string // directories shared from the tree (sidus.shared)
	Modules    int
	// Extra are the interfaces of the other ip= that the network stage
	// configured (not the boot interface), in ip= order.
	Extra []ExtraLink
	// Lower is the kind of shared root mounted at /ro (the NFS export
	// by default); the NFS fields above are the export's, also under
	// sidus.image= (which mounts it at ExportDir).
	Lower cmdline.LowerKind
	// LowerSource is what is at /ro: server:path for the NFS export, the
	// image file (under ExportDir), the RBD snapshot (rbd.Spec.String:
	// no secret) or the CephFS source (MONS:/PATH).
	LowerSource string
	// LowerDev is the image's loop device or the RBD device; "" for NFS
	// and CephFS.
	LowerDev string
	// VerityDev is LowerDev's dm-verity device, the one mounted at /ro;
	// "" without sidus.verity=.
	VerityDev string
	// LowerFSType is the filesystem at /ro: nfs, ceph, or the image's
	// (squashfs, erofs, ext4).
	LowerFSType string
}

// Boot brings the node from the initramfs into the shared root. The steps,
// each a logged and timed stage (break=STAGE stops before it):
//   - modules: load the packed kernel modules, dependencies first;
//   - network: rename the NICs of ifname=, pick the boot NIC (BOOTIF=, the
//     ip= device, eth0, or the first link with carrier), set its ip= MAC
//     and MTU and configure it from DHCP or the static ip=, then the
//     interfaces of the other ip= (their failures are warnings);
//   - nfs: mount the shared tree read-only at /ro, retrying until the server
//     answers (rootaufs steps 1 and 2); of several servers (nfsroot=a,b:/path)
//     the node tries first the one its MAC hashes to (ServerOrder), and
//     moves on to the next when one is unreachable. Or another shared root
//     (Config.Lower, lower.go): with sidus.image= the export is mounted at
//     ExportDir and the image file on it, on a loop device, at /ro; with
//     root=rbd: the RBD snapshot; with root=cephfs: the CephFS directory
//     (the cephx key from the initramfs's keyring); an image or RBD
//     device is checked with dm-verity first when sidus.verity= asks;
//   - premount: mount the writable layer at /rw, a tmpfs or the iSCSI LUN
//     labelled root=LABEL= (rootaufs step 3);
//   - union: stack /ro and /rw at /aufs with overlayfs (aufs if that is all
//     the kernel has) and move /ro and /rw under it (rootaufs step 4);
//   - init: move /dev, /proc, /sys and /run into /aufs, free the initramfs,
//     chroot and exec init= with the kernel's arguments for /init
//     (rootaufs step 5).
//
// Every side effect goes through sys and h, the iSCSI stage's through
// opts.ISCSI and the other shared roots' through opts.Image. Boot returns
// only on error.
func Boot(ctx context.Context, cfg *cmdline.Config, sys System, h Handover, log *Logger, opts Options) (*Result, error) {
	b := &booter{ctx: ctx, cfg: cfg, sys: sys, h: h, log: log, iscsi: opts.ISCSI, disk: opts.Disk, image: opts.Image, bg: opts.Background,
		res: &Result{Upper: cfg.Upper, Lower: lowerKind(cfg)}}
	for _, w := range slices.Concat(cfg.Warnings, notYet(cfg), lowerWarnings(cfg)) {
		log.Printf("warning: %s", w)
	}
	for _, s := range b.steps() {
		if cfg.Break == s.stage || slices.Contains(cfg.Breaks, s.stage) {
			if err := h.Shell("break=" + s.stage); err != nil {
				log.Printf("break=%s: %v; continuing", s.stage, err)
			}
		}
		if err := log.Stage(s.stage, s.run); err != nil {
			return b.res, err
		}
	}
	return b.res, errors.New("init returned")
}

// Options are Boot's seams beyond System and Handover.
type Options struct {
	// ISCSI is the aufs=iscsi writable layer (DefaultISCSI for the real
	// one). With a field unset, aufs=iscsi fails in premount.
	ISCSI ISCSIStage
	// Disk is the overlayroot=device: writable layer (DefaultDisk for the
	// real one). With Probe unset, overlayroot=device: fails in premount.
	Disk DiskStage
	// Image is the shared roots other than the NFS export: root=rbd:,
	// root=cephfs:, sidus.image= (DefaultImage for the real one). With a
	// field they need unset, they fail in the nfs stage.
	Image ImageStage
	// Background runs f beside the boot (Main: a goroutine): the modules
	// stage loads the NFS client and overlayfs (kmod.GroupRoot) that way
	// while the network stage waits for DHCP. Nil runs f at once, in
	// order (the unit tests' boot sequence stays one line of calls).
	Background func(f func())
}

type step struct {
	stage string // a cmdline.BreakStages name
	run   func() error
}

// steps is Boot's table, in order; the stage names are the break= names
// (TestBootRunsBreakStages checks them against cmdline.BreakStages).
func (b *booter) steps() []step {
	return []step{
		{cmdline.StageModules, b.modules},
		{cmdline.StageNetwork, b.network},
		{cmdline.StageNFS, b.lower},
		{cmdline.StagePremount, b.premount},
		{cmdline.StageUnion, b.union},
		{cmdline.StageInit, b.handover},
	}
}

type booter struct {
	kmods *kmod.Index
	kload kmod.Loader
	ctx   context.Context
	cfg   *cmdline.Config
	sys   System
	h     Handover
	iscsi ISCSIStage
	log   *Logger
	// For the agent's handover: when the lease came, the iSCSI session
	// and its parameters (with the secrets).
	acquired  time.Time
	iscsiSess *iscsi.Session
	iscsiP    iscsi.Params
	res       *Result
	// ifnDone holds the ifname= names dealt with (renamed, found so
	// named, or warned about): renameLinks acts once per ifname=.
	ifnDone map[string]bool
	// netStack is the boot interface and those under it (a bond's
	// slaves, a VLAN's parent) when bond=/vlan= built it.
	netStack []string
	// ibftMAC is the boot NIC's MAC from the iBFT (rd.iscsi.ibft, ip=ibft).
	ibftMAC  net.HardwareAddr
	ibft     *iscsi.IBFT // read once by readIBFT
	ibftRead bool
	disk     DiskStage
	image    ImageStage
	bg       func(func())
	// modMu serialises the module loads of the stages and of the
	// background load; rootMods is closed when that load is done.
	modMu    sync.Mutex
	rootMods chan struct{}
	nfs3     bool // the nfs3 group was loaded
	// bootDev is the boot interface, once the network stage found it.
	bootDev string
}

func (b *booter) modules() error {
	ix, err := kmod.Open(b.sys.ReadFile)
	if errors.Is(err, fs.ErrNotExist) {
		b.log.Printf("no modules in the image: relying on built-in drivers")
		return nil
	}
	if err != nil {
		return err
	}
	if ix.Note != "" {
		b.log.Printf("warning: %s", ix.Note)
	}
	b.kmods, b.kload = ix, kmod.Loader{Load: b.loadModule, Done: map[string]error{}}
	// Bus drivers first, then the NIC drivers whose aliases match the
	// devices those buses show (as udev would), nothing else: the network
	// stage can start. The NFS client and overlayfs load meanwhile.
	b.loadModules(func() ([]string, error) { return kmod.Modaliases(b.sys.DirFS("/sys")) }, kmod.GroupBoot)
	b.rootMods = make(chan struct{})
	load := func() {
		defer close(b.rootMods)
		t0 := b.sys.Now()
		b.loadModules(nil, kmod.GroupRoot)
		b.log.Printf("root modules (NFS client, overlayfs) loaded in %.3fs, beside the network stage", b.sys.Now().Sub(t0).Seconds())
	}
	if b.bg != nil {
		b.bg(load)
	} else {
		load()
	}
	return nil
}

// waitRootModules waits for the modules stage's background load of the
// NFS client and overlayfs.
func (b *booter) waitRootModules() error {
	if b.rootMods == nil {
		return nil
	}
	select {
	case <-b.rootMods:
		return nil
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
}

// loadNFS3 loads NFSv3's modules (nfsv3, nfs_acl) before the first v3
// mount: a v4 boot never needs them.
func (b *booter) loadNFS3() {
	if !b.nfs3 {
		b.nfs3 = true
		b.loadModules(nil, kmod.GroupNFS3)
	}
}

// loadModules loads groups (and, with readAliases, the matching hardware
// drivers) and logs what failed: a driver for hardware this node lacks
// may refuse to load, and the stage that needs a module says what is
// missing.
func (b *booter) loadModules(readAliases func() ([]string, error), groups ...string) {
	if b.kmods == nil {
		return
	}
	b.modMu.Lock()
	defer b.modMu.Unlock()
	n, failed := b.kmods.LoadForHardware(b.kload, readAliases, groups...)
	for _, e := range failed {
		b.log.Printf("warning: %v", e)
	}
	b.res.Modules += n
	b.log.Printf("loaded %d modules (%s), %d failed", n, strings.Join(groups, ","), len(failed))
}

func (b *booter) loadModule(p string) error {
	t0 := b.sys.Now()
	err := b.sys.LoadModule(p)
	if d := b.sys.Now().Sub(t0); d > 250*time.Millisecond {
		b.log.Printf("slow module: %s took %.3fs", p, d.Seconds())
	}
	return err
}

// linkWait bounds the wait for the boot NIC to appear.
const linkWait = 30 * time.Second

// network configures the boot interface, then the interfaces of the
// other ip= (extraLinks), whose failures are only warnings.
func (b *booter) network() error {
	n := b.sys.Net()
	dev, err := b.bootNIC(n)
	if err != nil {
		return err
	}
	b.bootDev = dev
	b.extraLinks(n, dev)
	return nil
}

// bootNIC brings up the boot interface (renaming the NICs of ifname=,
// with the MAC and MTU of its ip=) and configures it from the iBFT, the
// static ip= or DHCP. It returns the interface.
func (b *booter) bootNIC(n Network) (string, error) {
	ibftNIC := b.ibftNetwork()
	dev, err := b.bootLink(n)
	if err != nil {
		return "", err
	}
	var lease *Lease
	mode := b.cfg.IP.Mode
	if ibftNIC != nil && mode == cmdline.IPIBFT {
		if lease, mode = ibftLease(dev, ibftNIC); lease != nil {
			b.log.Printf("iBFT: static %s/%d gw %v on %s (from /sys/firmware/ibft)", lease.IP, ones(lease.Netmask), lease.Gateway, dev)
		}
	}
	switch mode {
	case cmdline.IPOff:
		b.log.Printf("ip=off: %s is up, no address configured", dev)
		return dev, nil
	case cmdline.IPStatic:
		if lease == nil {
			lease = staticLease(dev, b.cfg.IP)
		}
		b.log.Printf("static ip= on %s: %s/%d gw %v (no DHCP)", dev, lease.IP, ones(lease.Netmask), lease.Gateway)
	default:
		if lease, err = b.dhcp(n, dev); err != nil {
			return "", err
		}
	}
	if err := n.Configure(dev, lease); err != nil {
		return "", err
	}
	b.res.Lease = lease
	b.acquired = b.sys.Now()
	if err := b.writeNetConf(dev, lease); err != nil {
		b.log.Printf("warning: %v", err)
	}
	if len(lease.DNS) > 0 {
		// For name lookups in the initramfs (an nfsroot= host name).
		_ = b.sys.MkdirAll("/etc")
		_ = b.sys.WriteFile("/etc/resolv.conf", []byte(resolvConf(lease)), 0o644)
	}
	return dev, nil
}

// writeNetConf writes /run/net-DEV.conf, initramfs-tools' record of how
// dev was configured, for the booted system.
func (b *booter) writeNetConf(dev string, l *Lease) error {
	p := "/run/net-" + dev + ".conf"
	if err := b.sys.MkdirAll("/run"); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := b.sys.WriteFile(p, []byte(l.NetConf()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

func ones(m net.IPMask) int { o, _ := m.Size(); return o }

// waitLink renames the NICs of ifname= as they appear, brings candidate
// links up and waits for the boot NIC, which it brings up with the MAC
// and MTU of its ip=.
func (b *booter) waitLink(n Network) (string, error) {
	deadline := b.sys.Now().Add(linkWait)
	upDone := map[string]bool{}
	for attempt := 0; ; attempt++ {
		seen, err := n.Links()
		if err != nil {
			return "", err
		}
		// Before anything picks or brings up a link by its name. A
		// renamed link is down: bring it up again under its new name.
		links := b.renameLinks(n, seen)
		for i := range links {
			if links[i].Name != seen[i].Name {
				delete(upDone, seen[i].Name)
			}
		}
		for _, l := range links {
			if !upDone[l.Name] && !l.Up {
				if err := n.Up(l.Name); err == nil {
					upDone[l.Name] = true
				}
			}
		}
		bootif := b.cfg.BootIF
		if b.ibftMAC != nil {
			bootif = b.ibftMAC
		}
		dev, why := PickLink(links, bootif, b.cfg.IP.Device)
		if dev != "" {
			b.log.Printf("boot NIC %s (%s)", dev, why)
			if err := b.bootLinkUp(n, dev); err != nil {
				return "", err
			}
			b.waitCarrier(n, dev)
			return dev, nil
		}
		if b.sys.Now().After(deadline) {
			var names []string
			for _, l := range links {
				names = append(names, l.Name+"="+l.MAC)
			}
			return "", fmt.Errorf("no boot NIC after %s (%s); links seen: [%s]; check that the NIC driver is packed (sidus-mkinitramfs -m DRIVER) and the cable/link is up",
				linkWait, why, strings.Join(names, " "))
		}
		if attempt%10 == 9 {
			b.log.Printf("waiting for the boot NIC (%s)", why)
		}
		if err := b.sys.Sleep(b.ctx, 200*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// carrierWait bounds the wait for the boot NIC's carrier: a DHCP
// DISCOVER sent before the link is up is lost and costs a retry timeout.
const carrierWait = 5 * time.Second

// operWait is how long a link with carrier may stay short of operstate
// up before it is taken as one whose driver does not report operstate.
const operWait = 1500 * time.Millisecond

// waitCarrier waits for dev's operstate up (not only its carrier: until
// the kernel's link watch runs, up to a second after the carrier, the
// link drops what it sends, the first DISCOVER included).
func (b *booter) waitCarrier(n Network, dev string) {
	var carrierAt time.Time
	for deadline := b.sys.Now().Add(carrierWait); b.sys.Now().Before(deadline); {
		links, err := n.Links()
		if err != nil {
			return
		}
		for _, l := range links {
			if l.Name != dev {
				continue
			}
			if l.OperUp {
				return
			}
			if l.Carrier && carrierAt.IsZero() {
				carrierAt = b.sys.Now()
			}
			if l.Carrier && b.sys.Now().Sub(carrierAt) >= operWait {
				return
			}
		}
		if b.sys.Sleep(b.ctx, 20*time.Millisecond) != nil {
			return
		}
	}
	b.log.Printf("warning: %s has no carrier after %s; trying anyway (check the cable and the switch port)", dev, carrierWait)
}

// PickLink chooses the boot NIC: the BOOTIF MAC, else the ip= device, else
// eth0, else the first link with carrier. It returns "" and what it is
// waiting for when none fits yet.
func PickLink(links []Link, bootif net.HardwareAddr, device string) (string, string) {
	if bootif != nil {
		for _, l := range links {
			if strings.EqualFold(l.MAC, bootif.String()) {
				return l.Name, "BOOTIF=" + bootif.String()
			}
		}
		return "", "waiting for the link with BOOTIF MAC " + bootif.String()
	}
	if device != "" {
		for _, l := range links {
			if l.Name == device {
				return l.Name, "ip= device"
			}
		}
		return "", "waiting for ip= device " + device
	}
	for _, l := range links {
		if l.Name == "eth0" {
			return "eth0", "default"
		}
	}
	for _, l := range links {
		if l.Carrier {
			return l.Name, "first link with carrier"
		}
	}
	return "", "waiting for eth0 or a link with carrier"
}

func (b *booter) dhcp(n Network, dev string) (*Lease, error) {
	// math/rand/v2 is seeded by the runtime without getrandom blocking, so
	// it is safe on nodes without RDRAND where entropy arrives late.
	xid := rand.Uint32()
	hostname := b.cfg.IP.Hostname
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		l, err := n.DHCP(ctx, dev, xid+uint32(attempt), hostname)
		cancel()
		if err == nil {
			b.log.Printf("DHCP on %s: %s/%d gw %v server %v next-server %v root-path %q hostname %q lease %s",
				dev, l.IP, ones(l.Netmask), l.Gateway, l.ServerID, l.NextServer, l.RootPath, l.Hostname, l.LeaseTime)
			return l, nil
		}
		if b.ctx.Err() != nil {
			return nil, b.ctx.Err()
		}
		wait := backoff(attempt, 30*time.Second, rand.Float64())
		b.log.Printf("DHCP on %s: attempt %d: %v; retrying in %.1fs (is the DHCP server up and on this segment?)", dev, attempt+1, err, wait.Seconds())
		if err := b.sys.Sleep(b.ctx, wait); err != nil {
			return nil, err
		}
	}
}

// nfs mounts the NFS export read-only at exportDir (/ro, or ExportDir
// for sidus.image=).
func (b *booter) nfs() error {
	var clientIP, serverID, next, rootPath string
	if l := b.res.Lease; l != nil {
		clientIP = ipStr(l.IP)
		serverID, next, rootPath = ipStr(l.ServerID), ipStr(l.NextServer), l.RootPath
	}
	servers, path, err := b.cfg.ResolveNFS(serverID, next, rootPath, clientIP)
	if err != nil {
		return err
	}
	resolved := map[string]string{}
	if len(servers) == 1 {
		// One server: a name that does not resolve stops the boot, now.
		if _, err := b.resolveServer(servers[0], resolved); err != nil {
			return fmt.Errorf("nfsroot: resolve server %q: %w; use an IP address in nfsroot= or check DHCP's DNS servers", servers[0], err)
		}
	}
	versions := []string{b.cfg.WantNFSVersion()}
	if versions[0] == "" {
		// Newest first: a bare vers=4 gets 4.0 from some servers (ganesha),
		// whose open-owner sequencing is the weakest; v3 last.
		versions = defaultNFSVersions
	}
	if err := b.sys.MkdirAll(b.exportDir()); err != nil {
		return err
	}
	if err := b.waitRootModules(); err != nil {
		return err
	}
	if len(servers) == 1 {
		return b.mountOneServer(servers[0], resolved, path, clientIP, versions)
	}
	return b.mountServers(servers, resolved, path, clientIP, versions)
}

// resolveServer returns server's address: server itself if it is an IP
// address, else its first address from DNS (kept in resolved).
func (b *booter) resolveServer(server string, resolved map[string]string) (string, error) {
	if net.ParseIP(server) != nil {
		return server, nil
	}
	if a, ok := resolved[server]; ok {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	addrs, err := b.sys.Net().LookupHost(ctx, server)
	cancel()
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	if err != nil {
		return "", err
	}
	resolved[server] = addrs[0]
	return addrs[0], nil
}

// mountServers mounts the NFS root from one of several servers. The node
// tries them in its ServerOrder (by the boot NIC's MAC); each round tries
// every server: the versions in turn on each, except that a server that
// cannot be reached (or whose name does not resolve) is left at once for
// the next. Only when all failed does the round back off, until
// rootdelay= is over.
func (b *booter) mountServers(servers []string, resolved map[string]string, path, clientIP string, versions []string) error {
	mac := b.bootMAC()
	order := ServerOrder(servers, mac)
	list := "[" + strings.Join(servers, " ") + "]"
	b.res.NFSServers = slices.Clone(servers)
	b.log.Printf("NFS servers %s: this node (MAC %s) tries %s first (MAC hash)", list, macString(mac), order[0])
	start := b.sys.Now()
	for attempt := 0; ; attempt++ {
		var errs []string // one per server, in the order tried
		for i, server := range order {
			next := ""
			if i+1 < len(order) {
				next = order[i+1]
			}
			addr, err := b.resolveServer(server, resolved)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: resolve: %v", server, err))
				if next != "" {
					b.log.Printf("nfs server %s: cannot resolve (%v); moving on to %s", server, err, next)
				}
				continue
			}
			verrs, down, ok := b.mountNFS(addr, path, clientIP, versions, true)
			if ok {
				return nil
			}
			errs = append(errs, server+": "+strings.Join(verrs, ", "))
			switch {
			case next == "": // the round's line below says it
			case down != nil:
				b.log.Printf("nfs server %s: unreachable (%v); moving on to %s", server, down, next)
			default:
				b.log.Printf("nfs server %s: %s; moving on to %s", server, strings.Join(verrs, ", "), next)
			}
		}
		if waited := b.sys.Now().Sub(start); b.cfg.RootDelay > 0 && waited >= b.cfg.RootDelay {
			return fmt.Errorf("nfs mount %s from %s failed on every server for %s (rootdelay=%d): %s; are the NFS servers running and exporting %s to this client (%s)?",
				path, list, waited.Round(time.Second), int(b.cfg.RootDelay.Seconds()), strings.Join(errs, "; "), path, clientIP)
		}
		wait := backoff(attempt, 10*time.Second, rand.Float64())
		b.log.Printf("nfs mount %s from %s: attempt %d: every server failed: %s; retrying in %.1fs (are the NFS servers running and exporting it?)",
			path, list, attempt+1, strings.Join(errs, "; "), wait.Seconds())
		if err := b.sys.Sleep(b.ctx, wait); err != nil {
			return err
		}
	}
}

// mountOneServer mounts the NFS root from its only server (resolved
// holds its address if it is a name), retrying every version until it
// answers or rootdelay= is over.
func (b *booter) mountOneServer(server string, resolved map[string]string, path, clientIP string, versions []string) error {
	if a, ok := resolved[server]; ok {
		server = a
	}
	src := server + ":" + path
	start := b.sys.Now()
	for attempt := 0; ; attempt++ {
		errs, _, ok := b.mountNFS(server, path, clientIP, versions, false)
		if ok {
			return nil
		}
		if waited := b.sys.Now().Sub(start); b.cfg.RootDelay > 0 && waited >= b.cfg.RootDelay {
			return fmt.Errorf("nfs mount %s failed for %s (rootdelay=%d): %s; is the NFS server running and exporting %s to this client (%s)?",
				src, waited.Round(time.Second), int(b.cfg.RootDelay.Seconds()), strings.Join(errs, "; "), path, clientIP)
		}
		wait := backoff(attempt, 10*time.Second, rand.Float64())
		b.log.Printf("nfs mount %s: attempt %d: %s; retrying in %.1fs (is the NFS server running and exporting it?)",
			src, attempt+1, strings.Join(errs, "; "), wait.Seconds())
		if err := b.sys.Sleep(b.ctx, wait); err != nil {
			return err
		}
	}
}

// mountNFS mounts server:path at exportDir, trying versions in turn; on success
// it records the mount in Result and returns ok. Else errs holds each
// version's failure ("vers=V: ERR"). With stopUnreachable, a failure that
// says the server cannot be reached (unreachable) ends the tries at once:
// it is returned as down, and the other versions are not tried.
func (b *booter) mountNFS(server, path, clientIP string, versions []string, stopUnreachable bool) (errs []string, down error, ok bool) {
	src := server + ":" + path
	for _, v := range versions {
		if v == "3" || strings.HasPrefix(v, "3.") {
			b.loadNFS3()
		}
		data := b.cfg.NFSMountOptions(server, clientIP, v)
		err := b.sys.Mount(src, b.exportDir(), "nfs", msRdonly, data)
		if err == nil {
			b.log.Printf("mounted %s at %s read-only (vers=%s, %s)", src, b.exportDir(), v, data)
			b.res.NFSServer, b.res.NFSPath, b.res.NFSVersion, b.res.NFSOptions = server, path, v, data
			return nil, nil, true
		}
		errs = append(errs, fmt.Sprintf("vers=%s: %v", v, unwrapPath(err)))
		if stopUnreachable && unreachable(err) {
			return errs, unwrapPath(err), false
		}
	}
	return errs, nil, false
}

// unreachableErrnos are the mount errors that say the server cannot be
// reached at all (nothing listens, no route, no answer), whatever the NFS
// version: another version on the same server would fail the same way.
var unreachableErrnos = []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT, syscall.EHOSTDOWN}

// unreachable reports whether a mount error is one of unreachableErrnos
// (not a version the server refused: EPROTONOSUPPORT, EINVAL, ...).
func unreachable(err error) bool {
	for _, e := range unreachableErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ServerOrder is the order in which a node tries several NFS servers: the
// list rotated to start at index fnv32a(mac) % len(servers), wrapping
// around. It spreads the nodes evenly over the servers and is stable per
// node: a node always starts with the same server (while the list is the
// same). Each node's fail-over order is a rotation of the list: the nodes
// of a down server move on to the one after it in the list. A nil mac
// hashes as no bytes. The result is a new slice; nil for no servers.
func ServerOrder(servers []string, mac net.HardwareAddr) []string {
	if len(servers) == 0 {
		return nil
	}
	h := fnv.New32a()
	h.Write(mac)
	i := int(h.Sum32() % uint32(len(servers)))
	return append(slices.Clone(servers[i:]), servers[:i]...)
}

// bootMAC is the boot NIC's MAC address: that of the lease's interface (or
// of the boot interface with ip=off), else the iBFT's or BOOTIF='s; nil if
// none is known.
func (b *booter) bootMAC() net.HardwareAddr {
	dev := b.bootDev
	if l := b.res.Lease; l != nil && l.Device != "" {
		dev = l.Device
	}
	if dev != "" {
		if links, err := b.sys.Net().Links(); err == nil {
			for _, l := range links {
				if l.Name != dev {
					continue
				}
				if mac, err := net.ParseMAC(l.MAC); err == nil {
					return mac
				}
			}
		}
	}
	if b.ibftMAC != nil {
		return b.ibftMAC
	}
	return b.cfg.BootIF
}

func macString(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return "unknown"
	}
	return mac.String()
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func ipStr(ip net.IP) string {
	if ip == nil || ip.IsUnspecified() {
		return ""
	}
	return ip.String()
}

// defaultNFSVersions are tried in turn when nfsroot= names no version.
var defaultNFSVersions = []string{"4.2", "4.1", "3"}

// msRdonly is MS_RDONLY.
const msRdonly = 0x1

func (b *booter) premount() error {
	rw := overlay.Default.RW
	if err := b.sys.MkdirAll(rw); err != nil {
		return err
	}
	switch b.cfg.Upper {
	case cmdline.UpperISCSI:
		dev, err := b.attachISCSI()
		if err != nil {
			return err
		}
		b.res.UpperDev = dev
		return nil
	case cmdline.UpperDevice:
		dev, err := b.attachDisk()
		if err != nil {
			return err
		}
		b.res.UpperDev = dev
		return nil
	default:
		dev, err := b.mountTmpfs()
		b.res.UpperDev = dev
		return err
	}
}

func (b *booter) mountTmpfs() (string, error) {
	rw := overlay.Default.RW
	data := "mode=0755"
	if b.cfg.TmpfsSize != "" {
		data += ",size=" + b.cfg.TmpfsSize
	}
	if err := b.sys.Mount("tmpfs", rw, "tmpfs", 0, data); err != nil {
		return "", fmt.Errorf("mount tmpfs at %s (%s): %w; check aufs=tmpfs:SIZE", rw, data, err)
	}
	b.log.Printf("tmpfs at %s (%s)", rw, data)
	return "tmpfs", nil
}

func (b *booter) union() error {
	fs, err := b.sys.ReadFile("/proc/filesystems")
	if err != nil {
		return err
	}
	kind, err := overlay.Choose(string(fs))
	if err != nil {
		return err
	}
	data, err := overlay.Stack(mounter{b.sys}, kind, overlay.Default)
	if err != nil {
		return err
	}
	b.res.Union = string(kind) + " " + data
	b.log.Printf("%s at %s (%s); /ro and /rw moved under it", kind, overlay.Default.Union, data)
	return b.share()
}

// share mounts sidus.shared='s directories straight from the tree over
// the union (overlay.Share), so that a running node sees what dpkg
// replaces there; the node's own files under them on an iSCSI upper of
// an earlier boot are hidden, and it says so. An image or RBD snapshot
// root never changes: nothing is shared from it (lowerWarnings).
func (b *booter) share() error {
	dirs := b.cfg.SharedDirs()
	if len(dirs) == 0 || immutableLower(b.cfg) {
		return nil // an image or a snapshot never changes (lowerWarnings)
	}
	tree := b.sys.DirFS(path.Join(overlay.Default.Union, "ro"))
	upper := b.sys.DirFS(path.Join(overlay.Default.Union, "rw", "upper"))
	isDir := func(d string) bool {
		fi, err := fs.Lstat(tree, d)
		return err == nil && fi.IsDir()
	}
	shared, err := overlay.Share(mounter{b.sys}, overlay.Default, dirs, isDir)
	if err != nil {
		return err
	}
	for _, d := range shared {
		if ents, err := fs.ReadDir(upper, d); err == nil && len(ents) > 0 {
			b.log.Printf("warning: /%s is shared from the tree (sidus.shared): the node's own files under /rw/upper/%s are hidden", d, d)
		}
	}
	if len(shared) > 0 {
		b.res.Shared = shared
		b.log.Printf("shared from the tree, read-only: /%s (sidus.shared; changes of the tree seen within %s)", strings.Join(shared, ", /"), b.liveBound())
	}
	return nil
}

// liveBound says how soon a node sees the tree's changes (sidus.live).
func (b *booter) liveBound() string {
	n := b.cfg.LiveSeconds()
	if n == 0 {
		return "the NFS client's attribute-cache time (sidus.live=off)"
	}
	return fmt.Sprintf("%d s, or %d s after a dpkg run or a new generation stamp", n, b.cfg.LivePollSeconds())
}

type mounter struct{ System }

func (m mounter) MkdirAll(p string) error { return m.System.MkdirAll(p) }

func (b *booter) handover() error {
	init := b.cfg.Init
	if init == "" {
		init = "/sbin/init"
	}
	written := b.prepareRoot(overlay.Default.Union)
	b.writeReport(written)
	if st, err := b.sys.ReadFile("/proc/self/status"); err == nil {
		b.log.Printf("VmHWM=%s kB", peakRSS(string(st)))
	}
	b.log.Printf("handing over to %s on %s after %.3fs", init, overlay.Default.Union, b.log.Elapsed().Seconds())
	agent := b.prepareAgent()
	return b.h.SwitchRoot(overlay.Default.Union, init, b.cfg.InitArgs, agent)
}

// peakRSS returns the VmHWM figure (kB) of a /proc/PID/status text.
func peakRSS(status string) string {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	return "?"
}

// notYet lists what the command line asks for that this init parses but
// does not do yet, so that the boot says so instead of ignoring it.
func notYet(c *cmdline.Config) []string {
	var w []string
	add := func(cond bool, what string) {
		if cond {
			w = append(w, what+" is read but not acted on by this init yet; the boot goes on without it")
		}
	}
	add(c.IBFTNetwork && c.IP.Mode != cmdline.IPIBFT, "rd.iscsi.ibft with an ip= (the ip= is used, not the iBFT's NIC)")
	return w
}
