package setup

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/server/internal/golden"
	"github.com/sidus-go/sidus/server/runner"
)

func TestSetupIdempotent(t *testing.T) {
	d := t.TempDir()
	c := golden.Config(t, "state_dir = \""+d+"/state\"\n[dhcp]\ninclude = \""+d+"/sidus.conf\"\nconf = \""+d+"/dhcpd.conf\"\n[nfs]\nexports = \""+d+"/sidus.exports\"\n")
	fr := &runner.Fake{}
	var log bytes.Buffer
	if err := Setup(context.Background(), c, fr, true, &log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.NFS.Exports); err == nil || len(fr.Calls) != 0 && !strings.Contains(strings.Join(fr.Lines(), " "), "exportfs") {
		t.Fatalf("dry run wrote: %v", fr.Lines())
	}
	fr.Calls = nil
	if err := Setup(context.Background(), c, fr, false, &log); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fr.Lines(), "\n"); got != "systemctl try-restart isc-dhcp-server\nexportfs -ra" {
		t.Errorf("commands:\n%s", got)
	}
	if !strings.Contains(log.String(), "to do: add the line  include \""+c.DHCP.Include+"\";") {
		t.Errorf("log:\n%s", log.String())
	}
	fr.Calls = nil
	log.Reset()
	if err := Setup(context.Background(), c, fr, false, &log); err != nil {
		t.Fatal(err)
	}
	if len(fr.Calls) != 0 || !strings.Contains(log.String(), "unchanged") {
		t.Errorf("second setup: %v\n%s", fr.Lines(), log.String())
	}
}
