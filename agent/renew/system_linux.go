package renew

import "golang.org/x/sys/unix"

func sethostname(name string) error { return unix.Sethostname([]byte(name)) }
