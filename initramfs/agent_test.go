package initramfs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/iscsi"
)

func TestBootStartsAgent(t *testing.T) {
	f := newFake()
	f.files["/bin/sidus-agent"] = "\x7fELF agent"
	f.files["/etc/iscsi.initramfs"] = "ISCSI_USERNAME=node5\nISCSI_PASSWORD='s3cret-123456'\nISCSI_IN_USERNAME=tgt\nISCSI_IN_PASSWORD='s3cret-in-654321'\n"
	var fi fakeISCSI
	sess := &iscsi.Session{Target: "iqn.t:10.0.0.5", Portal: "10.0.0.2:3260", Devices: []string{"/dev/sda"}, SID: 3, CID: 0, TSIH: 7,
		ISID: iscsi.ISIDForSID(3)}
	opts := fi.stage(func(p iscsi.Params) (*iscsi.Session, error) { return sess, nil }, map[string]string{"/dev/sda": "ISCSI"})
	var recovery []int
	opts.ISCSI.SetRecovery = func(sid, cid, secs int) error { recovery = append(recovery, sid, secs); return nil }
	_, _ = bootWith(t, f, cmdline.SeedISCSI+" sidus.iscsi.recovery=30", &strings.Builder{}, opts)
	if f.agent == nil {
		t.Fatalf("no agent started; calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if f.agent.Path != handover.AgentPath || !strings.HasPrefix(f.files[handover.Exitrd], "\x7fELF") || f.files[handover.AgentPath] != "-> "+handover.Exitrd {
		t.Errorf("agent %q, exitrd %q, link %q", f.agent.Path, f.files[handover.Exitrd], f.files[handover.AgentPath])
	}
	if !strings.Contains(f.files[handover.Unit], "ExecStop=/run/sidus/sidus-agent stopping") || !strings.Contains(f.files[handover.UnitWants], "Wants=sidus-agent.service") {
		t.Errorf("unit:\n%s\ndrop-in:\n%s", f.files[handover.Unit], f.files[handover.UnitWants])
	}
	st, err := handover.Read(bytes.NewReader(f.agent.State))
	if err != nil {
		t.Fatal(err)
	}
	if st.Device != "eth0" || st.MAC != "52:54:00:12:34:56" || st.Lease == nil || st.Lease.IP != "10.0.0.5" || st.Lease.PrefixLen != 24 || st.Lease.Acquired == 0 {
		t.Errorf("handover: %+v lease %+v", st, st.Lease)
	}
	i := st.ISCSI
	if i == nil || i.SID != 3 || i.TSIH != 7 || i.ISID != iscsi.FormatISID(iscsi.ISIDForSID(3)) || i.Password != "s3cret-123456" ||
		i.InPassword != "s3cret-in-654321" || i.RecoverySeconds != 30 || strings.Join(i.Portals, ",") != "10.0.0.2:3260" {
		t.Errorf("iSCSI handover: %+v", i)
	}
	if len(recovery) != 2 || recovery[0] != 3 || recovery[1] != 30 {
		t.Errorf("recovery timeout set: %v, want session 3, 30 s", recovery)
	}
	// The secrets go on the pipe only.
	for p, c := range f.files {
		if p != "/etc/iscsi.initramfs" && strings.Contains(c, "s3cret") {
			t.Errorf("%s holds a secret", p)
		}
	}
}

func TestBootWithoutAgent(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	sess := &iscsi.Session{Target: "iqn.t:10.0.0.5", Portal: "10.0.0.2:3260", Devices: []string{"/dev/sda"}}
	opts := fi.stage(func(p iscsi.Params) (*iscsi.Session, error) { return sess, nil }, map[string]string{"/dev/sda": "ISCSI"})
	called := false
	opts.ISCSI.SetRecovery = func(sid, cid, secs int) error { called = true; return nil }
	var log strings.Builder
	_, _ = bootWith(t, f, cmdline.SeedISCSI, &log, opts)
	if f.agent != nil || called {
		t.Errorf("agent %v, recovery timeout changed %v, with no agent in the image", f.agent, called)
	}
	if !strings.Contains(log.String(), "no node agent in this image") {
		t.Errorf("no warning about the missing agent:\n%s", log.String())
	}
	if f.switched == "" {
		t.Error("the boot did not reach switch_root")
	}
}

// TestLiveLower: the agent watches a tree that changes (the NFS export, a
// CephFS directory), never an image root.
func TestLiveLower(t *testing.T) {
	for _, c := range []struct {
		lower cmdline.LowerKind
		nfs   string
		want  bool
	}{
		{cmdline.LowerNFS, "10.0.0.1", true},
		{cmdline.LowerNFS, "", false},
		{cmdline.LowerCephFS, "", true},
		{cmdline.LowerImage, "10.0.0.1", false},
		{cmdline.LowerRBD, "", false},
	} {
		b := &booter{res: &Result{Lower: c.lower, NFSServer: c.nfs}}
		if got := b.liveLower(); got != c.want {
			t.Errorf("lower %s (NFS server %q): liveLower = %v, want %v", c.lower, c.nfs, got, c.want)
		}
	}
}
