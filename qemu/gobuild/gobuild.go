// Package gobuild builds, from this module, what a test node boots: the Go
// /init (cmd/sidus-init) and initrd.img-Sidus (cmd/sidus-mkinitramfs run
// for a kernel.Info). Each build runs once per test process and set of
// arguments.
package gobuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sidus-go/sidus/qemu/kernel"
)

// ModuleRoot returns the folder holding this module's go.mod.
func ModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]*buildEntry{}
)

type buildEntry struct {
	mu   sync.Mutex
	path string
}

// once runs build for key once per test process and caches its result
// (a failed build is retried next time). Builds of different keys may nest.
func once(key string, build func() (string, error)) (string, error) {
	buildMu.Lock()
	e := buildCache[key]
	if e == nil {
		e = &buildEntry{}
		buildCache[key] = e
	}
	buildMu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.path != "" {
		if _, err := os.Stat(e.path); err == nil {
			return e.path, nil
		}
	}
	p, err := build()
	if err != nil {
		return "", err
	}
	e.path = p
	return p, nil
}

// BuildFlags are the go build flags of the binaries packed into the
// image, the README's recipe's: no file paths, no symbols or debug info.
var BuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// GoBuild builds the static binary of pkg (e.g. ./cmd/sidus-init) from the
// module root into dir/name: CGO_ENABLED=0 go build BuildFlags.
func GoBuild(dir, name, pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", append(append([]string{"build"}, BuildFlags...), "-o", out, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// Init builds ./cmd/sidus-init into dir/sidus-init, once per process and
// dir.
func Init(dir string) (string, error) {
	return once("init:"+dir, func() (string, error) { return GoBuild(dir, "sidus-init", "./cmd/sidus-init") })
}

// Agent builds ./cmd/sidus-agent into dir/sidus-agent, once per process
// and dir.
func Agent(dir string) (string, error) {
	return once("agent:"+dir, func() (string, error) { return GoBuild(dir, "sidus-agent", "./cmd/sidus-agent") })
}

// InitrdOptions are the arguments of sidus-mkinitramfs.
type InitrdOptions struct {
	Dir       string       // where the packer, the init and the image go (required)
	Kernel    *kernel.Info // nil: kernel.Default()
	Init      string       // the Go init; "": Init(Dir)
	Shell     string       // --shell, e.g. /bin/busybox; "": none
	Agent     string       // --agent; "": the init (multi-call, packed once); NoAgent: none
	ISCSIConf string       // --iscsi-conf file; "": none
	// CephKeyring is the --ceph-keyring file; "": none.
	CephKeyring string
	Modules     []string // extra -m modules
	Compress    string   // -c, default zstd
	Out         string   // -o, default Dir/initrd.img-Sidus
}

// NoAgent as InitrdOptions.Agent packs no node agent.
const NoAgent = "-"

// Argv returns the sidus-mkinitramfs arguments for o (without the program).
func (o InitrdOptions) Argv(k *kernel.Info) []string {
	c := o.Compress
	if c == "" {
		c = "zstd"
	}
	argv := []string{"-b", k.BaseDir, "-c", c, "--init", o.Init}
	if o.Shell != "" {
		argv = append(argv, "--shell", o.Shell)
	}
	if o.Agent != "" && o.Agent != NoAgent {
		argv = append(argv, "--agent", o.Agent)
	}
	if o.ISCSIConf != "" {
		argv = append(argv, "--iscsi-conf", o.ISCSIConf)
	}
	if o.CephKeyring != "" {
		argv = append(argv, "--ceph-keyring", o.CephKeyring)
	}
	for _, m := range o.Modules {
		argv = append(argv, "-m", m)
	}
	return append(argv, "-o", o.Out, k.Version)
}

// Initrd builds ./cmd/sidus-mkinitramfs and runs it to make
// initrd.img-Sidus, once per process and set of options.
func Initrd(o InitrdOptions) (string, error) {
	if o.Dir == "" {
		return "", errors.New("gobuild.Initrd: InitrdOptions.Dir is empty")
	}
	k := o.Kernel
	if k == nil {
		var err error
		if k, err = kernel.Default(); err != nil {
			return "", err
		}
	}
	if o.Init == "" {
		init, err := Init(o.Dir)
		if err != nil {
			return "", err
		}
		o.Init = init
	}
	if o.Agent == "" {
		// The init is also the agent (cmd/sidus-init is multi-call):
		// the packer links the agent to it, as the README's recipe does.
		o.Agent = o.Init
	}
	if o.Out == "" {
		o.Out = filepath.Join(o.Dir, "initrd.img-Sidus")
	}
	argv := o.Argv(k)
	return once("initrd:"+strings.Join(argv, "\x00"), func() (string, error) {
		mk, err := once("mkinitramfs:"+o.Dir, func() (string, error) {
			return GoBuild(o.Dir, "sidus-mkinitramfs", "./cmd/sidus-mkinitramfs")
		})
		if err != nil {
			return "", err
		}
		if b, err := exec.Command(mk, argv...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("sidus-mkinitramfs %s: %w\n%s", strings.Join(argv, " "), err, b)
		}
		return o.Out, nil
	})
}
