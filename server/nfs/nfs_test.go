package nfs

import (
	"testing"

	"github.com/sidus-go/sidus/server/internal/golden"
)

func TestGolden(t *testing.T) {
	golden.Check(t, "sidus.exports", ExportsFile(golden.Config(t, "")))
	golden.Check(t, "ganesha-sidus-export.conf", GaneshaExport(golden.Config(t, "[nfs]\nserver = \"nfs-ganesha\"\n")))
	golden.Check(t, "sidus-space.exports", ExportsFile(golden.Config(t, "tree = \"/srv/nfs root/sidus\"\n")))
}
