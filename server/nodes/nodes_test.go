package nodes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/iscsi"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/internal/golden"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/u-root/mkuimage/cpio"
)

func TestValidate(t *testing.T) {
	c := golden.Config(t, "")
	existing := []Node{{Name: "node21", MAC: "52:54:00:00:00:21", IP: "192.168.1.21", Label: "tmpfs"}}
	ok := Request{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22"}
	for _, tc := range []struct {
		name string
		edit func(*Request)
		want string // "" = valid
	}{
		{"valid", func(r *Request) {}, ""},
		{"upper MAC ok", func(r *Request) { r.MAC = "52-54-00-AA-BB-CC" }, ""},
		{"iscsi default size", func(r *Request) { r.Label = "iscsi" }, ""},
		{"bad MAC", func(r *Request) { r.MAC = "52:54:00:zz:00:01" }, "--mac"},
		{"short MAC", func(r *Request) { r.MAC = "52:54:00:00:01" }, "six hex bytes"},
		{"long MAC", func(r *Request) { r.MAC = "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01" }, "six hex bytes"},
		{"multicast MAC", func(r *Request) { r.MAC = "01:00:5e:00:00:01" }, "multicast"},
		{"zero MAC", func(r *Request) { r.MAC = "00:00:00:00:00:00" }, "all zeros"},
		{"bad IP", func(r *Request) { r.IP = "192.168.1" }, "want an IPv4 address"},
		{"v6 IP", func(r *Request) { r.IP = "fd00::1" }, "want an IPv4 address"},
		{"IP outside", func(r *Request) { r.IP = "192.168.2.22" }, "outside the node network 192.168.1.0/24"},
		{"network IP", func(r *Request) { r.IP = "192.168.1.0" }, "network address"},
		{"broadcast IP", func(r *Request) { r.IP = "192.168.1.255" }, "broadcast"},
		{"server IP", func(r *Request) { r.IP = "192.168.1.1" }, "this server"},
		{"bad name", func(r *Request) { r.Name = "Node_22" }, "host name"},
		{"dash name", func(r *Request) { r.Name = "-n" }, "host name"},
		{"empty name", func(r *Request) { r.Name = "" }, "host name"},
		{"dup name", func(r *Request) { r.Name = "node21" }, "already used"},
		{"dup MAC", func(r *Request) { r.MAC = "52:54:00:00:00:21" }, "--mac 52:54:00:00:00:21: already used by another node, node21"},
		{"dup IP", func(r *Request) { r.IP = "192.168.1.21" }, "--ip 192.168.1.21: already used"},
		{"bad label", func(r *Request) { r.Label = "disk" }, "tmpfs or iscsi"},
		{"bad size", func(r *Request) { r.LUNSize = "lots" }, "LUN size"},
		{"small size", func(r *Request) { r.LUNSize = "1M" }, "too small"},
		{"chap without LUN", func(r *Request) { r.CHAP = true }, "needs an iSCSI LUN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			n, same, err := Validate(c, existing, r)
			if tc.want == "" {
				if err != nil || same {
					t.Fatalf("Validate = %v, same %v", err, same)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %+v, %v; want %q", n, err, tc.want)
			}
		})
	}
	n, same, err := Validate(c, existing, Request{Name: "node21", MAC: "52:54:00:00:00:21", IP: "192.168.1.21"})
	if err != nil || !same || n != existing[0] {
		t.Errorf("re-adding the same node: %v, same %v", err, same)
	}
	n, _, _ = Validate(c, nil, Request{Name: "n", MAC: "52-54-00-AA-BB-CC", IP: "192.168.1.9", LUNSize: "1G"})
	if n.MAC != "52:54:00:aa:bb:cc" || n.Label != "iscsi" || n.LUNSize != 1<<30 {
		t.Errorf("canonical node = %+v", n)
	}
}

var (
	tmpfsNode = Node{Name: "node21", MAC: "52:54:00:00:00:21", IP: "192.168.1.21", Label: "tmpfs"}
	iscsiNode = Node{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22", Label: "iscsi", LUNSize: 20 << 30, CHAP: true}
)

func TestGolden(t *testing.T) {
	c := golden.Config(t, "")
	pxe, err := PXEConfig(c, tmpfsNode)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "pxelinux-01-52-54-00-00-00-21", pxe)
	pxe, _ = PXEConfig(c, iscsiNode)
	golden.Check(t, "pxelinux-01-52-54-00-00-00-22", pxe)
	golden.Check(t, "tgt-sidus-192.168.1.22.conf", TgtConf(c, iscsiNode, "s3cretS3cret1234"))
	plain := iscsiNode
	plain.CHAP = false
	golden.Check(t, "tgt-sidus-192.168.1.22-nochap.conf", TgtConf(c, plain, ""))
	golden.Check(t, "iscsi.initramfs", ISCSIConf(iscsiNode, "s3cretS3cret1234"))
}

func TestNodeInitrd(t *testing.T) {
	img, err := NodeInitrd(iscsiNode, "s3cretS3cret1234")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NodeInitrd(iscsiNode, "s3cretS3cret1234")
	if !bytes.Equal(img, again) {
		t.Error("not reproducible")
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(img)))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range recs {
		if r.Name == "etc/iscsi.initramfs" {
			found = true
			if r.Mode&0o777 != 0o600 {
				t.Errorf("mode %o", r.Mode)
			}
			b, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			kv, err := iscsi.ReadConf(bytes.NewReader(b))
			if err != nil || kv["ISCSI_USERNAME"] != "node22" || kv["ISCSI_PASSWORD"] != "s3cretS3cret1234" {
				t.Errorf("the init reads %v, %v", kv, err)
			}
		}
	}
	if !found {
		t.Error("no etc/iscsi.initramfs")
	}
}

