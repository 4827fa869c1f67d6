package initramfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/blockdev/format"
	"github.com/sidus-go/sidus/blockdev/fslabel"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/iscsi"
	"github.com/sidus-go/sidus/overlay"
)

// DefaultRWLabel is the label of the writable layer when no root=LABEL= is
// given, as in the seed's iscsi pxelinux label.
const DefaultRWLabel = "ISCSI"

// ISCSIStage holds the seams of the aufs=iscsi writable layer, function
// values as in u-root's kmodule.ProbeOpts: DefaultISCSI returns the real
// ones and tests give fakes. They are the kernel and block-device side
// effects of the stage that System has no call for.
type ISCSIStage struct {
	// Login logs in to p's target and returns the session with its block
	// devices (iscsi.Login).
	Login func(ctx context.Context, p iscsi.Params, logf func(format string, args ...any)) (*iscsi.Session, error)
	// FindLabel returns the device of devs whose filesystem has label; its
	// error lists what each device holds.
	FindLabel func(devs []string, label string) (string, error)
	// FSType returns the type of the filesystem on dev.
	FSType func(dev string) (string, error)
	// FormatExt4 formats the whole of dev as ext4 (sidus.format=empty). It
	// fails with format.ErrNotEmpty on a device that holds data.
	FormatExt4 func(dev, label string, uuid [16]byte) error
	// SetRecovery sets how long the kernel keeps the session's I/O queued
	// after a connection failure (seconds; -1: forever). Nil leaves the
	// login's default (120 s).
	SetRecovery func(sid, cid, seconds int) error
}

// DefaultISCSI is the real iSCSI stage: the kernel initiator and the
// device nodes of the LUN.
func DefaultISCSI() ISCSIStage {
	return ISCSIStage{
		Login: iscsi.Login,
		FindLabel: func(devs []string, label string) (string, error) {
			dev, _, err := fslabel.Find(devs, label, fslabel.OpenFile)
			return dev, err
		},
		FSType: func(dev string) (string, error) {
			r, c, err := fslabel.OpenFile(dev)
			if err != nil {
				return "", err
			}
			defer c.Close()
			t, _, err := fslabel.Read(r)
			return t, err
		},
		FormatExt4: func(dev, label string, uuid [16]byte) error { return format.Ext4(dev, 0, label, uuid) },
		SetRecovery: func(sid, cid, seconds int) error {
			return iscsi.SetRecoveryTimeout(uint32(sid), uint32(cid), seconds)
		},
	}
}

// iscsiParamsFor merges the root-only conf file the packer may add
// (secrets need not be on /proc/cmdline) with the command line, which
// wins, and fills the SIDUS defaults: the portal is the DHCP next-server,
// the target name is discovered by this client's IP, the initiator derives
// from the MAC. The firmware's values fw (the iBFT's initiator, and its
// target when it is the only one) go between the conf file and the command
// line. For one of several targets, target's own keys go on top, and the
// command line's values that belong to its first target are left out: each
// target gets only its own name, portal, LUN and CHAP, and the rest (the
// initiator, global CHAP) from the others.
func (b *booter) iscsiParamsFor(fw, target map[string]string) (iscsi.Params, error) {
	kv := map[string]string{}
	if data, err := b.sys.ReadFile("/" + layout.ISCSIConf); err == nil {
		conf, err := iscsi.ReadConf(strings.NewReader(string(data)))
		if err != nil {
			return iscsi.Params{}, fmt.Errorf("%s: %w", layout.ISCSIConf, err)
		}
		for k, v := range conf {
			kv[k] = v
		}
	}
	for k, v := range fw {
		if v != "" {
			kv[k] = v
		}
	}
	var first map[string]string
	if target != nil && len(b.cfg.ISCSITargets) > 0 {
		first = b.cfg.ISCSITargets[0]
	}
	for k, v := range b.cfg.ISCSI {
		if x, ok := first[k]; ok && x == v {
			continue
		}
		if v != "" || kv[k] == "" {
			kv[k] = v
		}
	}
	for k, v := range target {
		kv[k] = v
	}
	p, err := iscsi.ParseParams(kv)
	if err != nil {
		return p, err
	}
	var clientIP, hostname, mac, server string
	if l := b.res.Lease; l != nil {
		clientIP, hostname = ipStr(l.IP), l.Hostname
		server = ipStr(l.NextServer)
		if server == "" {
			server = ipStr(l.ServerID)
		}
		if links, err := b.sys.Net().Links(); err == nil {
			for _, k := range links {
				if k.Name == l.Device {
					mac = k.MAC
				}
			}
		}
	}
	p = p.Expand(clientIP, hostname, mac)
	if len(p.Portals) == 0 {
		if server == "" {
			return p, errors.New("ISCSI_TARGET_IP is empty and DHCP gave no next-server: set ISCSI_TARGET_IP=PORTAL")
		}
		p = p.WithDefaultPortal(server)
	}
	return p, nil
}

