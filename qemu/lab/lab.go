// Package lab runs the servers of a SIDUS network on this machine, out of
// the host's way: a network namespace with a bridge and tap devices for
// the VMs, and in it rpcbind, nfs-ganesha (NFSv3+v4, read-only export),
// dnsmasq (DHCP + TFTP) and, on demand, tgtd (iSCSI).
//
// The daemons also share a mount namespace of the lab's own, with a
// private tmpfs on /run (see holder.go): rpcbind's /run/rpcbind.sock,
// which ganesha registers through, and tgtd's /var/run/tgtd socket (on
// Debian /var/run is /run) are the lab's, not the host's. So a lab runs
// beside the host's own rpcbind or tgtd, and beside other labs: each has
// its own namespaces, and the same addresses and names inside them.
//
// Everything a lab starts is torn down by PID when the test ends (or
// Process.Close runs).
package lab

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
	"github.com/sidus-go/sidus/qemu/vm"
)

// Lab defaults. A lab lives in namespaces of its own, so every lab uses
// the same addresses and names.
const (
	DefaultServerIP = "192.168.77.1"
	DefaultPrefix   = 24
	// NFSPseudo is the NFSv4 pseudo path of the export (the seed's path).
	NFSPseudo = "/srv/nfsroot/sidus"
	// Bridge is the name of the lab's bridge inside its namespace.
	Bridge = "br0"
)

// DHCPHost is a fixed DHCP lease: dnsmasq --dhcp-host=MAC,IP,HOSTNAME.
type DHCPHost struct {
	MAC      string
	IP       string
	Hostname string
}

// Options configure Start.
type Options struct {
	// RootDir is the folder exported over NFS, read-only (required unless
	// NoNFS). NFSv3 clients mount its real path, NFSv4 clients NFSPseudo.
	RootDir string
	// RootPath is the DHCP option 17 (root-path) value; empty sends none.
	RootPath string
	// TFTPDir, if set, is served by dnsmasq's TFTP and pxelinux.0 is
	// offered as boot file (see package pxe).
	TFTPDir string
	// NFSStartDelay starts ganesha that long after the lab (in the
	// background), to test a node that boots before its NFS server.
	NFSStartDelay time.Duration
	NoDHCP        bool
	NoNFS         bool
	// Taps is the number of tap devices on the bridge, tap0..tapN-1 (0 → 1).
	Taps  int
	Hosts []DHCPHost
	// LeaseTime is the DHCP lease time (0 → 1h).
	LeaseTime time.Duration
	DNS       []string // DHCP option 6
	Domain    string   // DHCP option 15
	// ServerIP is the bridge address (DefaultServerIP if empty), /24.
	ServerIP string
	// DnsmasqArgs are appended to dnsmasq's arguments.
	DnsmasqArgs []string
	// Tgtd starts tgtd with an iSCSI portal on ServerIP:3260.
	Tgtd bool
	// NFSGrace gives ganesha an NFSv4 grace period (and lease) this long
	// after a restart, with its recovery state kept in Dir, as in
	// production; 0: graceless (a test's restarts are quicker).
	NFSGrace time.Duration
}

// Lab is a network namespace with a bridge, taps and servers: rpcbind,
// nfs-ganesha, dnsmasq (and tgtd on demand), which share a mount
// namespace with a private /run. Everything it starts is torn down, by
// PID, when the test ends (or Process.Close runs).
type Lab struct {
	NS        string // network namespace name, sidus-lab-<slot>
	ServerIP  string // bridge address: NFS, DHCP, TFTP and iSCSI server
	NFSv3Path string // the export's real path (NFSv3 mounts)
	NFSv4Path string // the export's pseudo path (NFSv4 mounts)
	Dir       string // configs, logs and state of the servers
	Opts      Options

	t      qemu.T
	ctx    context.Context
	cancel context.CancelFunc
	holder *holder // the process that keeps the mount namespace

	mu      sync.Mutex
	daemons []*Daemon
	closed  bool
	wg      sync.WaitGroup // background starters (NFSStartDelay)
}

// Daemon is a process the lab started in its namespaces.
type Daemon struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // stdout+stderr of the process
	done chan struct{}
	err  error
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.Cmd.Process.Pid }

// Exited is closed when the daemon has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// Start starts a lab for a test and fails the test if it cannot.
func Start(t testing.TB, o Options) *Lab {
	t.Helper()
	l, err := New(t, o)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	return l
}

// StartProcess starts a lab for a command (make demo, make bench); p.Close
// tears it down.
func StartProcess(p *qemu.Process, o Options) (*Lab, error) { return New(p, o) }