const tgtShow = `Target 1: iqn.2013-04.zone.sidus.target:192.168.1.22
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 3
            Initiator: iqn.2013-04.zone.sidus.target:default alias: node22
            Connection: 0
                IP Address: 192.168.1.22
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
        LUN: 1
            Type: disk
            Backing store path: /srv/iscsi/192.168.1.22.img
    Account information:
        node22
    ACL information:
        192.168.1.22
Target 4: iqn.2013-04.zone.sidus.target:192.168.1.23
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
`

func TestParseTgtShow(t *testing.T) {
	ts := ParseTgtShow(tgtShow)
	if len(ts) != 2 || ts[0].TID != 1 || ts[0].Sessions != 1 || ts[0].InitiatorIPs[0] != "192.168.1.22" ||
		ts[0].Backing[0] != "/srv/iscsi/192.168.1.22.img" || ts[1].TID != 4 || ts[1].Sessions != 0 {
		t.Errorf("ParseTgtShow = %+v", ts)
	}
}

type env struct {
	c    *config.Config
	fr   *runner.Fake
	m    *Manager
	log  bytes.Buffer
	show string // tgtadm show's answer; "" = tgtd down
}

func newEnv(t *testing.T, extra string) *env {
	d := t.TempDir()
	c := golden.Config(t, "state_dir = \""+d+"/state\"\ntree = \"/srv/nfsroot/sidus\"\n[tftp]\nroot = \""+d+"/tftp\"\n[dhcp]\ninclude = \""+d+"/dhcp/sidus.conf\"\n[iscsi]\ntgt_conf_dir = \""+d+"/tgt\"\nlun_dir = \""+d+"/lun\"\n"+extra)
	e := &env{c: c}
	e.fr = &runner.Fake{Respond: func(cmd runner.Cmd) (string, error) {
		if strings.Contains(strings.Join(cmd.Args, " "), "--op show") {
			if e.show == "" {
				return "", errors.New("tgtadm: can't connect to the tgt daemon")
			}
			return e.show, nil
		}
		return "", nil
	}}
	e.m = &Manager{Config: c, Runner: e.fr, Log: &e.log, Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 64))}
	return e
}

