package initramfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
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

// iscsiParams merges the root-only conf file the packer may add (secrets
// need not be on /proc/cmdline) with the command line, which wins, and
// fills the SIDUS defaults: the portal is the DHCP next-server, the target
// name is discovered by this client's IP, the initiator derives from the MAC.
func (b *booter) iscsiParams() (iscsi.Params, error) {
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
	for k, v := range b.cfg.ISCSI {
		if v != "" || kv[k] == "" {
			kv[k] = v
		}
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
	p, err := b.iscsiParams()
	if err != nil {
		return "", err
	}
	b.loadModules(nil, kmod.GroupISCSI)
	label := b.cfg.RWLabel
	if label == "" {
		label = DefaultRWLabel
	}
	fallback := b.cfg.Sidus["iscsi.fallback"]
	b.log.Printf("iSCSI: %s", p)
	start := b.sys.Now()
	var sess *iscsi.Session
	for attempt := 0; ; attempt++ {
		sess, err = st.Login(b.ctx, p, func(f string, a ...any) { b.log.Printf("iSCSI: "+f, a...) })
		if err == nil {
			break
		}
		if iscsi.IsAuthFailure(err) || fallback == "fail" {
			return "", err
		}
		if fallback == "tmpfs" {
			b.log.Printf("WARNING: iSCSI login failed: %v", err)
			b.log.Printf("WARNING: sidus.iscsi.fallback=tmpfs: booting on a tmpfs; NOTHING WRITTEN ON THIS NODE WILL PERSIST")
			b.res.Upper = cmdline.UpperTmpfs
			return b.mountTmpfs()
		}
		if b.ctx.Err() != nil {
			return "", b.ctx.Err()
		}
		wait := backoff(attempt, 30*time.Second, rand.Float64())
		b.log.Printf("iSCSI login: attempt %d (%s so far): %v; retrying in %.1fs (is the target up? sidus.iscsi.fallback=tmpfs boots without it)",
			attempt+1, b.sys.Now().Sub(start).Round(time.Second), err, wait.Seconds())
		if err := b.sys.Sleep(b.ctx, wait); err != nil {
			return "", err
		}
	}
	b.log.Printf("iSCSI: logged in to %s at %s (session %d, host %d, %s), devices %v", sess.Target, sess.Portal, sess.SID, sess.Host, sess.Auth, sess.Devices)
	b.iscsiSess, b.iscsiP = sess, p
	// With the agent to reconnect, the kernel keeps I/O queued through an
	// outage (sidus.iscsi.recovery=, default forever) instead of failing it
	// after 120 s.
	if st.SetRecovery != nil && b.hasAgent() {
		secs := -1
		if v, err := strconv.Atoi(b.cfg.Sidus["iscsi.recovery"]); err == nil && v > 0 {
			secs = v
		}
		if err := st.SetRecovery(sess.SID, sess.CID, secs); err != nil {
			b.log.Printf("warning: iSCSI recovery timeout: %v", err)
		}
	}
	// The session, for the booted system and the agent (no secrets).
	serr := b.sys.MkdirAll(StateDir)
	if serr == nil {
		serr = b.sys.WriteFile(StateDir+"/"+iscsi.StateFile, sess.State(), 0o644)
	}
	if serr != nil {
		b.log.Printf("warning: writing the iSCSI session state: %v", serr)
	}
	dev, err := st.FindLabel(sess.Devices, label)
	if err != nil && b.cfg.Sidus["format"] == "empty" {
		dev, err = b.formatEmpty(sess, label, err)
	}
	if err != nil {
		// err lists each device with its filesystem type and label.
		return "", fmt.Errorf("root=LABEL=%s: on the LUN of %s: %w; fix root=LABEL= or label the LUN's filesystem (e2label DEV %s)", label, sess.Target, err, label)
	}
	fstype, err := st.FSType(dev)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dev, err)
	}
	rw := overlay.Default.RW
	if err := b.sys.Mount(dev, rw, fstype, 0, ""); err != nil {
		return "", fmt.Errorf("mount %s (%s, LABEL=%s) at %s: %w; run fsck on the LUN from the server", dev, fstype, label, rw, err)
	}
	b.log.Printf("mounted %s (%s, LABEL=%s) at %s", dev, fstype, label, rw)
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
