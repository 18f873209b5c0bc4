package dist

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

// A push gives up when its context (the daemon's, on the control socket)
// ends, so a stop does not wait for a long copy and check.
func TestPushStopsWithContext(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("x.mfz", 1, 50_000, 1024)
	path := filepath.Join(x.dir, "x.mfz")
	if err := os.WriteFile(path, sf.file, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := x.s.Push(ctx, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("Push with the daemon stopping = %v, want context.Canceled", err)
	}
	if _, ok := x.s.store.Lookup("x.mfz"); ok {
		t.Fatal("installed although the push was cancelled")
	}
}
