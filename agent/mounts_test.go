package agent

import (
	"reflect"
	"testing"
)

// Recorded in an exitrd after systemd-shutdown's pivot (trimmed).
const exitrdMountinfo = `25 1 0:22 / / rw,relatime shared:1 - tmpfs tmpfs rw
30 25 0:40 / /oldroot rw,relatime - overlay overlay rw,lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work
31 30 0:41 / /oldroot/ro ro,relatime - nfs4 10.0.0.1:/srv/nfsroot/sidus ro,vers=4.2
32 30 8:0 / /oldroot/rw rw,relatime - ext4 /dev/sda rw
33 30 0:42 / /oldroot/mnt/with\040space rw - tmpfs tmpfs rw
34 30 0:23 / /oldroot/run rw - tmpfs tmpfs rw
35 34 0:24 / /oldroot/run/user rw - tmpfs tmpfs rw
40 25 0:5 / /dev rw - devtmpfs devtmpfs rw
`

func TestUnderOrder(t *testing.T) {
	got := Under(ParseMountinfo(exitrdMountinfo), "/oldroot")
	var points []string
	for _, m := range got {
		points = append(points, m.Point)
	}
	want := []string{"/oldroot/run/user", "/oldroot/run", "/oldroot/mnt/with space", "/oldroot/rw", "/oldroot/ro", "/oldroot"}
	if !reflect.DeepEqual(points, want) {
		t.Fatalf("Under = %q, want %q", points, want)
	}
	if got[3].FSType != "ext4" || got[3].Source != "/dev/sda" {
		t.Fatalf("rw mount = %+v", got[3])
	}
	if len(Under(ParseMountinfo(exitrdMountinfo), "/old")) != 0 {
		t.Fatal("a prefix that is not a path component matched")
	}
}

func TestParseMountinfoSkipsJunk(t *testing.T) {
	if got := ParseMountinfo("garbage\n1 2 3\n\n"); len(got) != 0 {
		t.Fatalf("parsed junk: %+v", got)
	}
}
