package iscsi

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// CHAPAlgorithmMD5 is the CHAP_A value for MD5 (RFC 1994), the only one
// RFC 7143 requires and the one every target implements.
const CHAPAlgorithmMD5 = 5

// CHAPResponse computes the CHAP response MD5(id || secret || challenge)
// (RFC 1994 section 4.1).
func CHAPResponse(id byte, secret string, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(challenge)
	return h.Sum(nil)
}

// EncodeBinary encodes b as an iSCSI binary value in hex form ("0x...").
func EncodeBinary(b []byte) string { return "0x" + hex.EncodeToString(b) }

// DecodeBinary decodes an iSCSI binary value: "0x"/"0X" hex or "0b"/"0B"
// base64 (RFC 7143 section 6.1).
func DecodeBinary(s string) ([]byte, error) {
	if len(s) < 3 || s[0] != '0' {
		return nil, fmt.Errorf("binary value %q: expected 0x<hex> or 0b<base64>", s)
	}
	switch s[1] {
	case 'x', 'X':
		h := s[2:]
		if len(h)%2 == 1 { // an odd number of digits is allowed: leading nibble
			h = "0" + h
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("binary value %q: %w", s, err)
		}
		return b, nil
	case 'b', 'B':
		b, err := base64.StdEncoding.DecodeString(s[2:])
		if err != nil {
			if b2, err2 := base64.RawStdEncoding.DecodeString(s[2:]); err2 == nil {
				return b2, nil
			}
			return nil, fmt.Errorf("binary value %q: %w", s, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("binary value %q: expected 0x<hex> or 0b<base64>", s)
}

// ChallengeSource returns the random source for mutual-CHAP challenges in
// production: a ChaCha8 generator from math/rand/v2, seeded from the Go
// runtime's random state.
//
// Why not crypto/rand: it reads getrandom(2), which blocks in early boot
// until the kernel's CRNG is initialised; on nodes without RDRAND (and in
// QEMU TCG without -cpu max) that takes minutes, and our /init is in the
// boot path. The runtime's state is seeded from the AT_RANDOM bytes the
// kernel passes to every exec (never blocks). A CHAP challenge only needs
// to be unpredictable to a network attacker and unique per login (RFC 7143
// 12.1.3); it is not a long-lived key.
func ChallengeSource() io.Reader {
	var seed [32]byte
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(seed[8*i:], rand.Uint64())
	}
	return rand.NewChaCha8(seed)
}

// chapInitiator holds one CHAP exchange's state on the initiator side.
type chapInitiator struct {
	username, secret     string
	inUsername, inSecret string // mutual CHAP, empty if one-way
	rand                 io.Reader

	// Our challenge to the target (mutual only).
	myID        byte
	myChallenge []byte
}

var errNoCHAPChallenge = errors.New("target sent no CHAP_I/CHAP_C challenge")

// answer builds CHAP_N/CHAP_R (and, for mutual CHAP, CHAP_I/CHAP_C) for the
// target's challenge.
func (c *chapInitiator) answer(kv Text) (Text, error) {
	if a, ok := kv.Get("CHAP_A"); ok && a != fmt.Sprint(CHAPAlgorithmMD5) {
		return nil, fmt.Errorf("target chose CHAP_A=%s, only MD5 (5) is supported", a)
	}
	is, ok1 := kv.Get("CHAP_I")
	cs, ok2 := kv.Get("CHAP_C")
	if !ok1 || !ok2 {
		return nil, errNoCHAPChallenge
	}
	var id int
	if _, err := fmt.Sscanf(is, "%d", &id); err != nil || id < 0 || id > 255 {
		return nil, fmt.Errorf("target sent bad CHAP_I=%q", is)
	}
	chal, err := DecodeBinary(cs)
	if err != nil {
		return nil, fmt.Errorf("target sent bad CHAP_C: %w", err)
	}
	if len(chal) == 0 {
		return nil, errors.New("target sent an empty CHAP_C")
	}
	out := Text{
		{"CHAP_N", c.username},
		{"CHAP_R", EncodeBinary(CHAPResponse(byte(id), c.secret, chal))},
	}
	if c.inUsername != "" {
		r := c.rand
		if r == nil {
			r = ChallengeSource()
		}
		var buf [17]byte
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, fmt.Errorf("generating mutual CHAP challenge: %w", err)
		}
		c.myID, c.myChallenge = buf[0], buf[1:]
		// RFC 7143 12.1.3: our challenge must differ from the target's
		// (reflection attack); with 16 random bytes equality means a broken source.
		if subtle.ConstantTimeCompare(c.myChallenge, chal) == 1 {
			return nil, errors.New("mutual CHAP challenge equals the target's; refusing")
		}
		out = append(out, KV{"CHAP_I", fmt.Sprint(c.myID)}, KV{"CHAP_C", EncodeBinary(c.myChallenge)})
	}
	return out, nil
}

// verify checks the target's CHAP_N/CHAP_R against our mutual challenge.
func (c *chapInitiator) verify(kv Text) error {
	n, ok1 := kv.Get("CHAP_N")
	rs, ok2 := kv.Get("CHAP_R")
	if !ok1 || !ok2 {
		return errors.New("target did not answer the mutual CHAP challenge (no CHAP_N/CHAP_R)")
	}
	if n != c.inUsername {
		return fmt.Errorf("target answered mutual CHAP as %q, want ISCSI_IN_USERNAME %q", n, c.inUsername)
	}
	r, err := DecodeBinary(rs)
	if err != nil {
		return fmt.Errorf("target sent bad CHAP_R: %w", err)
	}
	want := CHAPResponse(c.myID, c.inSecret, c.myChallenge)
	if subtle.ConstantTimeCompare(r, want) != 1 {
		return errors.New("target's mutual CHAP response is wrong")
	}
	return nil
}

// redactKV renders key=value pairs for logs, hiding CHAP responses.
func redactKV(t Text) string {
	var parts []string
	for _, kv := range t {
		v := kv.Value
		switch kv.Key {
		case "CHAP_R", "CHAP_C":
			v = "<…>"
		}
		parts = append(parts, kv.Key+"="+v)
	}
	return strings.Join(parts, " ")
}
