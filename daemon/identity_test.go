package daemon

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/p2p"
)

// TestLoadKey: the first start makes a key and the identity it gives; a
// restart finds the same; a damaged key is an error that says what to do;
// an identity from before keys is replaced, and the change reported.
func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadKey(dir)
	if err != nil || first.ID().IsZero() || !first.Was.IsZero() {
		t.Fatalf("first start: %+v %v", first.ID(), err)
	}
	if first.ID() != p2p.IdentityOf(first.Private.Public().(ed25519.PublicKey)) {
		t.Fatal("the identity does not come from the key")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, identityFile)); strings.TrimSpace(string(b)) != first.ID().String() {
		t.Errorf("tile-id holds %q, want %v", b, first.ID())
	}
	if fi, err := os.Stat(filepath.Join(dir, keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tile-key: %v, mode %v; want 0600", err, fi.Mode())
	}
	again, err := LoadKey(dir)
	if err != nil || again.ID() != first.ID() || !again.Private.Equal(first.Private) {
		t.Fatalf("restart gave %v (%v), want the same %v", again.ID(), err, first.ID())
	}
	for _, bad := range []string{"", "not hex at all!!", "abcd"} {
		os.WriteFile(filepath.Join(dir, keyFile), []byte(bad), 0o600)
		if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("key %q: err %v, want a damaged-key error that says what to do", bad, err)
		}
	}
	// An itcd from before: a random tile-id and no key.
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, identityFile), []byte("0123456789abcdef\n"), 0o644)
	k, err := LoadKey(old)
	if err != nil || k.Was.String() != "0123456789abcdef" || k.ID() == k.Was {
		t.Fatalf("migration: %+v %v", k, err)
	}
	if k2, _ := LoadKey(old); !k2.Was.IsZero() || k2.ID() != k.ID() {
		t.Errorf("the change is reported once: %+v", k2)
	}
}
