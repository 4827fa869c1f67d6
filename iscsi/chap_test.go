package iscsi

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"testing"
)

func TestCHAPResponse(t *testing.T) {
	chal := make([]byte, 16)
	for i := range chal {
		chal[i] = byte(i)
	}
	for _, tt := range []struct {
		id     byte
		secret string
		chal   []byte
		want   string // computed independently (Python hashlib)
	}{
		{0x2a, "password123456", chal, "7b49071391da7e7f683a5f87c450e382"},
		{0, "abc", []byte{0xde, 0xad, 0xbe, 0xef}, "3e55282fe60836092a9af4e3f22accdf"},
	} {
		got := CHAPResponse(tt.id, tt.secret, tt.chal)
		if hex.EncodeToString(got) != tt.want {
			t.Errorf("CHAPResponse(%d, ..) = %x, want %s", tt.id, got, tt.want)
		}
		// And by hand with crypto/md5: MD5(id || secret || challenge).
		buf := append(append([]byte{tt.id}, tt.secret...), tt.chal...)
		sum := md5.Sum(buf)
		if !bytes.Equal(got, sum[:]) {
			t.Errorf("CHAPResponse = %x, md5 by hand = %x", got, sum)
		}
	}
}

func TestBinaryEncoding(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []byte
		bad  bool
	}{
		{"0x0102ff", []byte{1, 2, 0xff}, false},
		{"0X0102FF", []byte{1, 2, 0xff}, false},
		{"0x102", []byte{1, 2}, false}, // odd number of digits
		{"0bAQL/", []byte{1, 2, 0xff}, false},
		{"0BAQI=", []byte{1, 2}, false},
		{"0bAQI", []byte{1, 2}, false}, // unpadded base64
		{"0xzz", nil, true},
		{"1234", nil, true},
		{"0x", nil, true},
		{"0b!!", nil, true},
	} {
		got, err := DecodeBinary(tt.in)
		if (err != nil) != tt.bad || !bytes.Equal(got, tt.want) {
			t.Errorf("DecodeBinary(%q) = %x, %v", tt.in, got, err)
		}
	}
	if s := EncodeBinary([]byte{0, 0xab}); s != "0x00ab" {
		t.Errorf("EncodeBinary = %q", s)
	}
}

func TestChallengeSourceNonBlocking(t *testing.T) {
	r := ChallengeSource()
	a, b := make([]byte, 16), make([]byte, 16)
	r.Read(a)
	ChallengeSource().Read(b)
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 16)) {
		t.Errorf("challenge sources repeat: %x %x", a, b)
	}
}

func TestCHAPInitiatorMutual(t *testing.T) {
	c := &chapInitiator{username: "u", secret: "s", inUsername: "tgt", inSecret: "ts",
		rand: bytes.NewReader(bytes.Repeat([]byte{9}, 17))}
	ans, err := c.answer(Text{{"CHAP_A", "5"}, {"CHAP_I", "3"}, {"CHAP_C", "0x00112233"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := ans.Get("CHAP_R"); r != EncodeBinary(CHAPResponse(3, "s", []byte{0, 0x11, 0x22, 0x33})) {
		t.Errorf("CHAP_R = %s", r)
	}
	if i, _ := ans.Get("CHAP_I"); i != "9" {
		t.Errorf("CHAP_I = %s", i)
	}
	good := EncodeBinary(CHAPResponse(9, "ts", bytes.Repeat([]byte{9}, 16)))
	if err := c.verify(Text{{"CHAP_N", "tgt"}, {"CHAP_R", good}}); err != nil {
		t.Errorf("verify: %v", err)
	}
	for _, bad := range []Text{
		{{"CHAP_N", "tgt"}, {"CHAP_R", "0x00"}},
		{{"CHAP_N", "other"}, {"CHAP_R", good}},
		{{"CHAP_N", "tgt"}},
	} {
		if err := c.verify(bad); err == nil {
			t.Errorf("verify(%v) succeeded", bad)
		}
	}
	// Reflection: a target echoing our challenge must be refused.
	c2 := &chapInitiator{username: "u", secret: "s", inUsername: "t", inSecret: "x", rand: bytes.NewReader(bytes.Repeat([]byte{1}, 17))}
	if _, err := c2.answer(Text{{"CHAP_I", "1"}, {"CHAP_C", EncodeBinary(bytes.Repeat([]byte{1}, 16))}}); err == nil {
		t.Error("reflected challenge accepted")
	}
	for _, bad := range []Text{
		{{"CHAP_A", "7"}, {"CHAP_I", "1"}, {"CHAP_C", "0x01"}},
		{{"CHAP_I", "1"}},
		{{"CHAP_I", "300"}, {"CHAP_C", "0x01"}},
		{{"CHAP_I", "1"}, {"CHAP_C", "zz"}},
	} {
		if _, err := c.answer(bad); err == nil {
			t.Errorf("answer(%v) succeeded", bad)
		}
	}
}