// New starts a lab whose teardown is registered with t.Cleanup. On error,
// what was started is already torn down (or will be by t's cleanups).
// Labs do not wait for each other: each takes a free slot (see slot.go),
// which names its network namespace.
func New(t qemu.T, o Options) (*Lab, error) {
	if o.Taps <= 0 {
		o.Taps = 1
	}
	if o.ServerIP == "" {
		o.ServerIP = DefaultServerIP
	}
	if o.LeaseTime == 0 {
		o.LeaseTime = time.Hour
	}
	if !o.NoNFS {
		if o.RootDir == "" {
			return nil, errors.New("lab.Options.RootDir is empty (set NoNFS for a lab without NFS)")
		}
		abs, err := filepath.Abs(o.RootDir)
		if err != nil {
			return nil, err
		}
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return nil, err
		}
		o.RootDir = abs
	}
	dir, err := os.MkdirTemp("", "sidus-lab-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	ns, release, err := claimSlot(t)
	if err != nil {
		return nil, err
	}
	t.Cleanup(release)

	ctx, cancel := context.WithCancel(context.Background())
	l := &Lab{
		NS:        ns,
		ServerIP:  o.ServerIP,
		NFSv3Path: o.RootDir,
		NFSv4Path: NFSPseudo,
		Dir:       dir,
		Opts:      o,
		t:         t,
		ctx:       ctx,
		cancel:    cancel,
	}
	if _, err := osutil.Run("", "ip", "netns", "add", l.NS); err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(l.teardown)

	if err := l.network(); err != nil {
		return nil, err
	}
	if l.holder, err = startHolder(l.NS, filepath.Join(l.Dir, "holder.log")); err != nil {
		return nil, err
	}
	if o.Tgtd {
		if err := l.startTgtd(); err != nil {
			return nil, err
		}
	}
	if !o.NoNFS {
		if err := l.startRpcbind(); err != nil {
			return nil, err
		}
		if o.NFSStartDelay > 0 {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				select {
				case <-time.After(o.NFSStartDelay):
				case <-l.ctx.Done():
					return
				}
				if err := l.startGanesha(); err != nil {
					t.Logf("lab %s: delayed NFS server: %v", l.NS, err)
				}
			}()
		} else if err := l.startGanesha(); err != nil {
			return nil, err
		}
	}
	if !o.NoDHCP {
		if err := l.startDnsmasq(); err != nil {
			return nil, err
		}
	}
	t.Logf("lab %s: server %s, taps %v, dir %s; to look inside: nsenter --target %d --mount --net",
		l.NS, l.ServerIP, l.Taps(), l.Dir, l.holder.pid())
	return l, nil
}

// Tap returns the name of the i-th tap device (in the lab's namespace).
func (l *Lab) Tap(i int) string { return "tap" + strconv.Itoa(i) }

// Taps returns the names of all tap devices.
func (l *Lab) Taps() []string {
	var s []string
	for i := 0; i < l.Opts.Taps; i++ {
		s = append(s, l.Tap(i))
	}
	return s
}

// MAC returns the fixed MAC address of the node on tap i: MAC(i).
func (l *Lab) MAC(i int) string { return MAC(i) }

// MAC is the MAC address of the VM on tap i of any lab, known before the
// lab starts (for Options.Hosts).
func MAC(i int) string { return fmt.Sprintf("52:54:00:77:00:%02x", i+0x10) }

// NetDev returns a tap NetDev for tap i with MAC(i).
func (l *Lab) NetDev(i int) vm.NetDev { return vm.NetDev{Tap: l.Tap(i), MAC: l.MAC(i)} }

// NFSRoot returns "SERVER:PATH" for the NFSv4 export, as in DHCP option 17
// or nfsroot=.
func (l *Lab) NFSRoot() string { return l.ServerIP + ":" + l.NFSv4Path }

// Wrap returns the command that runs argv in the lab's network namespace
// (ip netns exec NS argv...), which is how a VM reaches its tap: Lab is a
// vm.Netns. A nil Lab returns argv as is.
func (l *Lab) Wrap(argv []string) []string {
	if l == nil {
		return argv
	}
	return append([]string{"ip", "netns", "exec", l.NS}, argv...)
}

// enter returns the command that runs argv in the lab's network and mount
// namespaces (the daemons' private /run): nsenter execs argv, so the PID
// is argv's.
func (l *Lab) enter(argv []string) []string {
	return append([]string{"nsenter", "--target", strconv.Itoa(l.holder.pid()), "--mount", "--net", "--"}, argv...)
}

