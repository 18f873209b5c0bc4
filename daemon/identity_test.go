package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tile-id")
	first, err := loadIdentity(path)
	if err != nil || first.IsZero() {
		t.Fatalf("first start: %v %v", first, err)
	}
	again, err := loadIdentity(path)
	if err != nil || again != first {
		t.Fatalf("restart gave %v (%v), want the same %v", again, err, first)
	}
	for _, bad := range []string{"0000000000000000\n", "not hex at all!!", "abcd"} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := loadIdentity(path); err == nil || !strings.Contains(err.Error(), "remove the file") {
			t.Errorf("identity %q: err %v, want a damaged-identity error that says what to do", bad, err)
		}
	}
}