// attachISCSI logs in to this node's LUN and mounts the filesystem
// labelled root=LABEL= (default ISCSI) at /rw. sidus.iscsi.fallback says
// what to do while the target is down: wait (default, with progress),
// tmpfs (boot without persistence) or fail.
func (b *booter) attachISCSI() (string, error) {
	st := b.iscsi
	if st.Login == nil || st.FindLabel == nil || st.FSType == nil || st.FormatExt4 == nil {
		return "", errors.New("aufs=iscsi: this init was built without the iSCSI stage (Options.ISCSI); boot with aufs=tmpfs")
	}
	targets, fw := b.iscsiTargets()
	if len(targets) > 1 {
		return b.attachISCSITargets(targets, fw)
	}
	if len(targets) == 1 && len(b.cfg.ISCSITargets) == 0 {
		// The iBFT's only target, below the command line.
		fw = mergeKeys(targets[0], fw)
	}
	p, err := b.iscsiParamsFor(fw, nil)
	if err != nil {
		return "", err
	}
	b.loadModules(nil, kmod.GroupISCSI)
	label := b.rwLabel()
	b.log.Printf("iSCSI: %s", p)
	sess, fellBack, err := b.loginISCSI(p)
	if err != nil {
		return "", err
	}
	if fellBack {
		b.res.Upper = cmdline.UpperTmpfs
		return b.mountTmpfs()
	}
	b.log.Printf("iSCSI: logged in to %s at %s (session %d, host %d, %s), devices %v", sess.Target, sess.Portal, sess.SID, sess.Host, sess.Auth, sess.Devices)
	b.iscsiSess, b.iscsiP = sess, p
	b.setRecovery(sess)
	b.writeSessionState(iscsi.StateFile, sess)
	dev, err := st.FindLabel(sess.Devices, label)
	if err != nil && b.cfg.Sidus["format"] == "empty" {
		dev, err = b.formatEmpty(sess, label, err)
	}
	if err != nil {
		// err lists each device with its filesystem type and label.
		return "", fmt.Errorf("root=LABEL=%s: on the LUN of %s: %w; fix root=LABEL= or label the LUN's filesystem (e2label DEV %s)", label, sess.Target, err, label)
	}
	if err := b.mountLUN(dev, label); err != nil {
		return "", err
	}
	return dev + " " + sess.Target, nil
}

func (b *booter) rwLabel() string {
	if b.cfg.RWLabel != "" {
		return b.cfg.RWLabel
	}
	return DefaultRWLabel
}

// loginISCSI logs in to p's target, as sidus.iscsi.fallback says while it
// is down: wait (default: retry with backoff and progress lines), tmpfs
// (fellBack: the caller boots on a tmpfs) or fail. A refused
// authentication is never retried.
func (b *booter) loginISCSI(p iscsi.Params) (sess *iscsi.Session, fellBack bool, err error) {
	fallback := b.cfg.Sidus["iscsi.fallback"]
	start := b.sys.Now()
	for attempt := 0; ; attempt++ {
		sess, err = b.iscsi.Login(b.ctx, p, func(f string, a ...any) { b.log.Printf("iSCSI: "+f, a...) })
		if err == nil {
			return sess, false, nil
		}
		if iscsi.IsAuthFailure(err) || fallback == "fail" {
			return nil, false, err
		}
		if fallback == "tmpfs" {
			b.log.Printf("WARNING: iSCSI login failed: %v", err)
			b.log.Printf("WARNING: sidus.iscsi.fallback=tmpfs: booting on a tmpfs; NOTHING WRITTEN ON THIS NODE WILL PERSIST")
			return nil, true, nil
		}
		if b.ctx.Err() != nil {
			return nil, false, b.ctx.Err()
		}
		wait := backoff(attempt, 30*time.Second, rand.Float64())
		b.log.Printf("iSCSI login: attempt %d (%s so far): %v; retrying in %.1fs (is the target up? sidus.iscsi.fallback=tmpfs boots without it)",
			attempt+1, b.sys.Now().Sub(start).Round(time.Second), err, wait.Seconds())
		if err := b.sys.Sleep(b.ctx, wait); err != nil {
			return nil, false, err
		}
	}
}

