package vm

import (
	"slices"
	"strings"
	"testing"
)

var fixed = []string{"qemu-system-x86_64", "-nodefaults", "-no-user-config", "-accel", "tcg",
	"-display", "none", "-serial", "stdio", "-monitor", "none"}

func argv(parts ...string) []string { return append(slices.Clone(fixed), parts...) }

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{
			name: "kernel boot",
			o:    Options{Kernel: "/k/vmlinuz", Initrd: "/k/initrd", Append: "console=ttyS0 panic=-1"},
			want: argv("-m", "512M", "-kernel", "/k/vmlinuz", "-initrd", "/k/initrd", "-append", "console=ttyS0 panic=-1"),
		},
		{
			name: "kernel only, memory, cpu max, smp, no reboot",
			o:    Options{Kernel: "/k/vmlinuz", Memory: "1G", CPU: "max", SMP: 2, NoReboot: true},
			want: argv("-m", "1G", "-cpu", "max", "-smp", "2", "-no-reboot", "-kernel", "/k/vmlinuz"),
		},
		{
			name: "PXE boot over a tap: -boot n and no -kernel",
			o: Options{BootNet: true, Kernel: "/ignored", Initrd: "/ignored", Append: "ignored",
				NetDevs: []NetDev{{Tap: "tap0", MAC: "52:54:00:77:00:10"}}},
			want: argv("-m", "512M", "-boot", "n",
				"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:10"),
		},
		{
			name: "two taps, e1000 model",
			o: Options{Kernel: "/k", NetDevs: []NetDev{
				{Tap: "tap0"}, {Tap: "tap1", Model: "e1000", MAC: "52:54:00:00:00:01"}}},
			want: argv("-m", "512M", "-kernel", "/k",
				"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0",
				"-netdev", "tap,id=n1,ifname=tap1,script=no,downscript=no", "-device", "e1000,netdev=n1,mac=52:54:00:00:00:01"),
		},
		{
			name: "user networking: restrict=on and a guestfwd per service",
			o: Options{Kernel: "/k", NetDevs: []NetDev{{User: true, GuestFwd: []GuestFwd{
				{"10.0.2.100:2049", "127.0.0.1:2049"}, {"10.0.2.100:3260", "127.0.0.1:3260"}}}}},
			want: argv("-m", "512M", "-kernel", "/k",
				"-netdev", "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:2049-tcp:127.0.0.1:2049,guestfwd=tcp:10.0.2.100:3260-tcp:127.0.0.1:3260",
				"-device", "virtio-net-pci,netdev=n0"),
		},
		{
			name: "user networking PXE with TFTP",
			o:    Options{BootNet: true, NetDevs: []NetDev{{User: true, TFTP: "/tftp", BootFile: "pxelinux.0"}}},
			want: argv("-m", "512M", "-boot", "n",
				"-netdev", "user,id=n0,restrict=on,tftp=/tftp,bootfile=pxelinux.0",
				"-device", "virtio-net-pci,netdev=n0"),
		},
		{
			name: "disks",
			o:    Options{Kernel: "/k", Disks: []string{"/d/rw.img", "/d/b.img"}},
			want: argv("-m", "512M", "-kernel", "/k",
				"-drive", "file=/d/rw.img,format=raw,if=virtio,index=0",
				"-drive", "file=/d/b.img,format=raw,if=virtio,index=1"),
		},
		{
			name: "monitor socket instead of -monitor none",
			o:    Options{Kernel: "/k", Monitor: "/tmp/vm/monitor.sock"},
			want: append(append(slices.Clone(fixed[:len(fixed)-1]), "unix:/tmp/vm/monitor.sock,server=on,wait=off"), "-m", "512M", "-kernel", "/k"),
		},
		{
			name: "two taps for a bond, each with its MAC, and a data disk",
			o: Options{Kernel: "/k", Monitor: "/m.sock", NetDevs: []NetDev{
				{Tap: "tap0", MAC: "52:54:00:77:00:10"}, {Tap: "tap1", MAC: "52:54:00:77:00:11"}}, Disks: []string{"/d/scratch.img"}},
			want: append(append(slices.Clone(fixed[:len(fixed)-1]), "unix:/m.sock,server=on,wait=off"), "-m", "512M", "-kernel", "/k",
				"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:10",
				"-netdev", "tap,id=n1,ifname=tap1,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n1,mac=52:54:00:77:00:11",
				"-drive", "file=/d/scratch.img,format=raw,if=virtio,index=0"),
		},
		{
			name: "extra args last, custom program",
			o:    Options{QEMU: "/opt/qemu", Kernel: "/k", ExtraArgs: []string{"-d", "guest_errors"}},
			want: append(append([]string{"/opt/qemu"}, fixed[1:]...), "-m", "512M", "-kernel", "/k", "-d", "guest_errors"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.o.Argv()
			if !slices.Equal(got, tc.want) {
				t.Errorf("Argv() =\n  %q\nwant\n  %q", got, tc.want)
			}
			if err := tc.o.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

// TestArgvUserAlwaysRestricted: no NetDev value yields user networking
// without restrict=on (NetDev has no field to turn it off).
func TestArgvUserAlwaysRestricted(t *testing.T) {
	for _, n := range []NetDev{
		{User: true},
		{User: true, MAC: "52:54:00:00:00:01", Model: "e1000"},
		{User: true, GuestFwd: []GuestFwd{{"10.0.2.100:2049", "127.0.0.1:2049"}}},
		{User: true, TFTP: "/t", BootFile: "pxelinux.0"},
	} {
		a := Options{Kernel: "/k", NetDevs: []NetDev{n}}.Argv()
		i := slices.Index(a, "-netdev")
		if i < 0 || !strings.HasPrefix(a[i+1], "user,id=n0,restrict=on") {
			t.Errorf("NetDev %+v: argv %q has no restricted user netdev", n, a)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		bad  string // substring of the error
	}{
		{"unrestricted user netdev in ExtraArgs", Options{Kernel: "/k", ExtraArgs: []string{"-netdev", "user,id=x"}}, "restrict=on"},
		{"unrestricted -nic user", Options{Kernel: "/k", ExtraArgs: []string{"-nic", "user,model=virtio"}}, "restrict=on"},
		{"guestfwd to a non-loopback host", Options{Kernel: "/k", NetDevs: []NetDev{{User: true, GuestFwd: []GuestFwd{{"10.0.2.100:80", "192.0.2.1:80"}}}}}, "loopback"},
		{"neither tap nor user", Options{Kernel: "/k", NetDevs: []NetDev{{MAC: "52:54:00:00:00:01"}}}, "exactly one"},
		{"both tap and user", Options{Kernel: "/k", NetDevs: []NetDev{{Tap: "tap0", User: true}}}, "exactly one"},
		{"PXE without NIC", Options{BootNet: true}, "NetDev"},
		{"nothing to boot", Options{}, "nothing to boot"},
		{"relative monitor path", Options{Kernel: "/k", Monitor: "m.sock"}, "absolute socket path"},
		{"monitor path with a comma", Options{Kernel: "/k", Monitor: "/a,b.sock"}, "absolute socket path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("Validate() = %v, want error containing %q", err, tc.bad)
			}
		})
	}
	ok := Options{Kernel: "/k", ExtraArgs: []string{"-netdev", "user,id=x,restrict=on"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("restricted user netdev in ExtraArgs: %v", err)
	}
}

func TestSetLinkCommand(t *testing.T) {
	for _, tc := range []struct {
		i    int
		up   bool
		want string
	}{{0, false, "set_link n0 off"}, {1, true, "set_link n1 on"}, {12, false, "set_link n12 off"}} {
		if got := SetLinkCommand(tc.i, tc.up); got != tc.want {
			t.Errorf("SetLinkCommand(%d, %v) = %q, want %q", tc.i, tc.up, got, tc.want)
		}
	}
	// The id set_link names is the one Argv gives the netdev.
	a := Options{Kernel: "/k", NetDevs: []NetDev{{Tap: "tap0"}, {Tap: "tap1"}}}.Argv()
	if !slices.Contains(a, "tap,id="+NetDevID(1)+",ifname=tap1,script=no,downscript=no") {
		t.Errorf("argv %q has no netdev with id %s", a, NetDevID(1))
	}
}

func TestMonitorReply(t *testing.T) {
	for _, tc := range []struct{ in, cmd, want string }{
		{"set_link n0 off\r\n(qemu) ", "set_link n0 off", ""},
		{"\x1b[K\x1b[Dset_link n9 off\r\nError: could not find device 'n9'\r\n(qemu) ", "set_link n9 off", "Error: could not find device 'n9'"},
		{"info status\r\nVM status: running\r\n(qemu) ", "info status", "VM status: running"},
	} {
		if got := monitorReply(tc.in, tc.cmd); got != tc.want {
			t.Errorf("monitorReply(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
