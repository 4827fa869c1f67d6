package nodes

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sidus-go/sidus/initramfs/image"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/config"
)

// Paths are the files of one node.
type Paths struct {
	PXE     string // TFTP/pxelinux.cfg/01-<mac>
	LUN     string // LUNDIR/IP.img
	TgtConf string // tgt conf.d/sidus-IP.conf
	Secret  string // STATE/chap/NAME (0600)
	Initrd  string // TFTP/sidus-NAME.img (the node's CHAP initrd)
}

// PathsOf returns n's files.
func PathsOf(c *config.Config, n Node) Paths {
	return Paths{
		PXE:     filepath.Join(c.TFTP.Root, boot.MACFile(n.MAC)),
		LUN:     filepath.Join(c.ISCSI.LUNDir, n.IP+".img"),
		TgtConf: filepath.Join(c.ISCSI.ConfDir, "sidus-"+n.IP+".conf"),
		Secret:  filepath.Join(c.StateDir, "chap", n.Name),
		Initrd:  filepath.Join(c.TFTP.Root, InitrdName(n)),
	}
}

// InitrdName is the TFTP name of a node's CHAP initrd.
func InitrdName(n Node) string { return "sidus-" + n.Name + ".img" }

// TargetName is the node's iSCSI target: PREFIX:IP, the name the init's
// discovery picks by the node's IP.
func TargetName(c *config.Config, n Node) string { return c.ISCSI.TargetPrefix + ":" + n.IP }

// PXEConfig is n's pxelinux.cfg/01-<mac>.
func PXEConfig(c *config.Config, n Node) (string, error) {
	extra := ""
	if n.CHAP {
		extra = InitrdName(n)
	}
	return boot.NodeConfig(c, n.Name, n.Label, extra)
}

// TgtConf is n's target for tgt's conf.d (tgt-admin's targets.conf
// format): LUN 1 on the node's file, only the node's IP may log in, with
// CHAP when asked (secret given).
func TgtConf(c *config.Config, n Node, secret string) string {
	var b strings.Builder
	b.WriteString("# Written by sidus node add: do not edit (sidus node rm removes it).\n")
	fmt.Fprintf(&b, "<target %s>\n\tbacking-store %s\n\tinitiator-address %s\n", TargetName(c, n), PathsOf(c, n).LUN, n.IP)
	if n.CHAP {
		fmt.Fprintf(&b, "\tincominguser %s %s\n", n.Name, secret)
	}
	b.WriteString("</target>\n")
	return b.String()
}

// ISCSIConf is the node's /etc/iscsi.initramfs (sidus-init reads it; the
// command line wins): its CHAP credentials.
func ISCSIConf(n Node, secret string) string {
	return "# " + n.Name + "'s iSCSI login (sidus node add --chap)\nISCSI_USERNAME=" + n.Name + "\nISCSI_PASSWORD='" + secret + "'\n"
}

// NodeInitrd is the small uncompressed newc archive holding only
// /etc/iscsi.initramfs (mode 0600), loaded after initrd.img-Sidus; the
// kernel unpacks both into the same rootfs.
func NodeInitrd(n Node, secret string) ([]byte, error) {
	return image.ExtraInitrd(image.Secret{Path: layout.ISCSIConf, Data: []byte(ISCSIConf(n, secret))})
}

// Target is one target of `tgtadm --op show --mode target`.
type Target struct {
	TID  int
	Name string
	// Sessions is the number of I_T nexus (logged-in initiators).
	Sessions int
	// InitiatorIPs are the connected initiators' addresses.
	InitiatorIPs []string
	Backing      []string
}

// ParseTgtShow parses `tgtadm --lld iscsi --op show --mode target`.
func ParseTgtShow(text string) []Target {
	var out []Target
	var cur *Target
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "Target ") && strings.Contains(l, ": "):
			id, name, _ := strings.Cut(strings.TrimPrefix(l, "Target "), ": ")
			tid, err := strconv.Atoi(id)
			if err != nil {
				continue
			}
			out = append(out, Target{TID: tid, Name: strings.TrimSpace(name)})
			cur = &out[len(out)-1]
		case cur == nil:
		case strings.HasPrefix(l, "I_T nexus: "):
			cur.Sessions++
		case strings.HasPrefix(l, "IP Address: "):
			cur.InitiatorIPs = append(cur.InitiatorIPs, strings.TrimPrefix(l, "IP Address: "))
		case strings.HasPrefix(l, "Backing store path: "):
			if p := strings.TrimPrefix(l, "Backing store path: "); p != "None" {
				cur.Backing = append(cur.Backing, p)
			}
		}
	}
	return out
}
