//go:build !linux

package boot

func exchange(a, b string) error { return exchangeByRename(a, b) }
