package nodes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/dhcp"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
)

// Manager adds, removes and lists nodes.
type Manager struct {
	Config *config.Config
	Runner runner.Runner
	Log    io.Writer
	DryRun bool
	// Rand draws CHAP secrets (default crypto/rand: this runs on the
	// server, never on a node).
	Rand io.Reader
}

func (m *Manager) logf(format string, a ...any) {
	if m.Log != nil {
		fmt.Fprintf(m.Log, format+"\n", a...)
	}
}

func (m *Manager) verb() string {
	if m.DryRun {
		return "would "
	}
	return ""
}

// done is "would be VERB" in dry-run mode, else VERB.
func (m *Manager) done(verb string) string {
	if m.DryRun {
		return "would be " + verb
	}
	return verb
}

func (m *Manager) dbPath() string { return filepath.Join(m.Config.StateDir, "nodes.toml") }

func (m *Manager) writer() *files.Writer { return &files.Writer{DryRun: m.DryRun, Log: m.Log} }

// Nodes returns the recorded nodes.
func (m *Manager) Nodes() ([]Node, error) {
	db, err := LoadDB(m.dbPath())
	if err != nil {
		return nil, err
	}
	return db.Nodes, nil
}

func hostsOf(nodes []Node) []dhcp.Host {
	var h []dhcp.Host
	for _, n := range nodes {
		h = append(h, dhcp.Host{Name: n.Name, MAC: n.MAC, IP: netip.MustParseAddr(n.IP)})
	}
	return h
}

// tgtadm runs tgtadm --lld iscsi ARGS.
func (m *Manager) tgtadm(ctx context.Context, readOnly bool, redact []string, args ...string) (string, error) {
	out, err := runner.Output(ctx, m.Runner, runner.Cmd{Args: append([]string{"tgtadm", "--lld", "iscsi"}, args...), ReadOnly: readOnly, Redact: redact})
	return string(out), err
}

// liveTargets returns tgtd's targets, or ok=false if tgtd does not answer.
func (m *Manager) liveTargets(ctx context.Context) ([]Target, bool) {
	out, err := m.tgtadm(ctx, true, nil, "--op", "show", "--mode", "target")
	if err != nil {
		return nil, false
	}
	return ParseTgtShow(out), true
}

// Add adds a node: it checks the request, creates the LUN (if any),
// writes the node's files and the DHCP files, applies the target live and
// reloads the DHCP server. Adding the same node again re-writes whatever
// is missing and changes nothing else.
func (m *Manager) Add(ctx context.Context, r Request) (Node, error) {
	c := m.Config
	db, err := LoadDB(m.dbPath())
	if err != nil {
		return Node{}, err
	}
	n, same, err := Validate(c, db.Nodes, r)
	if err != nil {
		return n, err
	}
	p := PathsOf(c, n)
	if same {
		m.logf("node %s is already recorded: checking its files", n.Name)
	} else {
		db.Nodes = append(db.Nodes, n)
	}

	// The CHAP secret: kept if the node had one.
	secret := ""
	if n.CHAP {
		if b, err := os.ReadFile(p.Secret); err == nil && same {
			secret = strings.TrimSpace(string(b))
		} else if secret, err = m.newSecret(); err != nil {
			return n, err
		}
	}

	// 1. The LUN, before any file names it.
	lunMade := false
	if n.LUNSize > 0 {
		made, err := m.makeLUN(ctx, n, p.LUN, same)
		if err != nil {
			return n, err
		}
		lunMade = made
	}
	undoLUN := func() {
		if lunMade && !m.DryRun {
			os.Remove(p.LUN)
		}
	}

	// 2. The files, all or none.
	tx := files.Txn{W: m.writer()}
	pxe, err := PXEConfig(c, n)
	if err != nil {
		undoLUN()
		return n, err
	}
	tx.Write(p.PXE, []byte(pxe), 0o644)
	if n.LUNSize > 0 {
		tx.Write(p.TgtConf, []byte(TgtConf(c, n, secret)), 0o600)
	}
	if n.CHAP {
		img, err := NodeInitrd(n, secret)
		if err != nil {
			undoLUN()
			return n, err
		}
		tx.Write(p.Secret, []byte(secret+"\n"), 0o600)
		// tftpd must be able to read it: TFTP has no access control, so
		// anyone on the node network can fetch it (as with the seed, whose
		// password was in the initrd). Keep that network private.
		tx.Write(p.Initrd, img, 0o644)
	}
	dhcp.Stage(c, hostsOf(db.Nodes), &tx)
	tx.Write(m.dbPath(), db.Encode(), 0o644)
	changed, err := tx.Commit()
	if err != nil {
		undoLUN()
		return n, fmt.Errorf("node %s: %w (nothing was changed)", n.Name, err)
	}

	// 3. The target, live.
	if n.LUNSize > 0 {
		if err := m.applyTarget(ctx, n, p, secret); err != nil {
			tx.Undo()
			undoLUN()
			return n, fmt.Errorf("node %s: %w (its files were removed again)", n.Name, err)
		}
	}
	if changed > 0 {
		if err := dhcp.Reload(ctx, c, m.Runner); err != nil {
			m.logf("warning: %v", err)
		}
	}
	if changed == 0 && !lunMade {
		m.logf("node %s: unchanged", n.Name)
	} else {
		m.logf("node %s %s: %s %s, label %s%s", n.Name, m.done("added"), n.MAC, n.IP, n.Label, lunNote(n))
	}
	return n, nil
}

