package crc32c

import (
	"bytes"
	"testing"
)

// The check value of CRC-32C is 0xE3069283 for "123456789"; a sealed
// message opens, a flipped bit or a cut one does not.
func TestSealOpen(t *testing.T) {
	b := Seal([]byte("xx123456789"), 2)
	if got := b[len(b)-Len:]; !bytes.Equal(got, []byte{0xE3, 0x06, 0x92, 0x83}) {
		t.Fatalf("CRC-32C of 123456789 = % x", got)
	}
	if Update(Update(0, []byte("1234")), []byte("56789")) != 0xE3069283 {
		t.Fatal("Update in two parts is not the CRC of the whole")
	}
	body, ok := Open(b[2:])
	if !ok || string(body) != "123456789" {
		t.Fatalf("Open = %q, %v", body, ok)
	}
	for i := range b[2:] {
		c := bytes.Clone(b[2:])
		c[i] ^= 0x10
		if _, ok := Open(c); ok {
			t.Fatalf("a flipped bit in byte %d opened", i)
		}
	}
	if _, ok := Open([]byte{1, 2, 3}); ok {
		t.Fatal("3 bytes opened")
	}
}
