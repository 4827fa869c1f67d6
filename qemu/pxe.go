package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The seed's (sidus-2013.txt) pxelinux APPEND lines, verbatim.
const (
	SeedTmpfsLabel = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs"
	SeedISCSILabel = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI "
)

// File names in the TFTP folder, as in the seed.
const (
	PXEKernel = "vmlinuz-Sidus"
	PXEInitrd = "initrd.img-Sidus"
)

// Host files pxelinux needs.
var (
	PXELinux = "/usr/lib/PXELINUX/pxelinux.0"
	LDLinux  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// PXEConfig returns a pxelinux.cfg file that boots one label, with the
// pxelinux prompt on the serial port (SERIAL 0) so tests see it.
func PXEConfig(label, appendLine string) string {
	return fmt.Sprintf("SERIAL 0 115200\nDEFAULT %s\nPROMPT 0\nTIMEOUT 0\n\nLABEL %s\nKERNEL %s\nAPPEND %s\n",
		label, label, PXEKernel, appendLine)
}

// PXEDir writes a pxelinux TFTP folder in dir: pxelinux.0, ldlinux.c32,
// vmlinuz-Sidus (a copy of kernel), initrd.img-Sidus (a copy of initrd),
// pxelinux.cfg/default = defaultCfg and, for each MAC of perMAC,
// pxelinux.cfg/01-aa-bb-cc-dd-ee-ff.
func PXEDir(dir, kernel, initrd, defaultCfg string, perMAC map[string]string) error {
	cfgDir := filepath.Join(dir, "pxelinux.cfg")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{
		PXELinux: "pxelinux.0",
		LDLinux:  "ldlinux.c32",
		kernel:   PXEKernel,
		initrd:   PXEInitrd,
	} {
		if src == "" {
			continue
		}
		if err := copyFile(src, filepath.Join(dir, dst), 0o644); err != nil {
			return fmt.Errorf("PXE folder: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "default"), []byte(defaultCfg), 0o644); err != nil {
		return err
	}
	for mac, cfg := range perMAC {
		if err := os.WriteFile(filepath.Join(cfgDir, PXEMACFile(mac)), []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// PXEMACFile is pxelinux's per-MAC config name: 01-aa-bb-cc-dd-ee-ff.
func PXEMACFile(mac string) string {
	return "01-" + strings.ToLower(strings.NewReplacer(":", "-").Replace(mac))
}

// SerialConsole turns a seed APPEND line (console=tty1) into one for the
// serial console the harness reads.
func SerialConsole(appendLine string) string {
	return strings.Replace(strings.TrimSpace(appendLine), "console=tty1", "console=ttyS0", 1)
}
