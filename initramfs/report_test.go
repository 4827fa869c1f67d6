package initramfs

import (
	"encoding/json"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/netconf"
)

// boot.json: snake_case keys everywhere, the netmask as a prefix length,
// durations as seconds.
func TestReport(t *testing.T) {
	r := &Result{
		Lease: &Lease{Config: netconf.Config{Device: "eth0", IP: net.IPv4(10, 0, 0, 5).To4(), Netmask: net.CIDRMask(24, 32),
			Gateway: net.IPv4(10, 0, 0, 1).To4(), DNS: []net.IP{net.IPv4(10, 0, 0, 53).To4()}, ServerID: net.IPv4(10, 0, 0, 1).To4(),
			LeaseTime: 90 * time.Minute}, Proto: "dhcp", NextServer: net.IPv4(10, 0, 0, 2).To4(), RootPath: "/srv/nfsroot/sidus"},
		NFSServer: "10.0.0.2", NFSPath: "/srv/nfsroot/sidus", NFSVersion: "4.2", NFSOptions: "vers=4.2,addr=10.0.0.2",
		Upper: cmdline.UpperTmpfs, UpperDev: "tmpfs", Union: "overlay lowerdir=/ro", Modules: 3,
	}
	data, err := r.Report([]StageTiming{{"modules", 1500 * time.Millisecond}, {"network", 250 * time.Millisecond}}, 2.5, []string{ReportPath})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %s.%s is not snake_case", path, k)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", doc)
	lease := doc["lease"].(map[string]any)
	stages := doc["stages"].([]any)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"lease.prefix_len", lease["prefix_len"], 24.0},
		{"lease.ip", lease["ip"], "10.0.0.5"},
		{"lease.dns", lease["dns"], []any{"10.0.0.53"}},
		{"lease.next_server", lease["next_server"], "10.0.0.2"},
		{"lease.lease_seconds", lease["lease_seconds"], 5400.0},
		{"stages[0].seconds", stages[0].(map[string]any)["seconds"], 1.5},
		{"total_seconds", doc["total_seconds"], 2.5},
		{"nfs.version", doc["nfs"].(map[string]any)["version"], "4.2"},
		{"upper.kind", doc["upper"].(map[string]any)["kind"], "tmpfs"},
		{"modules_loaded", doc["modules_loaded"], 3.0},
	} {
		if g, w := jsonString(t, c.got), jsonString(t, c.want); g != w {
			t.Errorf("%s = %s, want %s", c.what, g, w)
		}
	}
	// ip=off: no lease at all.
	r.Lease = nil
	data, _ = r.Report(nil, 0, nil)
	doc = nil
	_ = json.Unmarshal(data, &doc)
	if _, ok := doc["lease"]; ok {
		t.Errorf("lease present without one: %s", data)
	}
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
