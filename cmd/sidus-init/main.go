// Command sidus-init is the /init of initrd.img-Sidus: it boots a diskless
// node into the shared SIDUS root. See package initramfs.
package main

import "github.com/sidus-go/sidus/initramfs"

func main() { initramfs.Main() }