// Exec runs argv inside the lab's namespaces (where the daemons run) and
// returns its combined output.
func (l *Lab) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	full := l.enter(argv)
	out, err := exec.CommandContext(ctx, full[0], full[1:]...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("in %s: %s: %w: %s", l.NS, strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Run starts argv as a daemon inside the lab's namespaces, its output in
// Dir/name.log. The lab kills it (SIGTERM, then SIGKILL after 3 s) at
// teardown.
func (l *Lab) Run(name string, argv ...string) (*Daemon, error) {
	return l.start(name, l.enter(argv), argv)
}

// start starts full (argv wrapped by a namespace entry) as daemon name.
func (l *Lab) start(name string, full, argv []string) (*Daemon, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("lab %s is torn down; not starting %s", l.NS, name)
	}
	logPath := filepath.Join(l.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &Daemon{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	l.daemons = append(l.daemons, d)
	l.t.Logf("lab %s: started %s (pid %d): %s", l.NS, name, d.PID(), strings.Join(argv, " "))
	return d, nil
}

// Daemons returns the processes started so far (not the holder of the
// namespaces).
func (l *Lab) Daemons() []*Daemon {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Daemon(nil), l.daemons...)
}

// HolderPID is the process that keeps the lab's mount namespace (and its
// private /run): nsenter --target PID --mount --net enters the lab.
func (l *Lab) HolderPID() int { return l.holder.pid() }

func (l *Lab) network() error {
	cmds := [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", Bridge, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("%s/%d", l.ServerIP, DefaultPrefix), "dev", Bridge},
		{"link", "set", Bridge, "up"},
	}
	for _, tap := range l.Taps() {
		cmds = append(cmds,
			[]string{"tuntap", "add", "dev", tap, "mode", "tap"},
			[]string{"link", "set", tap, "master", Bridge},
			[]string{"link", "set", tap, "up"})
	}
	for _, c := range cmds {
		if _, err := osutil.Run("", append([]string{"ip", "-n", l.NS}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) startRpcbind() error {
	d, err := l.Run("rpcbind", "rpcbind", "-f", "-w")
	if err != nil {
		return err
	}
	return l.waitReady(d, 10*time.Second, func() error {
		_, err := l.Exec(l.ctx, "rpcinfo", "-p", "127.0.0.1")
		return err
	})
}

//go:embed ganesha.conf.tmpl
var ganeshaText string

var ganeshaTmpl = template.Must(template.New("ganesha.conf").Parse(ganeshaText))

// GaneshaConfig returns the nfs-ganesha configuration of the lab
// (ganesha.conf.tmpl): NFSv3 and v4 on bind:2049 (mountd on 20048), root
// exported read-only, its real path for v3 and NFSPseudo for v4, and
// private state in stateDir. grace > 0 gives NFSv4 a grace period of that
// many seconds after a restart (and a lease as long); 0: graceless.
func GaneshaConfig(bind, root, stateDir string, grace int) string {
	var b strings.Builder
	err := ganeshaTmpl.Execute(&b, struct {
		Bind, Recovery, Root, Pseudo string
		Grace, Lease                 int
	}{bind, filepath.Join(stateDir, "recovery"), root, NFSPseudo, grace, grace})
	if err != nil {
		panic(err) // the template only prints strings
	}
	return b.String()
}

// StartGanesha starts nfs-ganesha again after Kill(Daemon("ganesha")),
// with the same configuration and recovery state, and waits until it
// serves.
func (l *Lab) StartGanesha() error { return l.startGanesha() }

func (l *Lab) startGanesha() error {
	state := filepath.Join(l.Dir, "ganesha")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(state, "ganesha.conf")
	if err := os.WriteFile(conf, []byte(GaneshaConfig(l.ServerIP, l.NFSv3Path, state, int(l.Opts.NFSGrace.Seconds()))), 0o644); err != nil {
		return err
	}
	_, took, err := l.runGanesha("ganesha", conf)
	if err != nil {
		return err
	}
	l.t.Logf("lab %s: NFS server ready in %v: %s:%s (v4), %s:%s (v3)", l.NS,
		took.Round(time.Millisecond), l.ServerIP, l.NFSv4Path, l.ServerIP, l.NFSv3Path)
	return nil
}

// DnsmasqArgs returns dnsmasq's arguments for the lab (without the
// program): DHCP on the bridge, option 17 = RootPath, TFTP from TFTPDir.
func (l *Lab) DnsmasqArgs() []string {
	o := l.Opts
	base := l.ServerIP[:strings.LastIndex(l.ServerIP, ".")+1]
	a := []string{
		"--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
		"--user=root", "--group=root",
		"--port=0", "--interface=" + Bridge, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s100,%s199,255.255.255.0,%ds", base, base, int(o.LeaseTime.Seconds())),
		"--dhcp-authoritative", "--log-dhcp",
		"--dhcp-leasefile=" + filepath.Join(l.Dir, "dnsmasq.leases"),
		"--pid-file=" + filepath.Join(l.Dir, "dnsmasq.pid"),
	}
	if o.RootPath != "" {
		a = append(a, "--dhcp-option=17,"+o.RootPath)
	}
	if len(o.DNS) > 0 {
		a = append(a, "--dhcp-option=6,"+strings.Join(o.DNS, ","))
	}
	if o.Domain != "" {
		a = append(a, "--dhcp-option=15,"+o.Domain)
	}
	for _, h := range o.Hosts {
		s := "--dhcp-host=" + h.MAC
		if h.IP != "" {
			s += "," + h.IP
		}
		if h.Hostname != "" {
			s += "," + h.Hostname
		}
		a = append(a, s)
	}
	if o.TFTPDir != "" {
		a = append(a, "--enable-tftp", "--tftp-root="+o.TFTPDir, "--dhcp-boot=pxelinux.0,,"+l.ServerIP)
	}
	return append(a, o.DnsmasqArgs...)
}

// Daemon returns the last daemon started under name, or nil.
func (l *Lab) Daemon(name string) *Daemon {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.daemons) - 1; i >= 0; i-- {
		if l.daemons[i].Name == name {
			return l.daemons[i]
		}
	}
	return nil
}

// Kill ends d with SIGKILL, as a crash would, and waits for it.
func (l *Lab) Kill(d *Daemon) error {
	if err := d.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", d.Name, d.PID(), err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still runs 10 s after SIGKILL", d.Name, d.PID())
	}
	l.t.Logf("lab %s: killed %s (pid %d)", l.NS, d.Name, d.PID())
	return nil
}

// StartDnsmasq starts dnsmasq again (after Kill), with the same leases
// file; its output goes to Dir/name.log.
func (l *Lab) StartDnsmasq(name string) error { return l.runDnsmasq(name) }

func (l *Lab) startDnsmasq() error { return l.runDnsmasq("dnsmasq") }

func (l *Lab) runDnsmasq(name string) error {
	d, err := l.Run(name, append([]string{"dnsmasq"}, l.DnsmasqArgs()...)...)
	if err != nil {
		return err
	}
	return l.waitReady(d, 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(l.Dir, "dnsmasq.pid")); err != nil {
			return err
		}
		// Listening on UDP 67 means the DHCP server is up.
		out, err := l.Exec(l.ctx, "ss", "-lun", "sport", "= :67")
		if err == nil && !bytes.Contains(out, []byte(":67")) {
			return errors.New("dnsmasq not yet listening on :67")
		}
		return nil
	})
}

