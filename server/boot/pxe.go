// Package boot is what nodes fetch over TFTP: `sidus boot publish` packs
// initrd.img-Sidus for the tree's kernel with initramfs/image, installs it
// and vmlinuz-Sidus into the TFTP root atomically (keeping the previous
// pair for `sidus boot rollback`), and writes pxelinux.cfg/default with the
// seed's two labels and an iPXE script. The APPEND lines are built here
// from initramfs/cmdline's seed lines, for the default file and for the
// per-MAC files of package nodes alike.
package boot

import (
	"fmt"
	"strings"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/server/config"
)

// File names in the TFTP root, as in the seed.
const (
	KernelFile   = "vmlinuz-Sidus"
	InitrdFile   = "initrd.img-Sidus"
	PrevSuffix   = ".prev"
	PXEDir       = "pxelinux.cfg"
	DefaultFile  = PXEDir + "/default"
	IPXEFile     = "sidus.ipxe"
	ManifestFile = "sidus-boot.txt"
	// PXELinux is the boot file DHCP names (syslinux's pxelinux.0).
	PXELinux = "pxelinux.0"
)

// Labels are the seed's two pxelinux labels.
var Labels = []string{"tmpfs", "iscsi"}

// AppendLine is the kernel command line of a label: the seed's line with
// the configured console, filesystem label and extra parameters. extraInitrd,
// if set, is a second initrd loaded after initrd.img-Sidus (a node's own
// iSCSI secrets).
func AppendLine(c *config.Config, label, extraInitrd string) (string, error) {
	var line string
	switch label {
	case "tmpfs":
		line = cmdline.SeedTmpfs
	case "iscsi":
		line = cmdline.SeedISCSI
		if c.ISCSI.Label != "ISCSI" {
			line = strings.Replace(line, "root=LABEL=ISCSI", "root=LABEL="+c.ISCSI.Label, 1)
		}
	default:
		return "", fmt.Errorf("label %q: want tmpfs or iscsi", label)
	}
	line = strings.TrimSpace(line)
	if c.Boot.Console != "" {
		line = strings.Replace(line, "console=tty1", "console="+c.Boot.Console, 1)
	}
	if extraInitrd != "" {
		line = strings.Replace(line, "initrd="+InitrdFile, "initrd="+InitrdFile+","+extraInitrd, 1)
	}
	if a := strings.TrimSpace(c.Boot.Append); a != "" {
		line += " " + a
	}
	return line, nil
}

const header = "# Written by sidus: do not edit, it is rewritten.\n"

// labelBlock is one pxelinux LABEL. IPAPPEND 2 adds BOOTIF=01-MAC, so a
// node with several NICs brings up the one it booted from.
func labelBlock(label, line string) string {
	return "LABEL " + label + "\nKERNEL " + KernelFile + "\nAPPEND " + line + "\nIPAPPEND 2\n"
}

// DefaultConfig is pxelinux.cfg/default: the seed's two labels, booting
// boot.default_label without a prompt.
func DefaultConfig(c *config.Config) (string, error) {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("# Nodes added with `sidus node add` boot their own pxelinux.cfg/01-<mac>.\n")
	fmt.Fprintf(&b, "DEFAULT %s\nPROMPT 0\nTIMEOUT 0\n", c.Boot.DefaultLabel)
	for _, l := range Labels {
		line, err := AppendLine(c, l, "")
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + labelBlock(l, line))
	}
	return b.String(), nil
}

// NodeConfig is a node's pxelinux.cfg/01-<mac>: one label.
func NodeConfig(c *config.Config, name, label, extraInitrd string) (string, error) {
	line, err := AppendLine(c, label, extraInitrd)
	if err != nil {
		return "", err
	}
	return header + "# Node " + name + " (sidus node add).\nDEFAULT " + label + "\nPROMPT 0\nTIMEOUT 0\n\n" + labelBlock(label, line), nil
}

// IPXEScript is sidus.ipxe, for iPXE clients (DHCP filename sidus.ipxe,
// or `chain tftp://SERVER/sidus.ipxe`): the same two labels, chosen by the
// iPXE setting sidus-label (default boot.default_label). Paths are
// relative to the script's own URL.
func IPXEScript(c *config.Config) (string, error) {
	var b strings.Builder
	b.WriteString("#!ipxe\n" + header)
	fmt.Fprintf(&b, "isset ${sidus-label} || set sidus-label %s\ngoto ${sidus-label}\n", c.Boot.DefaultLabel)
	for _, l := range Labels {
		line, err := AppendLine(c, l, "")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n:%s\nkernel %s %s BOOTIF=01-${net0/mac:hexhyp}\ninitrd %s\nboot\n", l, KernelFile, line, InitrdFile)
	}
	return b.String(), nil
}

// MACFile is pxelinux's per-MAC config name, 01-aa-bb-cc-dd-ee-ff, for a
// MAC in canonical aa:bb:cc:dd:ee:ff form.
func MACFile(mac string) string {
	return PXEDir + "/01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
}