func lunNote(n Node) string {
	if n.LUNSize == 0 {
		return ""
	}
	s := ", LUN " + config.FormatSize(n.LUNSize)
	if n.CHAP {
		s += " with CHAP"
	}
	return s
}

const secretChars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newSecret draws a 16-character CHAP secret (tgt and most initiators
// want 12 to 16 characters).
func (m *Manager) newSecret() (string, error) {
	r := m.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("CHAP secret: %w", err)
	}
	for i := range b {
		b[i] = secretChars[int(b[i])%len(secretChars)]
	}
	return string(b), nil
}

// makeLUN creates the sparse LUN file and formats it (ext4, the label),
// through a temp name so a failure leaves no half-made LUN. It reports
// whether it made one. An existing LUN is kept for the same node, and
// refused for a new one (it may hold another node's data).
func (m *Manager) makeLUN(ctx context.Context, n Node, path string, same bool) (bool, error) {
	if st, err := os.Stat(path); err == nil {
		if same {
			if st.Size() != n.LUNSize {
				m.logf("warning: LUN %s is %s, the node was added with %s", path, config.FormatSize(st.Size()), config.FormatSize(n.LUNSize))
			}
			return false, nil
		}
		return false, fmt.Errorf("LUN file %s already exists (a removed node's, kept with --keep-lun?): move it away or remove it, then add the node again", path)
	}
	c := m.Config
	m.logf("%screate LUN %s: %s sparse, ext4 labelled %s", m.verb(), path, config.FormatSize(n.LUNSize), c.ISCSI.Label)
	if m.DryRun {
		m.Runner.Run(ctx, mkfsCmd(c, path))
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("LUN directory: %w", err)
	}
	tmp := path + ".new"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false, fmt.Errorf("create LUN %s: %w", path, err)
	}
	err = f.Truncate(n.LUNSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("create LUN %s: %w (is iscsi.lun_dir on a filesystem with sparse files and enough room?)", path, err)
	}
	start := time.Now()
	if err := m.Runner.Run(ctx, mkfsCmd(c, tmp)); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("format LUN %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, err
	}
	m.logf("formatted %s in %.1fs", path, time.Since(start).Seconds())
	return true, nil
}

