package lab

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// Labs share nothing but the names of their network namespaces (the
// bridge, taps, addresses and sockets are inside the namespaces). A lab
// takes a slot N: an flock on slotDir/N.lock, held while the lab runs,
// and names its namespace sidus-lab-N. A process that died without its
// teardown leaves its slot's lock free and maybe its namespace: the next
// lab in the slot removes that namespace first.
var (
	slotDir  = "/run/sidus-lab"
	nsPrefix = "sidus-lab-" // tests use another
)

// MaxSlots is how many labs may run at once on a machine.
const MaxSlots = 64

// claimSlot takes the first free slot and returns its namespace name and
// the function that frees the slot.
func claimSlot(t qemu.T) (ns string, release func(), err error) {
	if err := os.MkdirAll(slotDir, 0o755); err != nil {
		return "", nil, err
	}
	for i := 0; i < MaxSlots; i++ {
		unlock, ok, err := osutil.TryFlock(filepath.Join(slotDir, fmt.Sprintf("%d.lock", i)))
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		ns := fmt.Sprintf("%s%d", nsPrefix, i)
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			t.Logf("lab: removing namespace %s, left by a lab that did not tear down", ns)
			for _, p := range removeNetns(ns) {
				t.Logf("lab: %s", p)
			}
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
				t.Logf("lab: cannot remove %s; trying the next slot", ns)
				unlock()
				continue
			}
		}
		return ns, unlock, nil
	}
	return "", nil, fmt.Errorf("lab: all %d slots in %s are taken", MaxSlots, slotDir)
}
