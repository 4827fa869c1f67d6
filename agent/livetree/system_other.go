//go:build !linux

package livetree

import "errors"

type otherSystem struct{}

// DefaultSystem is the System of the running kernel: Linux only.
func DefaultSystem() System { return otherSystem{} }

var errLinuxOnly = errors.New("livetree: Linux only")

func (otherSystem) StatOpen(string, int) (FileID, []byte, error) { return FileID{}, nil, errLinuxOnly }
func (otherSystem) DropCaches() error                            { return errLinuxOnly }
