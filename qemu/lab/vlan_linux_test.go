package lab

import (
	"encoding/binary"
	"testing"
)

func TestShiftVnet(t *testing.T) {
	h := make([]byte, vnetLen)
	h[0] = 1                                 // NEEDS_CSUM
	binary.LittleEndian.PutUint16(h[2:], 54) // hdr_len (GSO)
	binary.LittleEndian.PutUint16(h[6:], 34) // csum_start: after Ethernet+IPv4
	binary.LittleEndian.PutUint16(h[8:], 16) // csum_offset: TCP's
	shiftVnet(h, 4)
	if s, l, o := binary.LittleEndian.Uint16(h[6:]), binary.LittleEndian.Uint16(h[2:]), binary.LittleEndian.Uint16(h[8:]); s != 38 || l != 58 || o != 16 {
		t.Errorf("after a tag: csum_start %d, hdr_len %d, csum_offset %d; want 38, 58, 16", s, l, o)
	}
	shiftVnet(h, -4)
	if s := binary.LittleEndian.Uint16(h[6:]); s != 34 {
		t.Errorf("back: csum_start %d, want 34", s)
	}
	plain := make([]byte, vnetLen) // no offload: nothing moves
	shiftVnet(plain, 4)
	for _, b := range plain {
		if b != 0 {
			t.Errorf("a header without offload changed: %v", plain)
		}
	}
}
