package tubes_test

import (
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/sim/tilegrid"
)

// TestGridPeerRestartsMidStream: the far daemon restarts (the same tile,
// back before its neighbour could call it dead) while a stream flows. It
// no longer knows the tube; the sender is told so with a clear reason,
// not left waiting.
func TestGridPeerRestartsMidStream(t *testing.T) {
	g, op := streaming(t)
	far := tilegrid.Coord{X: 1}
	if err := g.Stop(far); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(far); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := op.Recv(30 * time.Second)
		if err != nil {
			t.Fatalf("no end for the sender: %v", err)
		}
		if f[0] == 'x' {
			// Any of three is right: the stopping itcd's RESET left
			// before its link closed; or it did not, and the restart was
			// quick enough that the far itcd answered for a tube it does
			// not know, or slow enough that the link went down first.
			r := string(f[1:])
			if !strings.Contains(r, "itcd is stopping") && !strings.Contains(r, "unknown there") && !strings.Contains(r, "disconnected") {
				t.Errorf("reason %q: want the far itcd stopping, its not knowing the tube, or the disconnection", r)
			}
			t.Logf("told: %s", f[1:])
			return
		}
	}
}