// setRecovery: with the agent to reconnect, the kernel keeps the session's
// I/O queued through an outage (sidus.iscsi.recovery=, default forever)
// instead of failing it after 120 s.
func (b *booter) setRecovery(sess *iscsi.Session) {
	if b.iscsi.SetRecovery == nil || !b.hasAgent() {
		return
	}
	secs := -1
	if v, err := strconv.Atoi(b.cfg.Sidus["iscsi.recovery"]); err == nil && v > 0 {
		secs = v
	}
	if err := b.iscsi.SetRecovery(sess.SID, sess.CID, secs); err != nil {
		b.log.Printf("warning: iSCSI recovery timeout: %v", err)
	}
}

// writeSessionState describes the session for the booted system and the
// agent (no secrets) in StateDir/name.
func (b *booter) writeSessionState(name string, sess *iscsi.Session) {
	serr := b.sys.MkdirAll(StateDir)
	if serr == nil {
		serr = b.sys.WriteFile(StateDir+"/"+name, sess.State(), 0o644)
	}
	if serr != nil {
		b.log.Printf("warning: writing the iSCSI session state: %v", serr)
	}
}

// mountLUN mounts the filesystem labelled label on dev at /rw.
func (b *booter) mountLUN(dev, label string) error {
	fstype, err := b.iscsi.FSType(dev)
	if err != nil {
		return fmt.Errorf("read %s: %w", dev, err)
	}
	rw := overlay.Default.RW
	if err := b.sys.Mount(dev, rw, fstype, 0, ""); err != nil {
		return fmt.Errorf("mount %s (%s, LABEL=%s) at %s: %w; %s", dev, fstype, label, rw, err, mountHint(fstype, err, "run fsck on the LUN from the server"))
	}
	b.log.Printf("mounted %s (%s, LABEL=%s) at %s", dev, fstype, label, rw)
	return nil
}

// iscsiTargets returns the targets to log in to, each with its own keys:
// the command line's (netroot=iscsi:, root=iscsi:, iscsiroot=), then,
// with rd.iscsi.firmware / iscsi_auto, the iBFT's that the command line
// does not name already; and fw, the iBFT's initiator name.
func (b *booter) iscsiTargets() (targets []map[string]string, fw map[string]string) {
	targets = append(targets, b.cfg.ISCSITargets...)
	if !b.cfg.ISCSIFirmware {
		return targets, nil
	}
	t := b.readIBFT()
	if t == nil {
		return targets, nil
	}
	if t.Initiator != "" {
		fw = map[string]string{iscsi.KeyInitiator: t.Initiator}
	}
	for _, ft := range t.Targets {
		dup := false
		for _, c := range targets {
			dup = dup || (c[iscsi.KeyTargetName] == ft.Name && (c[iscsi.KeyTargetIP] == "" || c[iscsi.KeyTargetIP] == ft.IP))
		}
		if dup {
			continue
		}
		b.log.Printf("iBFT: %s", ft)
		targets = append(targets, ft.Keys())
	}
	return targets, fw
}

// mergeKeys returns a copy of low with high's keys on top.
func mergeKeys(low, high map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range low {
		out[k] = v
	}
	for k, v := range high {
		out[k] = v
	}
	return out
}

