package counter_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tile"
)

// gridCounter reads the counter section of the status of the tile at c.
func gridCounter(t *testing.T, g *tilegrid.Grid, c tilegrid.Coord) (counter.Status, control.Status) {
	t.Helper()
	st, err := g.Status(c)
	if err != nil {
		t.Fatal(err)
	}
	// The section is a counter.Status in process and a JSON object off
	// the control socket: going through JSON reads both.
	b, err := json.Marshal(st.Sections["counter"])
	if err != nil {
		t.Fatal(err)
	}
	var cs counter.Status
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatalf("%v: counter section %s: %v", c, b, err)
	}
	return cs, st
}

// TestGridValueReachesEveryNeighbour runs 3x3 real tiles over simulated
// links: a value written on the centre tile reaches all six of its
// neighbours, goes no further, and is forgotten when the centre stops.
func TestGridValueReachesEveryNeighbour(t *testing.T) {
	cfg := tilegrid.DefaultConfig(3, 3)
	cfg.Dir = t.TempDir()
	cfg.Seed = 7
	// Timings short enough for a quick test, long enough for a loaded
	// machine under -race.
	// Margins for a loaded machine under -race: a false disconnect would
	// clear a neighbour's value mid-test.
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 2*time.Second
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 1500*time.Millisecond
	// With an hour between periodic adverts, only the write itself can
	// carry the value within the deadline.
	cfg.Tweak = func(_ tilegrid.Coord, c *tile.Config) { c.Counter.Interval = conf.Duration(time.Hour) }
	g := gridtest.Start(t, cfg)

	centre := tilegrid.Coord{X: 1, Y: 1}
	_, centreStatus := gridCounter(t, g, centre)
	hearsCentre := func(c tilegrid.Coord, from packet.Dir, v int64) bool {
		cs, _ := gridCounter(t, g, c)
		for _, n := range cs.Neighbours {
			if n.Dir == from && n.Tile == centreStatus.Tile && n.Value == v {
				return true
			}
		}
		return false
	}
	allHear := func(v int64) func() bool {
		return func() bool {
			for _, l := range g.Geometry().Links(centre) {
				if !hearsCentre(l.To, l.Dir.Opposite(), v) {
					return false
				}
			}
			return true
		}
	}
	if n := len(g.Geometry().Links(centre)); n != 6 {
		t.Fatalf("the centre has %d neighbours, want 6", n)
	}

	path := filepath.Join(g.Tile(centre).StateDir, "counter")
	start := time.Now()
	if err := os.WriteFile(path, []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitFor(10*time.Second, "all six neighbours hear 1234", allHear(1234)); err != nil {
		t.Fatal(err)
	}
	t.Logf("1234 reached all six neighbours in %v", time.Since(start))

	// The value is not relayed: the corner is not the centre's neighbour,
	// and its own neighbours have no value to tell it.
	if cs, _ := gridCounter(t, g, tilegrid.Coord{X: 0, Y: 0}); len(cs.Neighbours) != 0 {
		t.Errorf("corner t-0-0 holds values %+v", cs.Neighbours)
	}

	if err := os.WriteFile(path, []byte("-5"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitFor(10*time.Second, "all six neighbours hear -5", allHear(-5)); err != nil {
		t.Fatal(err)
	}

	if err := g.Stop(centre); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitFor(10*time.Second, "the neighbours forget the stopped centre", func() bool {
		for _, l := range g.Geometry().Links(centre) {
			if cs, _ := gridCounter(t, g, l.To); len(cs.Neighbours) != 0 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
}
