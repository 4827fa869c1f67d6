package initramfs

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sidus-go/sidus/blockdev/format"
	"github.com/sidus-go/sidus/blockdev/fslabel"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/overlay"
)

// DiskStage holds the seams of the overlayroot=device: writable layer, a
// partition of a local disk (a compute node's scratch SSD): function
// values like ISCSIStage. DefaultDisk returns the real ones.
type DiskStage struct {
	// Probe reads the filesystem type, label and UUID on dev; an error
	// wrapping fslabel.ErrUnknown means it holds none this init knows.
	Probe func(dev string) (fslabel.Info, error)
	// FormatExt4 formats the whole of dev as ext4 (overlayroot's mkfs=1,
	// sidus.format=empty). It fails with format.ErrNotEmpty on a device
	// that holds data.
	FormatExt4 func(dev, label string, uuid [16]byte) error
}

// DefaultDisk is the real local-disk stage: superblocks read from the
// device nodes.
func DefaultDisk() DiskStage {
	return DiskStage{
		Probe: func(dev string) (fslabel.Info, error) {
			r, c, err := fslabel.OpenFile(dev)
			if err != nil {
				return fslabel.Info{}, err
			}
			defer c.Close()
			return fslabel.Probe(r)
		},
		FormatExt4: func(dev, label string, uuid [16]byte) error { return format.Ext4(dev, 0, label, uuid) },
	}
}

// diskWait bounds the wait for the overlayroot=device: disk when the
// command line gives no timeout=: disks appear asynchronously once their
// driver is loaded (an NVMe or a SAS controller can take seconds).
const diskWait = 30 * time.Second

// notBlockDisks are the /sys/class/block names that never hold the
// writable layer (RAM disks, loop devices, CD-ROMs, floppies).
var notBlockDisks = []string{"ram", "loop", "zram", "sr", "fd", "nbd"}

// blockDevices lists the block devices (disks and partitions) of sysfs
// (the /sys tree) as /dev paths, sorted.
func blockDevices(sysfs fs.FS) []string {
	ents, err := fs.ReadDir(sysfs, "class/block")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		skip := false
		for _, p := range notBlockDisks {
			if strings.HasPrefix(n, p) && (len(n) == len(p) || n[len(p)] >= '0' && n[len(p)] <= '9') {
				skip = true
			}
		}
		if !skip {
			out = append(out, "/dev/"+n)
		}
	}
	sort.Strings(out)
	return out
}

// findDisk looks for want (a /dev path, LABEL=<label> or UUID=<uuid>, as
// cmdline.Config.UpperDev has it) among devs. seen describes each device
// probed, for the messages; more lists the other devices with the same
// label or UUID.
func findDisk(want string, devs []string, probe func(string) (fslabel.Info, error)) (dev string, info fslabel.Info, seen, more []string) {
	key, val, byKey := strings.Cut(want, "=")
	if !strings.HasPrefix(want, "/") && byKey && (key == "LABEL" || key == "UUID") {
		for _, d := range devs {
			in, err := probe(d)
			switch {
			case err == nil:
				seen = append(seen, fmt.Sprintf("%s (%s, label %q, UUID %s)", d, in.Type, in.Label, in.UUID))
			case errors.Is(err, fslabel.ErrUnknown):
				seen = append(seen, d+" (no filesystem)")
				continue
			default:
				seen = append(seen, fmt.Sprintf("%s (%v)", d, err))
				continue
			}
			if (key == "LABEL" && in.Label == val) || (key == "UUID" && strings.EqualFold(in.UUID, val)) {
				if dev == "" {
					dev, info = d, in
				} else {
					more = append(more, d)
				}
			}
		}
		return dev, info, seen, more
	}
	seen = devs
	if !slices.Contains(devs, want) {
		// /dev/disk/by-*, /dev/mapper/...: not named in /sys/class/block.
		if !strings.Contains(strings.TrimPrefix(want, "/dev/"), "/") {
			return "", info, seen, nil
		}
		if _, err := probe(want); errors.Is(err, fs.ErrNotExist) {
			return "", info, seen, nil
		}
	}
	in, err := probe(want)
	if err != nil {
		in = fslabel.Info{}
	}
	return want, in, seen, nil
}