// attachISCSITargets logs in to every target (netroot=iscsi: given several
// times, the iBFT's), mounts the filesystem labelled root=LABEL= found on
// any of their LUNs at /rw, and leaves the other LUNs to the booted system
// as block devices. The agent recovers the session of /rw.
func (b *booter) attachISCSITargets(targets []map[string]string, fw map[string]string) (string, error) {
	if b.cfg.Sidus["format"] == "empty" {
		return "", fmt.Errorf("sidus.format=empty with %d iSCSI targets: which LUN to format is ambiguous; format and label it on the server (mkfs.ext4 -L %s IMAGE), or give one target", len(targets), b.rwLabel())
	}
	b.loadModules(nil, kmod.GroupISCSI)
	label := b.rwLabel()
	var sessions []*iscsi.Session
	var params []iscsi.Params
	owner := map[string]int{}
	var devs []string
	for i, t := range targets {
		p, err := b.iscsiParamsFor(fw, t)
		if err != nil {
			return "", fmt.Errorf("iSCSI target %d of %d (%s): %w", i+1, len(targets), t[iscsi.KeyTargetName], err)
		}
		b.log.Printf("iSCSI: target %d of %d: %s", i+1, len(targets), p)
		sess, fellBack, err := b.loginISCSI(p)
		if err != nil {
			return "", fmt.Errorf("iSCSI target %d of %d (%s): %w", i+1, len(targets), p.TargetName, err)
		}
		if fellBack {
			for _, s := range sessions {
				b.log.Printf("iSCSI: %s (session %d) stays logged in: devices %v for the booted system", s.Target, s.SID, s.Devices)
			}
			b.res.Upper = cmdline.UpperTmpfs
			return b.mountTmpfs()
		}
		b.log.Printf("iSCSI: logged in to %s at %s (session %d, host %d, %s), devices %v", sess.Target, sess.Portal, sess.SID, sess.Host, sess.Auth, sess.Devices)
		for _, d := range sess.Devices {
			owner[d] = len(sessions)
			devs = append(devs, d)
		}
		sessions, params = append(sessions, sess), append(params, p)
	}
	dev, err := b.iscsi.FindLabel(devs, label)
	if err != nil {
		var names []string
		for _, s := range sessions {
			names = append(names, s.Target)
		}
		return "", fmt.Errorf("root=LABEL=%s: on the LUNs of %s: %w; fix root=LABEL= or label the filesystem of one of them (e2label DEV %s)", label, strings.Join(names, ", "), err, label)
	}
	sess := sessions[owner[dev]]
	b.iscsiSess, b.iscsiP = sess, params[owner[dev]]
	b.setRecovery(sess)
	b.writeSessionState(iscsi.StateFile, sess)
	for _, s := range sessions {
		if s != sess {
			b.writeSessionState(fmt.Sprintf("%s.%d", iscsi.StateFile, s.SID), s)
			b.log.Printf("iSCSI: %s (session %d): devices %v left to the booted system", s.Target, s.SID, s.Devices)
		}
	}
	if err := b.mountLUN(dev, label); err != nil {
		return "", err
	}
	b.log.Printf("iSCSI: /rw is on %s of %s", dev, sess.Target)
	return dev + " " + sess.Target, nil
}

// formatEmpty is sidus.format=empty: the first boot of a node on a new LUN
// formats it as ext4 with the wanted label, but only a disk whose start and
// end read as zeros (format.Ext4 checks again on the descriptor it writes).
// A LUN holding anything is never touched.
func (b *booter) formatEmpty(sess *iscsi.Session, label string, notFound error) (string, error) {
	if len(sess.Devices) == 0 {
		return "", notFound
	}
	dev := sess.Devices[0] // the first disk; partitions follow their disk
	mac := ""
	if l := b.res.Lease; l != nil {
		mac = l.Device + ipStr(l.IP)
	}
	// The UUID comes from non-secret facts: no getrandom before the
	// kernel's CRNG is ready.
	uuid := format.UUIDFrom([]byte(sess.Target), []byte(mac), []byte(b.sys.Now().String()))
	b.log.Printf("sidus.format=empty: no filesystem labelled %s; formatting %s as ext4 if it is empty", label, dev)
	t0 := b.sys.Now()
	if err := b.iscsi.FormatExt4(dev, label, uuid); err != nil {
		if errors.Is(err, format.ErrNotEmpty) {
			return "", fmt.Errorf("%w; sidus.format=empty refused to format %s: it holds data (wipe it on the server if it is really free)", notFound, dev)
		}
		return "", fmt.Errorf("sidus.format=empty: format %s: %w", dev, err)
	}
	b.log.Printf("formatted %s as ext4 LABEL=%s in %.1fs", dev, label, b.sys.Now().Sub(t0).Seconds())
	return dev, nil
}

// mountHint is what to check after a failed mount of a filesystem of
// type fstype: with ENODEV the kernel has no driver for it (xfs and
// btrfs are not in the packer's default set), else otherwise.
func mountHint(fstype string, err error, otherwise string) string {
	if errors.Is(err, syscall.ENODEV) {
		return fmt.Sprintf("the kernel has no %s driver: pack it into the image (sidus-mkinitramfs -m %s)", fstype, fstype)
	}
	return otherwise
}
