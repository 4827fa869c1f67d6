//go:build !linux

package renew

import "errors"

func sethostname(string) error { return errors.New("sethostname: Linux only") }
