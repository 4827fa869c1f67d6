package iscsi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Session is a logged-in kernel iSCSI session.
type Session struct {
	Target    string
	Portal    string // host:port
	Initiator string
	SID       int      // /sys/class/iscsi_session/session<SID>
	Host      int      // /sys/class/scsi_host/host<Host>
	Devices   []string // /dev paths: disks, each followed by its partitions
	Auth      string   // "None", "CHAP" or "CHAP (mutual)"
	// For session recovery (agent/iscsirecover): the connection id
	// (/sys/class/iscsi_connection/connection<SID>:<CID>), the ISID
	// (ISIDForSID) and the TSIH the target assigned at login.
	CID  int
	ISID [6]byte
	TSIH uint16
}

// StateFile is the name WriteState writes in its directory.
const StateFile = "iscsi-session"

// WriteState writes the session description (no secrets) as shell-style
// KEY='value' lines to dir/iscsi-session, e.g. /run/sidus/iscsi-session,
// so that the booted system can find and log out of the session.
func (s *Session) WriteState(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing iscsi state: %w", err)
	}
	p := filepath.Join(dir, StateFile)
	if err := os.WriteFile(p+".tmp", s.State(), 0o644); err != nil {
		return fmt.Errorf("writing iscsi state: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("writing iscsi state: %w", err)
	}
	return nil
}

// State renders the session description WriteState writes.
func (s *Session) State() []byte {
	q := func(v string) string { return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'" }
	var b strings.Builder
	fmt.Fprintf(&b, "ISCSI_TARGET_NAME=%s\n", q(s.Target))
	fmt.Fprintf(&b, "ISCSI_PORTAL=%s\n", q(s.Portal))
	fmt.Fprintf(&b, "ISCSI_INITIATOR=%s\n", q(s.Initiator))
	fmt.Fprintf(&b, "ISCSI_SID=%d\n", s.SID)
	fmt.Fprintf(&b, "ISCSI_HOST=%d\n", s.Host)
	fmt.Fprintf(&b, "ISCSI_AUTH=%s\n", q(s.Auth))
	fmt.Fprintf(&b, "ISCSI_DEVICES=%s\n", q(strings.Join(s.Devices, " ")))
	return []byte(b.String())
}

// sysfs is the seam for the session's sysfs/devtmpfs side effects.
type sysfs struct {
	Root      string // "/sys"
	DevRoot   string // "/dev"; empty: do not wait for device nodes
	WriteFile func(path, data string) error
	Poll      time.Duration // polling interval
	Settle    time.Duration // how long the device set must stay unchanged
	Default   time.Duration // bound when ctx has no deadline
}

func defaultSysfs() sysfs {
	return sysfs{Root: "/sys", DevRoot: "/dev", WriteFile: writeExisting, Poll: 50 * time.Millisecond, Settle: 300 * time.Millisecond, Default: 20 * time.Second}
}

// writeExisting writes to an existing (sysfs) file, never creating it.
func writeExisting(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// scanHost asks the kernel to scan this session's SCSI host only: all LUNs
// ("- - -") or just lun.
func (s sysfs) scanHost(host, lun int) error {
	what := "- - -"
	if lun >= 0 {
		what = "- - " + strconv.Itoa(lun)
	}
	p := filepath.Join(s.Root, "class/scsi_host", "host"+strconv.Itoa(host), "scan")
	if err := s.WriteFile(p, what); err != nil {
		return fmt.Errorf("scanning SCSI host %d (%s): %w", host, p, err)
	}
	return nil
}

// sessionDevices lists the block devices of session sid (filtered by lun
// if >= 0) and the SCSI devices seen (H:C:T:L).
func (s sysfs) sessionDevices(sid, lun int) (devs, scsi []string) {
	base := filepath.Join(s.Root, "class/iscsi_session", "session"+strconv.Itoa(sid), "device")
	luns, _ := filepath.Glob(filepath.Join(base, "target*", "*:*:*:*"))
	sort.Strings(luns)
	for _, l := range luns {
		hctl := filepath.Base(l)
		scsi = append(scsi, hctl)
		if lun >= 0 && !strings.HasSuffix(hctl, ":"+strconv.Itoa(lun)) {
			continue
		}
		disks, _ := filepath.Glob(filepath.Join(l, "block", "*"))
		sort.Strings(disks)
		for _, d := range disks {
			name := filepath.Base(d)
			devs = append(devs, name)
			parts, _ := filepath.Glob(filepath.Join(d, name+"*"))
			sort.Slice(parts, func(i, j int) bool {
				a, b := filepath.Base(parts[i]), filepath.Base(parts[j])
				if len(a) != len(b) {
					return len(a) < len(b)
				}
				return a < b
			})
			for _, p := range parts {
				if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
					devs = append(devs, filepath.Base(p))
				}
			}
		}
	}
	return devs, scsi
}

// waitDevices waits, bounded by ctx (or s.Default if ctx has no deadline),
// until at least one block device of the session exists and the set has
// not changed for s.Settle, and returns their /dev paths.
func (s sysfs) waitDevices(ctx context.Context, sid, host, lun int) ([]string, error) {
	if _, ok := ctx.Deadline(); !ok && s.Default > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Default)
		defer cancel()
	}
	start := time.Now()
	var last []string
	var lastChange time.Time
	var scsi []string
	for {
		devs, sc := s.sessionDevices(sid, lun)
		scsi = sc
		ready := len(devs) > 0
		if ready && s.DevRoot != "" {
			for _, d := range devs {
				if _, err := os.Stat(filepath.Join(s.DevRoot, d)); err != nil {
					ready = false
				}
			}
		}
		if !ready {
			devs = nil
		}
		if strings.Join(devs, " ") != strings.Join(last, " ") {
			last, lastChange = devs, time.Now()
		}
		if ready && time.Since(lastChange) >= s.Settle {
			out := make([]string, len(devs))
			for i, d := range devs {
				out[i] = "/dev/" + d
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			which := "any LUN"
			if lun >= 0 {
				which = "LUN " + strconv.Itoa(lun)
			}
			seen := "none"
			if len(scsi) > 0 {
				seen = strings.Join(scsi, ", ")
			}
			return nil, fmt.Errorf("no block device for %s of iscsi session %d (SCSI host %d) after %s (SCSI devices seen: %s); does the target export a disk LUN, and is sd_mod loaded? %w",
				which, sid, host, time.Since(start).Round(time.Millisecond), seen, errors.Join(ctx.Err()))
		case <-time.After(s.Poll):
		}
	}
}