// waitReady polls ready until it succeeds, d exits or timeout passes.
func (l *Lab) waitReady(d *Daemon, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited (%v) before it was ready\n%s", d.Name, d.err, osutil.Tail(d.Log, 20))
		case <-l.ctx.Done():
			return fmt.Errorf("%s: lab torn down", d.Name)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v\n%s", d.Name, timeout, err, osutil.Tail(d.Log, 20))
		}
	}
}

// teardown kills every daemon (last started first), then the holder of
// the mount namespace, checks that nothing runs in the network namespace
// any more and deletes it.
func (l *Lab) teardown() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()

	if f, ok := l.t.(interface{ Failed() bool }); ok && f.Failed() {
		for _, d := range l.Daemons() {
			l.t.Logf("lab %s: tail of %s:\n%s", l.NS, d.Log, osutil.Tail(d.Log, 20))
		}
		if b := osutil.Tail(filepath.Join(l.Dir, "ganesha", "ganesha.log"), 20); b != "" {
			l.t.Logf("lab %s: tail of ganesha.log:\n%s", l.NS, b)
		}
	}
	ds := l.Daemons()
	for i := len(ds) - 1; i >= 0; i-- {
		osutil.Stop(ds[i].Cmd.Process, ds[i].done, 3*time.Second)
	}
	if l.holder != nil {
		l.holder.stop()
	}
	problems := removeNetns(l.NS)
	for _, p := range problems {
		if e, ok := l.t.(interface{ Errorf(string, ...any) }); ok {
			e.Errorf("lab teardown: %s", p)
		} else {
			l.t.Logf("lab teardown: %s", p)
		}
	}
	l.t.Logf("lab %s: torn down (%d processes)", l.NS, len(ds))
}

// removeNetns kills, by PID, what still runs in the network namespace ns
// (nothing should), deletes ns and returns what was wrong.
func removeNetns(ns string) []string {
	var problems []string
	if out, err := osutil.Run("", "ip", "netns", "pids", ns); err == nil && len(bytes.TrimSpace(out)) > 0 {
		pids := strings.Fields(string(out))
		problems = append(problems, fmt.Sprintf("processes left in namespace %s: %v (killed)", ns, pids))
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := osutil.Run("", "ip", "netns", "del", ns); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
		problems = append(problems, "namespace "+ns+" still exists")
	}
	return problems
}
