//go:build !linux

package tree

import (
	"errors"
	"io"
)

type otherSystem struct{}

func hostSystem() System { return otherSystem{} }

var errLinux = errors.New("sidus tree run needs Linux (mount namespaces, chroot)")

func (otherSystem) InNamespace(string, io.Writer, func() error) error { return errLinux }
func (otherSystem) KillRoot(string, io.Writer) ([]int, error)         { return nil, nil }
func (otherSystem) MountsUnder(string) ([]string, error)              { return nil, nil }