// mkfsCmd formats a LUN file: ext4 with the label, inode tables and
// journal initialised lazily (by the node's kernel) so the file stays
// sparse, no reserved blocks.
func mkfsCmd(c *config.Config, path string) runner.Cmd {
	return runner.Cmd{Args: []string{"mkfs.ext4", "-q", "-F", "-L", c.ISCSI.Label, "-m", "0",
		"-E", "lazy_itable_init=1,lazy_journal_init=1", path}}
}

// applyTarget creates the node's target in the running tgtd: a new TID,
// LUN 1, bound to the node's IP, and its CHAP account. If tgtd does not
// run, the target is only in its conf.d and appears when tgt starts.
func (m *Manager) applyTarget(ctx context.Context, n Node, p Paths, secret string) error {
	c := m.Config
	live, ok := m.liveTargets(ctx)
	if !ok {
		m.logf("note: tgtd does not answer (tgtadm --op show): target %s is in %s and is offered when tgt starts", TargetName(c, n), p.TgtConf)
		return nil
	}
	name := TargetName(c, n)
	tid := 1
	for _, t := range live {
		if t.Name == name {
			m.logf("target %s already live (tid %d)", name, t.TID)
			return nil
		}
		tid = max(tid, t.TID+1)
	}
	id := strconv.Itoa(tid)
	steps := [][]string{
		{"--op", "new", "--mode", "target", "--tid", id, "-T", name},
		{"--op", "new", "--mode", "logicalunit", "--tid", id, "--lun", "1", "-b", p.LUN},
		{"--op", "bind", "--mode", "target", "--tid", id, "-I", n.IP},
	}
	if n.CHAP {
		// Account names are global in tgtd: a leftover one is replaced.
		m.tgtadm(ctx, false, nil, "--op", "delete", "--mode", "account", "--user", n.Name)
		steps = append(steps,
			[]string{"--op", "new", "--mode", "account", "--user", n.Name, "--password", secret},
			[]string{"--op", "bind", "--mode", "account", "--tid", id, "--user", n.Name})
	}
	for _, s := range steps {
		if _, err := m.tgtadm(ctx, false, []string{secret}, s...); err != nil {
			m.tgtadm(ctx, false, nil, "--op", "delete", "--mode", "target", "--tid", id, "--force")
			return fmt.Errorf("tgt target %s: %w; check tgtd's log (journalctl -u tgt)", name, err)
		}
	}
	m.logf("%sapplied target %s (tid %d) to the running tgtd", m.verb(), name, tid)
	return nil
}

// RemoveOptions configures Remove.
type RemoveOptions struct {
	// Force removes the target even with a live session.
	Force bool
	// KeepLUN keeps the LUN file (the node's data).
	KeepLUN bool
}

// ErrLiveSession is wrapped by Remove's error when the node's LUN is in use.
var ErrLiveSession = errors.New("the node's iSCSI LUN has a live session")

