package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Lab defaults. The lab lives in its own network namespace, so every lab
// can use the same addresses.
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

// LabOptions configure StartLab.
type LabOptions struct {
	// RootDir is the folder exported over NFS, read-only (required unless
	// NoNFS). NFSv3 clients mount its real path, NFSv4 clients NFSPseudo.
	RootDir string
	// RootPath is the DHCP option 17 (root-path) value; empty sends none.
	RootPath string
	// TFTPDir, if set, is served by dnsmasq's TFTP and pxelinux.0 is
	// offered as boot file (see PXEDir).
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
}

// Lab is a network namespace with a bridge, taps and servers: rpcbind,
// nfs-ganesha, dnsmasq (and tgtd on demand). Everything it starts is
// torn down, by PID, when the test ends (or Process.Close runs).
type Lab struct {
	NS        string // network namespace name, sidus-<pid>-<n>
	ServerIP  string // bridge address: NFS, DHCP, TFTP and iSCSI server
	NFSv3Path string // the export's real path (NFSv3 mounts)
	NFSv4Path string // the export's pseudo path (NFSv4 mounts)
	Dir       string // configs, logs and state of the servers
	Opts      LabOptions

	t      T
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	daemons []*Daemon
	closed  bool
	wg      sync.WaitGroup // background starters (NFSStartDelay)
}

// Daemon is a process the lab started in its namespace.
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

var labSeq atomic.Int32

// StartLab starts a lab for a test and fails the test if it cannot.
func StartLab(t testing.TB, o LabOptions) *Lab {
	t.Helper()
	l, err := NewLab(t, o)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	return l
}

// StartLabProcess starts a lab for a command (make demo, make bench); p.Close
// tears it down.
func StartLabProcess(p *Process, o LabOptions) (*Lab, error) { return NewLab(p, o) }

// NewLab starts a lab whose teardown is registered with t.Cleanup. On
// error, what was started is already torn down (or will be by t's
// cleanups). Labs run one at a time per machine (rpcbind and tgtd keep
// their sockets in the host's /run), so NewLab waits on a lock.
func NewLab(t T, o LabOptions) (*Lab, error) {
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
			return nil, errors.New("LabOptions.RootDir is empty (set NoNFS for a lab without NFS)")
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

	// One lab at a time on this machine.
	lock := filepath.Join(os.TempDir(), "sidus-lab.lock")
	unlock, err := flockWait(lock, func() { t.Logf("lab: another lab runs on this machine; waiting for it to end (%s)", lock) })
	if err != nil {
		return nil, err
	}
	t.Cleanup(unlock)

	ctx, cancel := context.WithCancel(context.Background())
	l := &Lab{
		NS:        fmt.Sprintf("sidus-%d-%d", os.Getpid(), labSeq.Add(1)),
		ServerIP:  o.ServerIP,
		NFSv3Path: o.RootDir,
		NFSv4Path: NFSPseudo,
		Dir:       dir,
		Opts:      o,
		t:         t,
		ctx:       ctx,
		cancel:    cancel,
	}
	if _, err := run("", "ip", "netns", "add", l.NS); err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(l.teardown)

	if err := l.network(); err != nil {
		return nil, err
	}
	if o.Tgtd {
		if err := socketFree(tgtdSock, "tgtd"); err != nil {
			return nil, err
		}
		if err := l.startTgtd(); err != nil {
			return nil, err
		}
	}
	if !o.NoNFS {
		if err := socketFree(rpcbindSock, "rpcbind"); err != nil {
			return nil, err
		}
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
	t.Logf("lab %s: server %s, taps %v, dir %s", l.NS, l.ServerIP, l.Taps(), l.Dir)
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

// MAC returns a fixed MAC address for the node on tap i.
func (l *Lab) MAC(i int) string { return LabMAC(i) }

// LabMAC is the MAC address of the VM on tap i, known before the lab starts
// (for LabOptions.Hosts).
func LabMAC(i int) string { return fmt.Sprintf("52:54:00:77:00:%02x", i+0x10) }

// NetDev returns a tap NetDev for tap i with MAC(i).
func (l *Lab) NetDev(i int) NetDev { return NetDev{Tap: l.Tap(i), MAC: l.MAC(i)} }

// NFSRoot returns "SERVER:PATH" for the NFSv4 export, as in DHCP option 17
// or nfsroot=.
func (l *Lab) NFSRoot() string { return l.ServerIP + ":" + l.NFSv4Path }

// Exec runs argv inside the lab's namespace and returns its combined output.
func (l *Lab) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.NS}, argv...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("in %s: %s: %w: %s", l.NS, strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Run starts argv as a daemon inside the lab's namespace, its output in
// Dir/name.log. The lab kills it (SIGTERM, then SIGKILL after 3 s) at
// teardown.
func (l *Lab) Run(name string, argv ...string) (*Daemon, error) {
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
	// ip netns exec execs argv: the PID is the daemon's.
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.NS}, argv...)...)
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

