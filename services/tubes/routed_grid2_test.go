package tubes_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tile"
)

// startGridHole is startGridWith where the tile at hole forwards nothing
// (it routes as usual: a black hole).
func startGridHole(t *testing.T, w, h int, prof dev.LinkProfile, hole tilegrid.Coord, paths int) *tilegrid.Grid {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real daemons")
	}
	cfg := tilegrid.DefaultConfig(w, h)
	cfg.Dir = filepath.Join(t.TempDir(), "grid")
	cfg.Profile, cfg.Seed = prof, 11
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 1500*time.Millisecond
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 1000*time.Millisecond
	cfg.Tweak = func(_ tilegrid.Coord, c *tile.Config) { c.Tube.Paths = paths }
	cfg.Options = func(c tilegrid.Coord, o *tile.Options) { o.Tube.DropForwarded = c == hole }
	return gridtest.Start(t, cfg)
}

// waitPaths waits until the disjoint paths from the tile at c to tile
// satisfy ok.
func waitPaths(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord, tile p2p.TileID, ok func([]string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := pathsTo(t, g, c, tile)
		if ok(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("paths %v never became what the test needs", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGridRoutedAroundBlackHole: the shortest path between two tiles runs
// through a tile that forwards nothing. The tube gives that path up after
// two retransmission timeouts in a row and finishes on another, whether
// it sends on one path at a time or stripes.
func TestGridRoutedAroundBlackHole(t *testing.T) {
	for _, paths := range []int{1, 3} {
		t.Run(map[int]string{1: "one-path", 3: "striped"}[paths], func(t *testing.T) {
			a, b, hole := tilegrid.Coord{Y: 1}, tilegrid.Coord{X: 3, Y: 1}, tilegrid.Coord{X: 1, Y: 1}
			g := startGridHole(t, 4, 3, dev.LinkProfile{Rate: 256 << 10}, hole, paths)
			// Wait for the whole grid's routes: three disjoint paths, one
			// of them straight through the hole.
			waitPaths(t, g, a, gridtest.Identity(t, g, b), func(p []string) bool { return len(p) == 3 && slices.Contains(p, "ET,ET,ET") })
			op, acc := routedPair(t, g, a, b, "7")
			data := randomBytes(128<<10, 8)
			received := pumpAsync(acc, 90*time.Second)
			_, opFinal := op.Pump(data, 90*time.Second)
			got, final := received()
			if opFinal != "c" || final != "c" || !bytes.Equal(got, data) {
				t.Fatalf("finals %q %q, %d of %d bytes", opFinal, final, len(got), len(data))
			}
			if n := tubeStatus(t, g, a).Counters.PathChanges; n == 0 {
				t.Error("the sender never left the black hole's path")
			}
			if n := tubeStatus(t, g, hole).Counters.FwdDropped; n == 0 {
				t.Error("the black hole dropped nothing: the test did not test")
			}
		})
	}
}

// TestGridRoutedStripedForwarderStops: a tile on one of the paths a
// striped tube uses stops mid-transfer; the transfer completes on the
// others, byte for byte.
func TestGridRoutedStripedForwarderStops(t *testing.T) {
	g := startGrid(t, 4, 3, dev.LinkProfile{Rate: 128 << 10})
	a, b := tilegrid.Coord{Y: 1}, tilegrid.Coord{X: 3, Y: 1}
	waitPaths(t, g, a, gridtest.Identity(t, g, b), func(p []string) bool { return len(p) == 3 && slices.Contains(p, "ET,ET,ET") })
	op, acc := routedPair(t, g, a, b, "7")
	data := randomBytes(512<<10, 9)
	received := pumpAsync(acc, 90*time.Second)
	go op.Pump(data, 90*time.Second)
	waitDelivered(t, g, a, uint64(len(data)/4))
	if err := g.Stop(tilegrid.Coord{X: 1, Y: 1}); err != nil {
		t.Fatal(err)
	}
	got, final := received()
	if final != "c" || !bytes.Equal(got, data) {
		t.Fatalf("final %q, %d of %d bytes", final, len(got), len(data))
	}
}

// TestGridRoutedCornerToCornerThroughLoss: 1 MiB from corner to corner of
// a 6x6 grid with 5% loss on every link arrives byte for byte.
func TestGridRoutedCornerToCornerThroughLoss(t *testing.T) {
	g := startGridWith(t, 6, 6, dev.LinkProfile{Rate: 256 << 10, Loss: 0.05}, func(c *tubes.Config) {})
	op, acc := routedPair(t, g, tilegrid.Coord{}, tilegrid.Coord{X: 5, Y: 5}, "7")
	data := randomBytes(1<<20, 10)
	received := pumpAsync(acc, 120*time.Second)
	_, opFinal := op.Pump(data, 120*time.Second)
	got, final := received()
	if opFinal != "c" || final != "c" || !bytes.Equal(got, data) {
		t.Fatalf("finals %q %q, %d of %d bytes", opFinal, final, len(got), len(data))
	}
}
