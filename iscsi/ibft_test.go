package iscsi

import (
	"errors"
	"io/fs"
	"maps"
	"net"
	"strings"
	"testing"
	"testing/fstest"
)

// ibftFS is a /sys/firmware/ibft as the kernel's iscsi_ibft shows it.
func ibftFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for p, v := range files {
		m[p] = &fstest.MapFile{Data: []byte(v + "\n")}
	}
	return m
}

var ibftBase = map[string]string{
	"initiator/initiator-name": "iqn.2013-04.zone.sidus:node7",
	"initiator/flags":          "3",
	"target0/flags":            "3",
	"target0/ip-addr":          "192.168.77.1",
	"target0/port":             "3260",
	"target0/lun":              "01000000",
	"target0/target-name":      "iqn.2013-04.zone.sidus.target:192.168.77.7",
	"target0/nic-assoc":        "0",
	"target0/chap-type":        "2",
	"target0/chap-name":        "node7",
	"target0/chap-secret":      "s3cret-chap-777",
	"target0/rev-chap-name":    "target7",
	"target0/rev-chap-secret":  "s3cret-rev-7777",
	"target1/flags":            "0", // not valid: skipped
	"target1/ip-addr":          "192.168.77.9",
	"target1/target-name":      "iqn.x:unused",
	"ethernet0/flags":          "3",
	"ethernet0/mac":            "52:54:00:77:00:17",
	"ethernet0/ip-addr":        "192.168.77.7",
	"ethernet0/subnet-mask":    "255.255.255.0",
	"ethernet0/gateway":        "192.168.77.254",
	"ethernet0/primary-dns":    "192.168.77.1",
	"ethernet0/secondary-dns":  "0.0.0.0",
	"ethernet0/dhcp":           "0.0.0.0",
	"ethernet0/origin":         "1",
	"ethernet0/hostname":       "node7",
	"ethernet0/index":          "0",
}

func TestReadIBFT(t *testing.T) {
	tb, err := ReadIBFT(ibftFS(ibftBase))
	if err != nil {
		t.Fatal(err)
	}
	if tb.Initiator != "iqn.2013-04.zone.sidus:node7" || len(tb.Targets) != 1 || len(tb.NICs) != 1 {
		t.Fatalf("table %+v", tb)
	}
	tg := tb.Targets[0]
	want := IBFTTarget{Index: 0, IP: "192.168.77.1", Port: 3260, LUN: 1, Name: "iqn.2013-04.zone.sidus.target:192.168.77.7",
		Username: "node7", Password: "s3cret-chap-777", InUsername: "target7", InPassword: "s3cret-rev-7777"}
	if tg != want {
		t.Errorf("target %+v\nwant %+v", tg, want)
	}
	nic := tb.NICs[0]
	if nic.MAC.String() != "52:54:00:77:00:17" || !nic.IP.Equal(net.IPv4(192, 168, 77, 7)) || nic.PrefixLen != 24 ||
		!nic.Gateway.Equal(net.IPv4(192, 168, 77, 254)) || len(nic.DNS) != 1 || nic.Hostname != "node7" || nic.DHCP {
		t.Errorf("nic %+v", nic)
	}
	kv := tg.Keys()
	wantKV := map[string]string{KeyTargetIP: "192.168.77.1", KeyTargetName: want.Name, KeyTargetPort: "3260", KeyLUN: "1",
		KeyUsername: "node7", KeyPassword: "s3cret-chap-777", KeyInUsername: "target7", KeyInPassword: "s3cret-rev-7777"}
	if !maps.Equal(kv, wantKV) {
		t.Errorf("Keys() = %v", kv)
	}
	if s := tg.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "(CHAP)") {
		t.Errorf("String() = %q", s)
	}
	if p, err := ParseParams(kv); err != nil || p.LUN != 1 || p.InPassword != "s3cret-rev-7777" || p.Portals[0] != "192.168.77.1" {
		t.Errorf("ParseParams(Keys()) = %v, %v", p, err)
	}
}

func TestReadIBFTVariants(t *testing.T) {
	with := func(changes map[string]string, drop ...string) fstest.MapFS {
		m := maps.Clone(ibftBase)
		for _, d := range drop {
			delete(m, d)
		}
		maps.Copy(m, changes)
		return ibftFS(m)
	}
	// One-way CHAP keeps no reverse credentials; no CHAP keeps none.
	tb, err := ReadIBFT(with(map[string]string{"target0/chap-type": "1"}))
	if err != nil || tb.Targets[0].Username != "node7" || tb.Targets[0].InUsername != "" {
		t.Errorf("chap-type 1: %+v %v", tb, err)
	}
	tb, err = ReadIBFT(with(map[string]string{"target0/chap-type": "0"}))
	if err != nil || tb.Targets[0].Username != "" || tb.Targets[0].Password != "" {
		t.Errorf("chap-type 0: %+v %v", tb, err)
	}
	// DHCP origin, prefix-len, an IPv6 target, an unreadable LUN.
	tb, err = ReadIBFT(with(map[string]string{"ethernet0/origin": "3", "ethernet0/prefix-len": "16",
		"target0/ip-addr": "fd00::1", "target0/lun": "0a1b000000"}))
	if err != nil || !tb.NICs[0].DHCP || tb.NICs[0].PrefixLen != 16 || tb.Targets[0].IP != "fd00::1" || tb.Targets[0].LUN != -1 {
		t.Errorf("variants: %+v %v", tb, err)
	}
	if _, ok := tb.Targets[0].Keys()[KeyLUN]; ok {
		t.Errorf("an unreadable LUN is not 'every LUN'")
	}
	// No iBFT at all.
	if _, err := ReadIBFT(fstest.MapFS{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty: %v, want fs.ErrNotExist", err)
	}
	// Malformed values name the file.
	for file, v := range map[string]string{
		"target0/ip-addr": "not-an-ip", "target0/port": "99999", "ethernet0/mac": "zz", "ethernet0/vlan": "5000", "target0/flags": "x",
	} {
		_, err := ReadIBFT(with(map[string]string{file: v}))
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s=%s: err = %v, want one naming the file", file, v, err)
		}
	}
	if _, err := ReadIBFT(with(nil, "target0/ip-addr")); err == nil || !strings.Contains(err.Error(), "target0/ip-addr") {
		t.Errorf("a target without an address: %v", err)
	}
}

func TestIBFTLUN(t *testing.T) {
	for s, want := range map[string]int{"00000000": 0, "01000000": 1, "0f000000": 15, "40020000": 1024, "": -1, "0": -1, "0a1b000000": -1, "0g000000": -1} {
		if got := ibftLUN(s); got != want {
			t.Errorf("ibftLUN(%q) = %d, want %d", s, got, want)
		}
	}
}

func FuzzReadIBFT(f *testing.F) {
	f.Add("3", "192.168.77.1", "3260", "01000000", "52:54:00:77:00:17", "24")
	f.Fuzz(func(t *testing.T, flags, ip, port, lun, mac, prefix string) {
		_, _ = ReadIBFT(ibftFS(map[string]string{
			"initiator/initiator-name": "iqn.x", "target0/flags": flags, "target0/ip-addr": ip, "target0/port": port,
			"target0/lun": lun, "target0/target-name": "iqn.y", "ethernet0/mac": mac, "ethernet0/prefix-len": prefix,
		}))
	})
}
