package initramfs

import (
	"context"
	"os"
	"time"

	"github.com/sidus-go/sidus/blockdev/loop"
	"github.com/sidus-go/sidus/blockdev/rbd"
	"github.com/sidus-go/sidus/blockdev/verity"
)

// rbdNodeWait bounds the wait for devtmpfs's /dev/rbdN once the kernel
// has mapped the snapshot.
const rbdNodeWait = 10 * time.Second

// DefaultImage is the real stage of the shared roots other than the NFS
// export: the kernel's RBD client, loop devices and dm-verity, and the
// superblocks read from the device nodes.
func DefaultImage() ImageStage {
	return ImageStage{
		MapRBD: func(ctx context.Context, s rbd.Spec) (string, error) { return rbd.Map(ctx, s, rbdNodeWait) },
		AttachLoop: func(file string) (string, error) {
			return loop.Attach(file, true)
		},
		OpenVerity: verity.Open,
		DetectFS: func(dev string) (string, error) {
			f, err := os.Open(dev)
			if err != nil {
				return "", err
			}
			defer f.Close()
			fstype, _, err := verity.DataSize(f)
			return fstype, err
		},
		ParseKeyring: rbd.ParseKeyring,
	}
}