// attachDisk is overlayroot=device:dev=DEV|LABEL=x|UUID=y: it waits (up to
// timeout=, else diskWait, with progress lines) for the device, and mounts
// its filesystem at /rw, where the union makes upper/ and work/ as on the
// iSCSI LUN. An empty device is formatted (ext4) only with mkfs=1 or
// sidus.format=empty, and only if it is all zeros at both ends.
func (b *booter) attachDisk() (string, error) {
	st := b.disk
	param := "overlayroot=device:dev=" + b.cfg.UpperDev
	if st.Probe == nil {
		return "", fmt.Errorf("%s: this init was built without the local-disk stage (Options.Disk); boot with aufs=tmpfs", param)
	}
	// Disk controllers that showed up since the modules stage, and the
	// filesystem drivers (packed in the iscsi group).
	b.loadModules(func() ([]string, error) { return kmod.Modaliases(b.sys.DirFS("/sys")) }, kmod.GroupISCSI)
	timeout := b.cfg.UpperDevTimeout
	if timeout == 0 {
		timeout = diskWait
	}
	want := b.cfg.UpperDev
	start := b.sys.Now()
	var dev string
	var info fslabel.Info
	for attempt := 0; ; attempt++ {
		var seen, more []string
		dev, info, seen, more = findDisk(want, blockDevices(b.sys.DirFS("/sys")), st.Probe)
		if dev != "" {
			if len(more) > 0 {
				b.log.Printf("warning: %s: %s also match; using %s (give dev=/dev/NAME to choose)", param, strings.Join(more, ", "), dev)
			}
			break
		}
		waited := b.sys.Now().Sub(start)
		list := strings.Join(seen, ", ")
		if list == "" {
			list = "none"
		}
		if waited >= timeout {
			return "", fmt.Errorf("%s: not found after %s; block devices: %s; check that the disk's driver is packed (sidus-mkinitramfs -m DRIVER), the label (e2label DEV NAME) or UUID (blkid DEV), or raise timeout=", param, timeout, list)
		}
		if attempt%20 == 19 {
			b.log.Printf("waiting for %s (%s of %s); block devices: %s", param, waited.Round(time.Second), timeout, list)
		}
		if err := b.sys.Sleep(b.ctx, 250*time.Millisecond); err != nil {
			return "", err
		}
	}
	if info.Type == "" {
		if b.cfg.Sidus["format"] != "empty" || st.FormatExt4 == nil {
			return "", fmt.Errorf("%s: %s holds no ext2/3/4, xfs or btrfs filesystem; format it (mkfs.ext4 -L scratch %s) or add mkfs=1 to format it when it is empty", param, dev, dev)
		}
		uuid := format.UUIDFrom([]byte(dev), []byte(b.sys.Now().String()))
		b.log.Printf("sidus.format=empty: %s holds no filesystem; formatting it as ext4 if it is empty", dev)
		t0 := b.sys.Now()
		if err := st.FormatExt4(dev, "", uuid); err != nil {
			if errors.Is(err, format.ErrNotEmpty) {
				return "", fmt.Errorf("%s: %s holds data but no filesystem this init knows; refusing to format it (wipe it, or format it yourself)", param, dev)
			}
			return "", fmt.Errorf("%s: format %s: %w", param, dev, err)
		}
		b.log.Printf("formatted %s as ext4 in %.1fs", dev, b.sys.Now().Sub(t0).Seconds())
		info.Type = "ext4"
	}
	rw := overlay.Default.RW
	if err := b.sys.Mount(dev, rw, info.Type, 0, ""); err != nil {
		return "", fmt.Errorf("%s: mount %s (%s) at %s: %w; %s", param, dev, info.Type, rw, unwrapPath(err), mountHint(info.Type, err, "run fsck on it (fsck -f "+dev+")"))
	}
	b.log.Printf("mounted %s (%s, LABEL=%q, UUID=%s) at %s after %.3fs", dev, info.Type, info.Label, info.UUID, rw, b.sys.Now().Sub(start).Seconds())
	return dev, nil
}
