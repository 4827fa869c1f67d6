// Package pxe writes a pxelinux TFTP folder like the seed's (pxelinux.0,
// ldlinux.c32, vmlinuz-Sidus, initrd.img-Sidus, pxelinux.cfg/default and
// per-MAC files) for the lab's dnsmasq to serve. The seed's APPEND lines
// themselves are initramfs/cmdline's SeedTmpfs and SeedISCSI.
package pxe

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// File names in the TFTP folder, as in the seed.
const (
	KernelFile = "vmlinuz-Sidus"
	InitrdFile = "initrd.img-Sidus"
)

// Host files pxelinux needs (apt packages pxelinux and syslinux-common).
const (
	PXELinux = "/usr/lib/PXELINUX/pxelinux.0"
	LDLinux  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

//go:embed pxelinux.cfg.tmpl
var configText string

var configTmpl = template.Must(template.New("pxelinux.cfg").Parse(configText))

// Config returns a pxelinux.cfg file that boots one label (KERNEL
// vmlinuz-Sidus, APPEND appendLine), with the pxelinux prompt on the
// serial port (SERIAL 0) so tests see it.
func Config(label, appendLine string) string {
	var b strings.Builder
	if err := configTmpl.Execute(&b, struct{ Label, Kernel, Append string }{label, KernelFile, appendLine}); err != nil {
		panic(err) // the template only prints strings
	}
	return b.String()
}

// Dir writes a pxelinux TFTP folder in dir: pxelinux.0, ldlinux.c32,
// vmlinuz-Sidus (a copy of kernel), initrd.img-Sidus (a copy of initrd),
// pxelinux.cfg/default = defaultCfg and, for each MAC of perMAC,
// pxelinux.cfg/01-aa-bb-cc-dd-ee-ff.
func Dir(dir, kernel, initrd, defaultCfg string, perMAC map[string]string) error {
	cfgDir := filepath.Join(dir, "pxelinux.cfg")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{
		PXELinux: "pxelinux.0",
		LDLinux:  "ldlinux.c32",
		kernel:   KernelFile,
		initrd:   InitrdFile,
	} {
		if src == "" {
			continue
		}
		if err := osutil.CopyFile(src, filepath.Join(dir, dst), 0o644); err != nil {
			return fmt.Errorf("PXE folder: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "default"), []byte(defaultCfg), 0o644); err != nil {
		return err
	}
	for mac, cfg := range perMAC {
		if err := os.WriteFile(filepath.Join(cfgDir, MACFile(mac)), []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// MACFile is pxelinux's per-MAC config name: 01-aa-bb-cc-dd-ee-ff.
func MACFile(mac string) string {
	return "01-" + strings.ToLower(strings.NewReplacer(":", "-").Replace(mac))
}

// SerialConsole turns a seed APPEND line (console=tty1) into one for the
// serial console the harness reads.
func SerialConsole(appendLine string) string {
	return strings.Replace(strings.TrimSpace(appendLine), "console=tty1", "console=ttyS0", 1)
}