func TestAddListRemove(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.show = "Target 1: iqn.2013-04.zone.sidus.target:192.168.1.99\n"
	if _, err := e.m.Add(ctx, Request{Name: "node21", MAC: "52:54:00:00:00:21", IP: "192.168.1.21"}); err != nil {
		t.Fatal(err)
	}
	n, err := e.m.Add(ctx, Request{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22", LUNSize: "20G", CHAP: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.log.String())
	}
	p := PathsOf(e.c, n)
	st, err := os.Stat(p.LUN)
	if err != nil || st.Size() != 20<<30 {
		t.Fatalf("LUN: %v", err)
	}
	for _, f := range []string{p.PXE, p.TgtConf, p.Secret, p.Initrd, filepath.Join(e.c.StateDir, "nodes.toml")} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	inc, _ := os.ReadFile(e.c.DHCP.Include)
	if !strings.Contains(string(inc), "host node21 {") || !strings.Contains(string(inc), "fixed-address 192.168.1.22;") {
		t.Errorf("DHCP include:\n%s", inc)
	}
	secret := strings.Repeat(string(secretChars[7]), 16)
	lines := strings.Join(e.fr.Lines(), "\n")
	for _, w := range []string{
		"mkfs.ext4 -q -F -L ISCSI -m 0 -E lazy_itable_init=1,lazy_journal_init=1 " + p.LUN + ".new",
		"tgtadm --lld iscsi --op new --mode target --tid 2 -T iqn.2013-04.zone.sidus.target:192.168.1.22",
		"tgtadm --lld iscsi --op new --mode logicalunit --tid 2 --lun 1 -b " + p.LUN,
		"tgtadm --lld iscsi --op bind --mode target --tid 2 -I 192.168.1.22",
		"tgtadm --lld iscsi --op new --mode account --user node22 --password <redacted>",
		"systemctl try-restart isc-dhcp-server",
	} {
		if !strings.Contains(lines, w) {
			t.Errorf("no command %q in\n%s", w, lines)
		}
	}
	if strings.Contains(lines, secret) {
		t.Error("the secret shows in a command line")
	}
	if b, _ := os.ReadFile(p.TgtConf); !strings.Contains(string(b), "incominguser node22 "+secret) {
		t.Errorf("tgt conf:\n%s", b)
	}

	// Adding again changes nothing.
	e.fr.Calls = nil
	e.log.Reset()
	if _, err := e.m.Add(ctx, Request{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22", LUNSize: "20G", CHAP: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.log.String(), "node node22: unchanged") {
		t.Errorf("re-add log:\n%s", e.log.String())
	}

	// A duplicate IP: an error, and nothing written.
	before := snapshot(t, e)
	if _, err := e.m.Add(ctx, Request{Name: "node23", MAC: "52:54:00:00:00:23", IP: "192.168.1.22", LUNSize: "1G"}); !errors.Is(err, ErrExists) {
		t.Errorf("dup IP: %v", err)
	}
	if after := snapshot(t, e); after != before {
		t.Errorf("a rejected add changed files:\n%s\n---\n%s", before, after)
	}

	// List.
	e.show = tgtShow
	rows, err := e.m.List(ctx)
	if err != nil || len(rows) != 2 {
		t.Fatalf("List = %v, %v", rows, err)
	}
	if rows[1].Session != "yes" || rows[0].Session != "-" {
		t.Errorf("sessions: %+v", rows)
	}
	var tab bytes.Buffer
	WriteTable(&tab, rows)
	if !strings.Contains(tab.String(), "node22  52:54:00:00:00:22  192.168.1.22  iscsi  20G (CHAP)") {
		t.Errorf("table:\n%s", tab.String())
	}

	// Removing a LUN with a live session is refused, and changes nothing.
	if err := e.m.Remove(ctx, "node22", RemoveOptions{}); !errors.Is(err, ErrLiveSession) {
		t.Fatalf("rm with session: %v", err)
	}
	if after := snapshot(t, e); after != before {
		t.Error("a refused rm changed files")
	}
	e.show = strings.Replace(tgtShow, "        I_T nexus: 3\n", "", 1)
	if err := e.m.Remove(ctx, "node22", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.PXE, p.TgtConf, p.Secret, p.Initrd, p.LUN} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left after rm", f)
		}
	}
	if !strings.Contains(strings.Join(e.fr.Lines(), "\n"), "tgtadm --lld iscsi --op delete --mode target --tid 1") {
		t.Errorf("no target delete:\n%s", strings.Join(e.fr.Lines(), "\n"))
	}
	if err := e.m.Remove(ctx, "node22", RemoveOptions{}); err == nil || !strings.Contains(err.Error(), "no node node22 (known: node21)") {
		t.Errorf("rm twice: %v", err)
	}
}