// Remove removes a node: its target (refused while a session is logged in,
// unless Force), its files, its host entry and (unless KeepLUN) its LUN.
func (m *Manager) Remove(ctx context.Context, name string, o RemoveOptions) error {
	c := m.Config
	db, err := LoadDB(m.dbPath())
	if err != nil {
		return err
	}
	n, ok := db.Find(name)
	if !ok {
		var names []string
		for _, x := range db.Nodes {
			names = append(names, x.Name)
		}
		return fmt.Errorf("no node %s (known: %s); see `sidus node list`", name, orNone(names))
	}
	p := PathsOf(c, n)
	if n.LUNSize > 0 {
		if live, ok := m.liveTargets(ctx); ok {
			for _, t := range live {
				if t.Name != TargetName(c, n) {
					continue
				}
				if t.Sessions > 0 && !o.Force {
					return fmt.Errorf("node %s: %w from %s: shut the node down first (or --force, which cuts its writable layer off)", name, ErrLiveSession, orNone(t.InitiatorIPs))
				}
				args := []string{"--op", "delete", "--mode", "target", "--tid", strconv.Itoa(t.TID)}
				if o.Force {
					args = append(args, "--force")
				}
				if _, err := m.tgtadm(ctx, false, nil, args...); err != nil {
					return fmt.Errorf("node %s: remove target %s: %w", name, t.Name, err)
				}
				if n.CHAP {
					m.tgtadm(ctx, false, nil, "--op", "delete", "--mode", "account", "--user", n.Name)
				}
				m.logf("%sremoved target %s (tid %d) from the running tgtd", m.verb(), t.Name, t.TID)
			}
		}
	}
	db.Nodes = slices.DeleteFunc(db.Nodes, func(x Node) bool { return x.Name == name })
	tx := files.Txn{W: m.writer()}
	tx.Remove(p.PXE)
	tx.Remove(p.TgtConf)
	tx.Remove(p.Secret)
	tx.Remove(p.Initrd)
	dhcp.Stage(c, hostsOf(db.Nodes), &tx)
	tx.Write(m.dbPath(), db.Encode(), 0o644)
	if _, err := tx.Commit(); err != nil {
		return fmt.Errorf("node %s: %w (its files are as before)", name, err)
	}
	if n.LUNSize > 0 {
		if o.KeepLUN {
			m.logf("kept LUN %s", p.LUN)
		} else if _, err := m.writer().Remove(p.LUN); err != nil {
			return err
		}
	}
	if err := dhcp.Reload(ctx, c, m.Runner); err != nil {
		m.logf("warning: %v", err)
	}
	m.logf("node %s %s", name, m.done("removed"))
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Row is one line of node list.
type Row struct {
	Node
	// LUNUsed is the LUN file's allocated bytes (-1: missing).
	LUNUsed int64
	// Session: "yes", "no", "-" (no LUN) or "?" (tgtd does not answer).
	Session string
	Lease   *dhcp.Lease
}

// List returns the nodes with their LUN use, iSCSI session and last lease.
func (m *Manager) List(ctx context.Context) ([]Row, error) {
	c := m.Config
	db, err := LoadDB(m.dbPath())
	if err != nil {
		return nil, err
	}
	live, tgtOK := m.liveTargets(ctx)
	leases := dhcp.ReadLeases(c, func(p string) (io.ReadCloser, error) { return os.Open(p) })
	var rows []Row
	for _, n := range db.Nodes {
		r := Row{Node: n, Session: "-", LUNUsed: -1}
		if n.LUNSize > 0 {
			if st, err := os.Stat(PathsOf(c, n).LUN); err == nil {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok {
					r.LUNUsed = sys.Blocks * 512
				}
			}
			r.Session = "?"
			if tgtOK {
				r.Session = "no"
				for _, t := range live {
					if t.Name == TargetName(c, n) && t.Sessions > 0 {
						r.Session = "yes"
					}
				}
			}
		}
		if l, ok := leases[n.MAC]; ok {
			r.Lease = &l
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP))
	})
	return rows, nil
}

// WriteTable prints rows as node list's table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMAC\tIP\tLABEL\tLUN\tUSED\tSESSION\tLAST LEASE")
	for _, r := range rows {
		lun, used := "-", "-"
		if r.LUNSize > 0 {
			lun = config.FormatSize(r.LUNSize)
			if r.CHAP {
				lun += " (CHAP)"
			}
			used = "missing"
			if r.LUNUsed >= 0 {
				used = fmt.Sprintf("%s (%.0f%%)", config.FormatSize(roundMiB(r.LUNUsed)), 100*float64(r.LUNUsed)/float64(r.LUNSize))
			}
		}
		lease := "-"
		if r.Lease != nil {
			lease = r.Lease.IP.String()
			if !r.Lease.Ends.IsZero() {
				lease += " until " + r.Lease.Ends.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.MAC, r.IP, r.Label, lun, used, r.Session, lease)
	}
	return tw.Flush()
}

func roundMiB(n int64) int64 {
	if n < 1<<20 {
		return n
	}
	return (n + 1<<19) >> 20 << 20
}
