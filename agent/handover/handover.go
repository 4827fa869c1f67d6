// Package handover is what /init hands the node agent at switch_root: the
// boot NIC and its lease, the iSCSI session with its CHAP secrets, and the
// NFS view of the shared tree to watch for changes.
//
// The state travels over a pipe, the agent's file descriptor FD, written by
// /init after it has chrooted into the new root and before it execs the
// root's init: the secrets are only ever in the memory of the two processes,
// never in a file, the environment or a log. Both sides import this small
// package so that the init does not link the agent and the agent does not
// link the init.
package handover

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
)

// Paths in the booted root (all under /run, a tmpfs the init moves into it).
const (
	// FD is the agent's descriptor that carries the state (os/exec
	// ExtraFiles[0]).
	FD = 3
	// AgentPath is the agent in the booted root: a link to Exitrd, the one
	// copy /init makes of the binary out of the initramfs.
	AgentPath = "/run/sidus/sidus-agent"
	// ArgV0 is the agent's argv[0]. The leading '@' keeps systemd-shutdown
	// from killing it with the other processes (systemd's "root storage
	// daemon" rule): the agent is what keeps the iSCSI session alive.
	ArgV0 = "@sidus-agent"
	// Exitrd is the program systemd-shutdown execs, after it has pivoted
	// into /run/initramfs, once every process is gone: a copy of the agent
	// that unmounts the old root and logs out of iSCSI last.
	Exitrd = "/run/initramfs/shutdown"
	// Unit is the runtime systemd unit that orders the agent's shutdown
	// duties after every user of the network and the LUN.
	Unit = "/run/systemd/system/sidus-agent.service"
	// UnitWants enables Unit for this boot only (a drop-in, not a link).
	UnitWants = "/run/systemd/system/sysinit.target.d/sidus-agent.conf"
	// Status is the agent's status file (no secrets).
	Status = "/run/sidus/agent.json"
	// PIDFile holds the running agent's PID.
	PIDFile = "/run/sidus/agent.pid"
	// SendsigsOmit keeps sysvinit's sendsigs from killing the agent.
	SendsigsOmit = "/run/sendsigs.omit.d/sidus-agent"
)

// MaxSize bounds what Read accepts.
const MaxSize = 1 << 20

// State is everything the agent needs to know about this boot.
type State struct {
	Version int `json:"version"`
	// Device is the boot NIC, MAC its hardware address.
	Device string `json:"device"`
	MAC    string `json:"mac"`
	// Lease is the DHCP lease (nil with a static ip= or ip=off).
	Lease *Lease `json:"lease,omitempty"`
	// ISCSI is the writable layer's session (nil with a tmpfs upper).
	ISCSI *ISCSI `json:"iscsi,omitempty"`
	// WroteHostname and WroteResolv say whether the init wrote
	// /etc/hostname and /etc/resolv.conf (sidus.hostname=, sidus.resolv=),
	// so the agent updates them only then.
	WroteHostname bool `json:"wrote_hostname"`
	WroteResolv   bool `json:"wrote_resolv"`
	// NetConf is the initramfs-tools style lease file (/run/net-DEV.conf).
	NetConf string `json:"net_conf,omitempty"`
	// Tree is the shared tree the agent watches for in-place upgrades
	// (agent/livetree; nil: not watched).
	Tree *Tree `json:"tree,omitempty"`
}

// DefaultTreePollSeconds is the tree watcher's poll interval unless the
// boot sets another.
const DefaultTreePollSeconds = 5

// Tree is the shared tree as the node mounted it.
type Tree struct {
	// Root is the node's path to the NFS mount of the tree itself, not
	// through the overlay (e.g. "/ro").
	Root string `json:"root"`
	// PollSeconds is how often the agent checks Files; 0 turns the
	// watcher off.
	PollSeconds int `json:"poll_seconds"`
	// Files are the paths, relative to Root, whose change means the tree
	// changed; empty: var/lib/dpkg/status and var/lib/sidus/generation.
	Files []string `json:"files,omitempty"`
}

// Lease is a DHCP lease, as the init got it.
type Lease struct {
	IP           string   `json:"ip"`
	PrefixLen    int      `json:"prefix_len"`
	Gateway      string   `json:"gateway,omitempty"`
	DNS          []string `json:"dns,omitempty"`
	Hostname     string   `json:"hostname,omitempty"`
	Domain       string   `json:"domain,omitempty"`
	ServerID     string   `json:"server_id"`
	NextServer   string   `json:"next_server,omitempty"`
	RootPath     string   `json:"root_path,omitempty"`
	LeaseSeconds int64    `json:"lease_seconds"`
	T1Seconds    int64    `json:"t1_seconds,omitempty"`
	T2Seconds    int64    `json:"t2_seconds,omitempty"`
	// Acquired is when the ACK arrived, in Unix seconds (wall clock).
	Acquired int64 `json:"acquired"`
}

// ISCSI is the kernel session the init logged in, and what it takes to
// log in again.
type ISCSI struct {
	SID       int      `json:"sid"`
	CID       int      `json:"cid"`
	Host      int      `json:"host"`
	Target    string   `json:"target"`
	Portal    string   `json:"portal"`  // the one in use, host:port
	Portals   []string `json:"portals"` // every ISCSI_TARGET_IP portal, in order
	Initiator string   `json:"initiator"`
	ISID      string   `json:"isid"` // 12 hex digits
	TSIH      uint16   `json:"tsih"`
	Group     int      `json:"group,omitempty"`
	// RecoverySeconds is sidus.iscsi.recovery=: how long the kernel keeps
	// I/O queued while the agent reconnects; 0 means forever.
	RecoverySeconds int `json:"recovery_seconds"`
	// Secrets. Redacted() blanks them.
	Username   string `json:"username,omitempty"`
	Password   string `json:"password,omitempty"`
	InUsername string `json:"in_username,omitempty"`
	InPassword string `json:"in_password,omitempty"`
}

// Redacted returns a copy of s safe to print or store: no CHAP secrets.
func (s *State) Redacted() *State {
	c := *s
	if s.ISCSI != nil {
		i := *s.ISCSI
		if i.Password != "" {
			i.Password = "(redacted)"
		}
		if i.InPassword != "" {
			i.InPassword = "(redacted)"
		}
		c.ISCSI = &i
	}
	return &c
}

// Write sends s to the agent.
func Write(w io.Writer, s *State) error {
	s.Version = 1
	if err := json.NewEncoder(w).Encode(s); err != nil {
		return fmt.Errorf("hand over to the agent: %w", err)
	}
	return nil
}

// Read receives the state from the init, reading at most MaxSize bytes.
func Read(r io.Reader) (*State, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the init's handover: %w", err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("the init's handover is over %d bytes", MaxSize)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("the init's handover is not valid: %w", err)
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("the init's handover has version %d, this agent reads 1: pack the agent and the init from the same build", s.Version)
	}
	return &s, nil
}

// UnitText is the runtime unit /init writes to Unit (see the file's
// comments for the ordering).
//
//go:embed sidus-agent.service
var UnitText string

// UnitWantsText is the drop-in at UnitWants.
const UnitWantsText = "# Written by SIDUS-Go's /init: start the node agent's unit with sysinit.\n[Unit]\nWants=sidus-agent.service\n"