// Daemons returns the processes started so far.
func (l *Lab) Daemons() []*Daemon {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Daemon(nil), l.daemons...)
}

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
		if _, err := run("", append([]string{"ip", "-n", l.NS}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

const rpcbindSock = "/run/rpcbind.sock"

const tgtdSock = "/run/tgtd/socket.0"

// socketFree fails if a daemon outside the lab serves the unix socket
// path: the lab's daemon would take it over (ip netns exec shares /run).
func socketFree(path, daemon string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("a %s already serves %s on this host; the lab's %s would replace it. Stop it (or the other lab) first", daemon, path, daemon)
}

// removeSockets removes the files the lab's rpcbind and tgtd leave in the
// host's /run, unless something serves them again.
func removeSockets() {
	for _, f := range [][]string{{rpcbindSock, "/run/rpcbind.lock"}, {tgtdSock, tgtdSock + ".lock"}} {
		if socketFree(f[0], "") == nil {
			os.Remove(f[0])
			os.Remove(f[1])
		}
	}
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

// GaneshaConfig returns the nfs-ganesha configuration of the lab: NFSv3
// and v4 on bind:2049 (mountd on 20048), root exported read-only, its
// real path for v3 and NFSPseudo for v4, and private state in stateDir.
func GaneshaConfig(bind, root, stateDir string) string {
	return fmt.Sprintf(`NFS_CORE_PARAM {
	NFS_Port = 2049;
	MNT_Port = 20048;
	Bind_addr = %s;
	Protocols = 3, 4;
	Enable_NLM = false;
	Enable_RQUOTA = false;
}
NFSV4 {
	Graceless = true;
	# Numeric owners, as knfsd does for sec=sys: a node has no idmapper, and
	# with names (root@localdomain) every file would look owned by nobody.
	Only_Numeric_Owners = true;
	RecoveryRoot = %q;
}
NFS_KRB5 {
	Active_krb5 = false;
}
EXPORT {
	Export_Id = 1;
	Path = %q;
	Pseudo = %q;
	Access_Type = RO;
	Squash = No_Root_Squash;
	SecType = sys;
	Protocols = 3, 4;
	Transports = TCP;
	FSAL {
		Name = VFS;
	}
}
`, bind, filepath.Join(stateDir, "recovery"), root, NFSPseudo)
}

func (l *Lab) startGanesha() error {
	state := filepath.Join(l.Dir, "ganesha")
	if err := os.MkdirAll(filepath.Join(state, "recovery"), 0o755); err != nil {
		return err
	}
	conf := filepath.Join(state, "ganesha.conf")
	if err := os.WriteFile(conf, []byte(GaneshaConfig(l.ServerIP, l.NFSv3Path, state)), 0o644); err != nil {
		return err
	}
	logf := filepath.Join(state, "ganesha.log")
	d, err := l.Run("ganesha", "ganesha.nfsd", "-F", "-f", conf, "-L", logf,
		"-p", filepath.Join(state, "ganesha.pid"), "-N", "NIV_EVENT")
	if err != nil {
		return err
	}
	start := time.Now()
	err = l.waitReady(d, 30*time.Second, func() error {
		b, _ := os.ReadFile(logf)
		if bytes.Contains(b, []byte("NFS SERVER INITIALIZED")) {
			return nil
		}
		return errors.New(`no "NFS SERVER INITIALIZED" in ` + logf)
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(logf, 30))
	}
	l.t.Logf("lab %s: NFS server ready in %v: %s:%s (v4), %s:%s (v3)", l.NS,
		time.Since(start).Round(time.Millisecond), l.ServerIP, l.NFSv4Path, l.ServerIP, l.NFSv3Path)
	b, _ := os.ReadFile(logf)
	for _, line := range strings.Split(string(b), "\n") {
		if (strings.Contains(line, ":CRIT :") || strings.Contains(line, ":FATAL :") || strings.Contains(line, ":MAJ :")) &&
			!strings.Contains(strings.ToLower(line), "dbus") && !strings.Contains(line, "krb5") {
			l.t.Logf("lab %s: ganesha: %s", l.NS, line)
		}
	}
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

func (l *Lab) startDnsmasq() error {
	d, err := l.Run("dnsmasq", append([]string{"dnsmasq"}, l.DnsmasqArgs()...)...)
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

// TgtdPortal is the iSCSI portal of a lab started with Tgtd.
func (l *Lab) TgtdPortal() string { return l.ServerIP + ":3260" }

func (l *Lab) startTgtd() error {
	d, err := l.Run("tgtd", "tgtd", "-f", "--iscsi", "portal="+l.TgtdPortal())
	if err != nil {
		return err
	}
	return l.waitReady(d, 10*time.Second, func() error {
		_, err := l.Exec(l.ctx, "tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "sys")
		return err
	})
}

// Tgtadm runs tgtadm --lld iscsi ARGS... in the lab (tgtd must run).
func (l *Lab) Tgtadm(args ...string) error {
	_, err := l.Exec(l.ctx, append([]string{"tgtadm", "--lld", "iscsi"}, args...)...)
	return err
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
			return fmt.Errorf("%s exited (%v) before it was ready\n%s", d.Name, d.err, tail(d.Log, 20))
		case <-l.ctx.Done():
			return fmt.Errorf("%s: lab torn down", d.Name)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v\n%s", d.Name, timeout, err, tail(d.Log, 20))
		}
	}
}

// teardown kills every daemon (last started first), checks that nothing
// runs in the namespace any more and deletes it.
func (l *Lab) teardown() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()

	if f, ok := l.t.(interface{ Failed() bool }); ok && f.Failed() {
		for _, d := range l.Daemons() {
			l.t.Logf("lab %s: tail of %s:\n%s", l.NS, d.Log, tail(d.Log, 20))
		}
		if b := tail(filepath.Join(l.Dir, "ganesha", "ganesha.log"), 20); b != "" {
			l.t.Logf("lab %s: tail of ganesha.log:\n%s", l.NS, b)
		}
	}
	ds := l.Daemons()
	for i := len(ds) - 1; i >= 0; i-- {
		stop(ds[i].Cmd.Process, ds[i].done, 3*time.Second)
	}
	removeSockets()
	var problems []string
	if out, err := run("", "ip", "netns", "pids", l.NS); err == nil && len(bytes.TrimSpace(out)) > 0 {
		pids := strings.Fields(string(out))
		problems = append(problems, fmt.Sprintf("processes left in namespace %s: %v (killed)", l.NS, pids))
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := run("", "ip", "netns", "del", l.NS); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := os.Stat(filepath.Join("/run/netns", l.NS)); err == nil {
		problems = append(problems, "namespace "+l.NS+" still exists")
	}
	for _, p := range problems {
		if e, ok := l.t.(interface{ Errorf(string, ...any) }); ok {
			e.Errorf("lab teardown: %s", p)
		} else {
			l.t.Logf("lab teardown: %s", p)
		}
	}
	l.t.Logf("lab %s: torn down (%d processes)", l.NS, len(ds))
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for done.
func stop(p *os.Process, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	p.Kill()
	<-done
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
