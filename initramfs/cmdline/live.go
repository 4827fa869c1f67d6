package cmdline

import (
	"strconv"
	"strings"
)

// The live tree: the admin upgrades the shared tree while nodes run.
//
//	sidus.live=SECONDS|off   the bound, in seconds, within which a running
//	                         node sees a change of the tree (default 30):
//	                         the NFS attribute caches of the root are kept
//	                         at most that long (acregmax, acdirmax), and the
//	                         node agent checks the tree's dpkg status and
//	                         generation stamp every min(5, SECONDS) s.
//	                         off: the NFS defaults, no check.
//	sidus.shared=DIR,...|none
//	                         the tree's directories mounted straight from
//	                         NFS, read-only, over the union (default
//	                         DefaultShared): what dpkg replaces there is
//	                         seen as NFS sees it, also while a process
//	                         still runs the old file. none: one union over
//	                         the whole tree, as the seed's aufs.
const (
	DefaultLiveSeconds = 60
	maxLiveSeconds     = 3600
	livePollMax        = 5
	nfsDefaultACMax    = 60 // acregmax and acdirmax of the Linux NFS client
)

// DefaultShared are the directories shared straight from the tree when
// sidus.shared= is not given; those that are symlinks in the tree (merged
// /usr) or absent are skipped at boot.
var DefaultShared = []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"}

const (
	liveForm   = "sidus.live=SECONDS (1-3600) or sidus.live=off"
	sharedForm = "sidus.shared=DIR[,DIR...] (directories of the tree's top level, e.g. usr,opt) or sidus.shared=none"
)

func parseLive(key, v string) error {
	if v == "off" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLiveSeconds {
		return &ParamError{Param: key, Value: v, Expected: liveForm}
	}
	return nil
}

func parseShared(key, v string) error {
	if v == "none" {
		return nil
	}
	for _, d := range strings.Split(v, ",") {
		if d == "" || d == "." || d == ".." || strings.ContainsAny(d, "/ \t") || d == "etc" || d == "var" {
			return &ParamError{Param: key, Value: v, Expected: sharedForm + "; /etc and /var stay in the union: the node writes there"}
		}
	}
	return nil
}

// LiveSeconds is the bound of sidus.live= (DefaultLiveSeconds when not
// given), or 0 for sidus.live=off.
func (c *Config) LiveSeconds() int {
	v, ok := c.Sidus["live"]
	switch {
	case !ok:
		return DefaultLiveSeconds
	case v == "off":
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}

// LivePollSeconds is how often the node agent checks the tree's stamps:
// min(5, LiveSeconds()), 0 when off.
func (c *Config) LivePollSeconds() int { return min(livePollMax, c.LiveSeconds()) }

// SharedDirs are the directories of sidus.shared= (DefaultShared when not
// given), nil for sidus.shared=none.
func (c *Config) SharedDirs() []string {
	v, ok := c.Sidus["shared"]
	switch {
	case !ok:
		return DefaultShared
	case v == "none":
		return nil
	}
	return strings.Split(v, ",")
}

// liveNFSOptions are the attribute-cache options that sidus.live= adds to
// the root's NFS mount, unless the command line sets the caches itself.
func (c *Config) liveNFSOptions(has func(names ...string) bool) []string {
	n := c.LiveSeconds()
	if n == 0 || n == nfsDefaultACMax || has("actimeo", "noac", "acregmax", "acdirmax", "acregmin", "acdirmin") {
		return nil
	}
	s := strconv.Itoa(n)
	opts := []string{"acregmax=" + s, "acdirmax=" + s}
	if n < 3 {
		opts = append(opts, "acregmin="+s)
	}
	if n < 30 {
		opts = append(opts, "acdirmin="+s)
	}
	return opts
}