func TestAddTgtFailureUndoes(t *testing.T) {
	e := newEnv(t, "")
	e.show = "\n"
	e.fr.Respond = func(cmd runner.Cmd) (string, error) {
		s := strings.Join(cmd.Args, " ")
		switch {
		case strings.Contains(s, "--op show"):
			return e.show, nil
		case strings.Contains(s, "--mode logicalunit"):
			return "", errors.New("tgtadm: invalid request")
		}
		return "", nil
	}
	before := snapshot(t, e)
	_, err := e.m.Add(context.Background(), Request{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22", LUNSize: "1G"})
	if err == nil || !strings.Contains(err.Error(), "files were removed again") {
		t.Fatalf("Add = %v", err)
	}
	if after := snapshot(t, e); after != before {
		t.Errorf("failed add left files:\n%s", after)
	}
}

func TestAddDryRun(t *testing.T) {
	e := newEnv(t, "")
	e.m.DryRun = true
	before := snapshot(t, e)
	if _, err := e.m.Add(context.Background(), Request{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22", LUNSize: "1G", CHAP: true}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, e); after != before {
		t.Errorf("dry run wrote:\n%s", after)
	}
	for _, w := range []string{"would create LUN", "would write " + e.c.DHCP.Include, "would write " + PathsOf(e.c, iscsiNode).PXE} {
		if !strings.Contains(e.log.String(), w) {
			t.Errorf("dry-run log lacks %q:\n%s", w, e.log.String())
		}
	}
}

func TestDnsmasqHostsFile(t *testing.T) {
	e := newEnv(t, "")
	d := filepath.Dir(e.c.DHCP.Include)
	e.c.DHCP.Server, e.c.DHCP.Hosts, e.c.DHCP.DnsmasqConf = config.Dnsmasq, d+"/hosts", d+"/dnsmasq.conf"
	e.c.DHCP.Reload = []string{"systemctl", "try-reload-or-restart", "dnsmasq"}
	if _, err := e.m.Add(context.Background(), Request{Name: "node21", MAC: "52:54:00:00:00:21", IP: "192.168.1.21"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(d + "/hosts")
	if !strings.HasSuffix(string(b), "\n52:54:00:00:00:21,192.168.1.21,node21\n") {
		t.Errorf("hosts file:\n%s", b)
	}
	if b, _ := os.ReadFile(d + "/dnsmasq.conf"); !strings.Contains(string(b), "dhcp-hostsfile="+d+"/hosts\n") {
		t.Errorf("dnsmasq conf:\n%s", b)
	}
	if _, err := os.Stat(e.c.DHCP.Include); err == nil {
		t.Error("isc include written for dnsmasq")
	}
}

// snapshot lists every file under the env's directories with its content.
func snapshot(t *testing.T, e *env) string {
	var b strings.Builder
	for _, dir := range []string{e.c.StateDir, e.c.TFTP.Root, filepath.Dir(e.c.DHCP.Include), e.c.ISCSI.ConfDir, e.c.ISCSI.LUNDir} {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				data := ""
				if info.Size() < 1<<20 {
					bb, _ := os.ReadFile(p)
					data = string(bb)
				}
				b.WriteString(p + "\n" + data + "\n")
			}
			return nil
		})
	}
	return b.String()
}
