package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// The servers of a real SIDUS server, started from configuration files
// written by someone else (the sidus command, in e2e/server_test.go)
// instead of the lab's own dnsmasq and ganesha config: isc-dhcp-server's
// dhcpd, tftpd-hpa's in.tftpd, nfs-ganesha with a given main file, and
// tgt's tgt-admin over a conf.d. Start the lab with NoDHCP and NoNFS (and
// without Tgtd to start tgtd later with StartTgtd); every daemon here runs
// in the lab's namespaces (Lab.Run) and is torn down by PID with the lab.

// StartRpcbind starts rpcbind in the lab (which ganesha registers with),
// for a lab started with NoNFS.
func (l *Lab) StartRpcbind() error { return l.startRpcbind() }

// StartDhcpd starts isc-dhcp-server's dhcpd in the foreground on the
// lab's bridge, IPv4, with the configuration file conf and the lease file
// leases (created empty if missing), and waits until it listens on UDP 67:
//
//	dhcpd -f -d -4 -cf CONF -lf LEASES -pf DIR/NAME.pid br0
//
// Its log (-d: to stderr) is Dir/name.log.
func (l *Lab) StartDhcpd(name, conf, leases string) (*Daemon, error) {
	if _, err := os.Stat(leases); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(leases), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(leases, nil, 0o644); err != nil {
			return nil, err
		}
	}
	d, err := l.Run(name, "dhcpd", "-f", "-d", "-4", "-cf", conf, "-lf", leases,
		"-pf", filepath.Join(l.Dir, name+".pid"), Bridge)
	if err != nil {
		return nil, err
	}
	return d, l.waitUDP(d, 67)
}

// StartTFTPD starts tftpd-hpa's in.tftpd in the foreground, serving root
// (chrooted, as user nobody: files must be world-readable) on
// ServerIP:69, and waits until it listens:
//
//	in.tftpd -L -v -v -s -a SERVERIP:69 ROOT
func (l *Lab) StartTFTPD(name, root string) (*Daemon, error) {
	d, err := l.Run(name, "in.tftpd", "-L", "-v", "-v", "-s", "-a", l.ServerIP+":69", root)
	if err != nil {
		return nil, err
	}
	return d, l.waitUDP(d, 69)
}

// waitUDP waits until something listens on UDP port in the lab.
func (l *Lab) waitUDP(d *Daemon, port int) error {
	p := ":" + strconv.Itoa(port)
	return l.waitReady(d, 10*time.Second, func() error {
		out, err := l.Exec(l.ctx, "ss", "-lun", "sport", "= "+p)
		if err != nil {
			return err
		}
		if !bytes.Contains(out, []byte(p)) {
			return fmt.Errorf("%s not yet listening on UDP %s", d.Name, p)
		}
		return nil
	})
}

// GaneshaMainConfig is an nfs-ganesha main file for a lab whose EXPORT
// block is written by someone else and %include'd from here: the core
// settings of ganesha.conf.tmpl (NFSv3 and v4 on bind:2049, mountd on
// 20048, no NLM, graceless, numeric owners, recovery state in stateDir,
// no Kerberos, directory invalidation in the metadata cache) and, as
// EXPORT_DEFAULTS, no attribute caching: the tree changes behind
// ganesha's back (the live tree).
func GaneshaMainConfig(bind, stateDir, include string) string {
	return fmt.Sprintf(`# nfs-ganesha for a SIDUS lab (qemu/lab.GaneshaMainConfig).
NFS_CORE_PARAM {
	NFS_Port = 2049;
	MNT_Port = 20048;
	Bind_addr = %s;
	Protocols = 3, 4;
	Enable_NLM = false;
	Enable_RQUOTA = false;
}
NFSV4 {
	Graceless = true;
	Only_Numeric_Owners = true;
	RecoveryRoot = %q;
}
MDCACHE {
	Use_Getattr_Directory_Invalidation = true;
}
NFS_KRB5 {
	Active_krb5 = false;
}
EXPORT_DEFAULTS {
	Attr_Expiration_Time = 0;
}
%%include %q
`, bind, filepath.Join(stateDir, "recovery"), include)
}

// StartGaneshaConf starts nfs-ganesha with the main file conf (see
// GaneshaMainConfig), its log in Dir/ganesha/NAME.log, and waits until it
// serves ("NFS SERVER INITIALIZED"). rpcbind must run (StartRpcbind).
func (l *Lab) StartGaneshaConf(name, conf string) (*Daemon, error) {
	d, took, err := l.runGanesha(name, conf)
	if err != nil {
		return d, err
	}
	l.t.Logf("lab %s: NFS server (%s) ready in %v", l.NS, conf, took.Round(time.Millisecond))
	return d, nil
}

// runGanesha starts ganesha.nfsd as daemon name with conf (state, pid
// file and log NAME.log in Dir/ganesha, the previous log moved aside so
// that a restart waits for its own line), waits until it serves, logs its
// critical lines and returns how long it took to be ready.
func (l *Lab) runGanesha(name, conf string) (*Daemon, time.Duration, error) {
	state := filepath.Join(l.Dir, "ganesha")
	if err := os.MkdirAll(filepath.Join(state, "recovery"), 0o755); err != nil {
		return nil, 0, err
	}
	logf := filepath.Join(state, name+".log")
	if err := os.Rename(logf, logf+".old"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
	}
	d, err := l.Run(name, "ganesha.nfsd", "-F", "-f", conf, "-L", logf,
		"-p", filepath.Join(state, name+".pid"), "-N", "NIV_EVENT")
	if err != nil {
		return nil, 0, err
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
		return d, 0, fmt.Errorf("%w\n%s", err, osutil.Tail(logf, 30))
	}
	took := time.Since(start)
	b, _ := os.ReadFile(logf)
	for _, line := range strings.Split(string(b), "\n") {
		if (strings.Contains(line, ":CRIT :") || strings.Contains(line, ":FATAL :") || strings.Contains(line, ":MAJ :")) &&
			!strings.Contains(strings.ToLower(line), "dbus") && !strings.Contains(line, "krb5") {
			l.t.Logf("lab %s: ganesha: %s", l.NS, line)
		}
	}
	return d, took, nil
}

// ApplyTgtConfDir gives the running tgtd (StartTgtd) the targets of every
// *.conf file of confDir, as the tgt service does at start: it writes
// Dir/targets.conf ("include CONFDIR/*.conf") and runs
//
//	tgt-admin -e -c DIR/targets.conf
//
// in the lab, returning its output.
func (l *Lab) ApplyTgtConfDir(confDir string) (string, error) {
	conf := filepath.Join(l.Dir, "targets.conf")
	text := "# qemu/lab.ApplyTgtConfDir\ndefault-driver iscsi\ninclude " + filepath.Join(confDir, "*.conf") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return "", err
	}
	out, err := l.Exec(l.ctx, "tgt-admin", "-e", "-c", conf)
	return string(out), err
}
