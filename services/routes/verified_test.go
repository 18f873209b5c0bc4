package routes

import (
	"errors"
	"testing"
)

// The shared cache answers for an LSA checked before, byte for byte, and
// for nothing else: a changed signature or link is checked (and fails).
func TestVerifiedCache(t *testing.T) {
	v := NewVerified(2)
	good := signed(lsaOf(id(3), 7, Link{Dir: 1, Tile: id(4)}))
	for range 2 {
		if err := v.Check(good); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.set) != 1 {
		t.Fatalf("%d cached, want 1", len(v.set))
	}
	forged := *good
	forged.Sig[0] ^= 1
	moved := *good
	moved.Links[0].Dir = 2
	for _, l := range []*LSA{&forged, &moved} {
		if err := v.Check(l); !errors.Is(err, ErrSignature) {
			t.Fatalf("an altered LSA passed: %v", err)
		}
	}
	// No cache (a tile's): every LSA is checked.
	var none *Verified
	if none.Check(good) != nil || !errors.Is(none.Check(&forged), ErrSignature) {
		t.Fatal("a nil cache does not check")
	}
	// Full: it starts again rather than grow.
	other := signed(lsaOf(id(5), 1))
	third := signed(lsaOf(id(6), 1))
	for _, l := range []*LSA{other, third} {
		if err := v.Check(l); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.set) > 2 {
		t.Fatalf("%d cached, bound 2", len(v.set))
	}
}
