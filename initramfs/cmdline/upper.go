package cmdline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// setUpper makes kind the writable layer, clearing what belongs to the others.
func (c *Config) setUpper(kind UpperKind, tmpfsSize, dev string, timeout time.Duration) {
	c.Upper, c.TmpfsSize, c.UpperDev, c.UpperDevTimeout = kind, tmpfsSize, dev, timeout
}

// parseAufs parses SIDUS's own aufs=tmpfs[:SIZE] | iscsi.
func (p *parser) parseAufs(key, v string) error {
	c := p.c
	p.writableParam, p.mkfs = key+"="+v, false
	switch {
	case v == "tmpfs":
		c.setUpper(UpperTmpfs, "", "", 0)
	case v == "iscsi":
		c.setUpper(UpperISCSI, "", "", 0)
	case strings.HasPrefix(v, "tmpfs:"):
		size := strings.TrimPrefix(v, "tmpfs:")
		if !validTmpfsSize(size) {
			return &ParamError{Param: key, Value: v,
				Reason: fmt.Sprintf("size %q is not digits with an optional k, m, g suffix or N%%", size), Expected: aufsForm}
		}
		c.setUpper(UpperTmpfs, size, "", 0)
	default:
		return &ParamError{Param: key, Value: v, Expected: aufsForm}
	}
	return nil
}

// overlayrootCommon are overlayroot's parameters common to every mode
// (overlayroot.conf "COMMON PARAMETERS"), with their defaults there. SIDUS
// has no use for them: it writes its own fstab (sidus.fstab=), mounts
// nothing else read-only, and puts the upper directory at the top of the
// writable layer.
var overlayrootCommon = map[string]string{"swap": "0", "recurse": "1", "debug": "0", "dir": "/overlay", "driver": ""}

// parseOverlayroot parses cloud-initramfs-tools' overlayroot= (its
// overlayroot.conf documents the forms): tmpfs[:opts] is aufs=tmpfs;
// device:dev=DEV[,timeout=N][,opts] and /dev/DEV put the writable layer on a
// local disk; crypt:... cannot be honoured (no dm-crypt) and becomes tmpfs;
// disabled (or empty) cannot be honoured either, since SIDUS always stacks
// a writable layer, and leaves the writable layer as it was.
func (p *parser) parseOverlayroot(key, v string) error {
	c := p.c
	mode, opts, _ := strings.Cut(v, ":")
	shown := redactOverlayPass(v)
	switch {
	case v == "" || v == "disabled":
		p.warn(key, v, "SIDUS always stacks a writable layer on the read-only NFS root; the writable layer stays %s", c.Upper)
		return nil
	case strings.HasPrefix(v, "/dev/"):
		mode, opts = "device", "dev="+v
	}
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: shown, Reason: reason, Expected: overlayrootForm}
	}
	kv, order, err := splitKV(opts)
	if err != nil {
		return bad(err.Error())
	}
	var ignored []string
	for _, k := range order {
		if def, ok := overlayrootCommon[k]; ok {
			if kv[k] != def {
				ignored = append(ignored, k+"="+kv[k])
			}
			delete(kv, k)
		}
	}
	switch mode {
	case "tmpfs":
		for _, k := range order {
			if _, ok := kv[k]; ok {
				ignored = append(ignored, k+"="+kv[k])
			}
		}
		c.setUpper(UpperTmpfs, "", "", 0)
		p.mkfs = false
	case "device":
		dev, ok := kv["dev"]
		if !ok || dev == "" {
			return bad("no dev= (the block device of the writable layer)")
		}
		if dev, err = upperDevice(dev); err != nil {
			return bad(err.Error())
		}
		var timeout time.Duration
		if s, ok := kv["timeout"]; ok {
			n, err := strconv.ParseUint(s, 10, 31)
			if err != nil || !allDigits(s) {
				return bad(fmt.Sprintf("timeout %q is not a whole number of seconds", s))
			}
			timeout = time.Duration(n) * time.Second
		}
		p.mkfs = false
		if s, ok := kv["mkfs"]; ok {
			switch s {
			case "0":
			case "1", "2":
				p.mkfs = true
				p.warn(key, shown, "mkfs=%s: %s is formatted (ext4) only if it is empty, as with sidus.format=empty", s, dev)
			default:
				return bad(fmt.Sprintf("mkfs %q is not 0, 1 or 2", s))
			}
		}
		for _, k := range order {
			if k != "dev" && k != "timeout" && k != "mkfs" {
				if _, ok := kv[k]; ok {
					ignored = append(ignored, k+"="+kv[k])
				}
			}
		}
		c.setUpper(UpperDevice, "", dev, timeout)
	case "crypt":
		p.warn(key, shown, "dm-crypt is not supported; the writable layer is tmpfs (nothing is written to dev=)")
		c.setUpper(UpperTmpfs, "", "", 0)
		p.mkfs = false
		ignored = nil
	default:
		return bad(fmt.Sprintf("unknown mode %q", mode))
	}
	if len(ignored) > 0 {
		p.warn(key, shown, "%s not supported; ignored", strings.Join(ignored, ", "))
	}
	p.writableParam = key + "=" + shown
	return nil
}

// splitKV splits overlayroot's "k=v,k=v" (keys of letters, digits and
// '_', as its parse_string checks). A later key wins.
func splitKV(s string) (map[string]string, []string, error) {
	kv := map[string]string{}
	var order []string
	if s == "" {
		return kv, nil, nil
	}
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			continue
		}
		k, val, _ := strings.Cut(item, "=")
		if !validOptionName(k) || strings.Contains(k, "-") {
			return nil, nil, fmt.Errorf("parameter %q is not key=value with a key of letters, digits and '_'", k+"=...")
		}
		if _, seen := kv[k]; !seen {
			order = append(order, k)
		}
		kv[k] = val
	}
	return kv, order, nil
}

// upperDevice checks overlayroot's dev= and names it as overlayroot's
// short2dev does: LABEL=<label>, UUID=<uuid>, a /dev path, or a bare
// name under /dev.
func upperDevice(dev string) (string, error) {
	switch {
	case strings.HasPrefix(dev, "LABEL="), strings.HasPrefix(dev, "UUID="):
		k, val, _ := strings.Cut(dev, "=")
		if val == "" {
			return "", fmt.Errorf("dev=%s: empty %s", dev, k)
		}
		return dev, nil
	case !strings.HasPrefix(dev, "/"):
		dev = "/dev/" + dev
	}
	if !strings.HasPrefix(dev, "/dev/") || len(dev) == len("/dev/") || strings.Contains(dev, "/../") || strings.HasSuffix(dev, "/..") {
		return "", fmt.Errorf("dev=%s is not a device under /dev, LABEL=<label> or UUID=<uuid>", dev)
	}
	return dev, nil
}

// redactOverlayPass hides the pass= of overlayroot=crypt:... in messages.
func redactOverlayPass(v string) string {
	mode, opts, ok := strings.Cut(v, ":")
	if !ok {
		return v
	}
	items := strings.Split(opts, ",")
	for i, it := range items {
		if k, val, _ := strings.Cut(it, "="); k == "pass" && val != "" {
			items[i] = "pass=***"
		}
	}
	return mode + ":" + strings.Join(items, ",")
}
