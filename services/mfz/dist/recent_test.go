package dist

import (
	"bytes"
	"testing"
)

func TestRecentBlocks(t *testing.T) {
	f, g := &file{}, &file{}
	block := func(b int, n int) []byte { return bytes.Repeat([]byte{byte(b)}, n) }
	buf := make([]byte, recentBytes)
	var r recentBlocks
	if r.get(f, 0, buf) != 0 {
		t.Fatal("an empty cache served a block")
	}
	for b := 0; b < recentSlots; b++ {
		r.put(f, b, block(b, 4096))
	}
	for b := 0; b < recentSlots; b++ {
		if k := r.get(f, b, buf); k != 4096 || !bytes.Equal(buf[:k], block(b, 4096)) {
			t.Fatalf("block %d: got %d bytes", b, k)
		}
	}
	if r.get(g, 3, buf) != 0 {
		t.Fatal("another file's block served")
	}
	// The 17th block takes the oldest one's place.
	r.put(f, recentSlots, block(recentSlots, 4096))
	if r.get(f, 0, buf) != 0 {
		t.Fatal("the oldest block outlived its slot")
	}
	if r.get(f, recentSlots, buf) != 4096 {
		t.Fatal("the newest block is not held")
	}
	// A buffer too short for the copy is not written.
	if r.get(f, 1, buf[:100]) != 0 {
		t.Fatal("a block copied into a buffer shorter than it")
	}
	// Larger blocks push the oldest out: the bytes held stay bounded.
	for b := 0; b < 4; b++ {
		r.put(g, b, block(b, 16<<10))
	}
	held := 0
	for _, s := range r.slots {
		held += cap(s.data)
	}
	if held > recentBytes {
		t.Fatalf("%d bytes held, bound %d", held, recentBytes)
	}
	for b := 0; b < 4; b++ {
		if r.get(g, b, buf) != 16<<10 {
			t.Fatalf("16 KiB block %d not held", b)
		}
	}
	// A block larger than the whole bound is not kept.
	r.put(g, 9, block(9, recentBytes+1))
	if r.get(g, 9, make([]byte, 2*recentBytes)) != 0 {
		t.Fatal("a block over recentBytes was kept")
	}
	r.forget(g)
	for b := 0; b < 4; b++ {
		if r.get(g, b, buf) != 0 {
			t.Fatalf("block %d of a forgotten file served", b)
		}
	}
}
