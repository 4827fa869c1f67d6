package generation

import (
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/server/internal/golden"
)

// TestNodeSideParses checks the contract with the init: the lines
// BootLine makes from the seed's parse to the generation's root.
func TestNodeSideParses(t *testing.T) {
	c := golden.Config(t, "[generations]\nceph_monitors = [\"192.168.1.10\", \"192.168.1.11:3300\"]\n")
	for _, seed := range []string{cmdline.SeedTmpfs, cmdline.SeedISCSI} {
		line, err := BootLine(c, seed, &Generation{Number: 2, Backend: "nfs", Image: "var/lib/sidus/generations/gen-0002.squashfs", RootHash: hash1})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := cmdline.Parse(line, nil, nil)
		if err != nil {
			t.Fatalf("node side rejects %q: %v", line, err)
		}
		if pc.Lower != cmdline.LowerImage || pc.Image != "var/lib/sidus/generations/gen-0002.squashfs" || pc.VerityRootHash != hash1 ||
			pc.NFSServer != "192.168.1.1" || pc.NFSPath != "/srv/nfsroot/sidus" {
			t.Errorf("%q: node side parsed %+v", line, pc)
		}
		line, err = BootLine(c, seed, &Generation{Number: 3, Backend: "rbd", Location: "sidus/gen-0003@gen", RootHash: hash1})
		if err != nil {
			t.Fatal(err)
		}
		pc, err = cmdline.Parse(line, nil, nil)
		if err != nil {
			t.Fatalf("node side rejects %q: %v", line, err)
		}
		if pc.Lower != cmdline.LowerRBD || pc.RBD.String() != "sidus/gen-0003@gen" || len(pc.CephMons) != 2 || pc.CephMons[1] != "192.168.1.11:3300" || pc.VerityRootHash != hash1 {
			t.Errorf("%q: node side parsed %+v", line, pc)
		}
		// With the generation's own user and initrd.
		line, err = BootLine(c, seed, &Generation{Number: 4, Backend: "rbd", Location: "sidus/gen-0004@gen", CephUser: User(4), Initrd: InitrdName(4)})
		if err != nil {
			t.Fatal(err)
		}
		pc, err = cmdline.Parse(line, nil, nil)
		if err != nil {
			t.Fatalf("node side rejects %q: %v", line, err)
		}
		if pc.Lower != cmdline.LowerRBD || pc.RBD.String() != "sidus/gen-0004@gen" || pc.CephUser != "sidus-gen-0004" || !strings.Contains(line, " initrd=initrd.img-Sidus,gen-0004.img ") {
			t.Errorf("%q: node side parsed %+v", line, pc)
		}
	}
}
