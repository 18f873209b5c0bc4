package routes_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
)

// startGrid starts a w x h grid of real daemons with quick liveness.
func startGrid(t testing.TB, w, h int) *tilegrid.Grid {
	return startGridWith(t, w, h, 1500*time.Millisecond, 1000*time.Millisecond)
}

// startGridWith starts a w x h grid whose tiles count a silent neighbour
// gone after deadAfter and a silent link down after downAfter.
func startGridWith(t testing.TB, w, h int, deadAfter, downAfter time.Duration) *tilegrid.Grid {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real daemons (-short: the ARM run under emulation keeps the unit tests)")
	}
	cfg := tilegrid.DefaultConfig(w, h)
	cfg.Dir = filepath.Join(t.TempDir(), "grid")
	cfg.Seed = 7
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, deadAfter
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, downAfter
	return gridtest.Start(t, cfg)
}

// step is the tile beyond c on d.
func step(g *tilegrid.Grid, c tilegrid.Coord, d packet.Dir) tilegrid.Coord {
	n, _ := g.Geometry().Neighbour(c, d)
	return n
}

// call asks the routing service of the tile at c.
func call[T any](t testing.TB, g *tilegrid.Grid, c tilegrid.Coord, req routes.Request) (T, error) {
	t.Helper()
	var out T
	cl, err := control.Dial(g.Tile(c).RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return out, cl.Call("route", req, &out)
}

// converged reports whether every tile reaches every other.
func converged(t testing.TB, g *tilegrid.Grid) (bool, string) {
	n := len(g.Tiles())
	for _, tl := range g.Tiles() {
		tab, err := call[routes.Table](t, g, tl.Coord, routes.Request{})
		if err != nil {
			return false, err.Error()
		}
		if len(tab.Routes) != n-1 {
			return false, fmt.Sprintf("tile %v reaches %d of %d", tl.Coord, len(tab.Routes), n-1)
		}
	}
	return true, ""
}

func waitConverged(t testing.TB, g *tilegrid.Grid, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := converged(t, g)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("routes did not converge within %v: %s", within, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGridRoutesConverge: on a 6x6 grid every tile learns a route to every
// other, each route's path leads where it says, and the far corner has
// two paths that share no link.
func TestGridRoutesConverge(t *testing.T) {
	g := startGrid(t, 6, 6)
	waitConverged(t, g, 30*time.Second)
	corner, far := tilegrid.Coord{}, tilegrid.Coord{X: 5, Y: 5}
	tab, err := call[routes.Table](t, g, corner, routes.Request{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Routes {
		if d, err := call[routes.Dest](t, g, corner, routes.Request{Tile: r.Path, Paths: 1}); err != nil || d.Tile != r.Tile || d.Hops != r.Hops {
			t.Errorf("path %s of %v leads to %v (%d hops), %v", r.Path, r.Tile, d.Tile, d.Hops, err)
		}
	}
	farID := gridtest.Identity(t, g, far)
	d, err := call[routes.Dest](t, g, corner, routes.Request{Tile: farID.String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Paths) < 2 {
		t.Fatalf("corner to corner: %d disjoint paths %v, want 2", len(d.Paths), d.Paths)
	}
	used := map[string]bool{}
	for _, p := range d.Paths {
		end, err := call[routes.Dest](t, g, corner, routes.Request{Tile: p, Paths: 1})
		if err != nil || end.Tile != farID {
			t.Errorf("path %s ends at %v, want %v (%v)", p, end.Tile, farID, err)
		}
		// Links are named by the tile and direction they leave from.
		steps, _ := routes.ParseRoute(p)
		c := corner
		for _, s := range steps {
			key := linkKey(g, c, s)
			if used[key] {
				t.Errorf("paths %v share link %s", d.Paths, key)
			}
			used[key] = true
			c = step(g, c, s)
		}
	}
}

// linkKey names the link from c on d the same from either end.
func linkKey(g *tilegrid.Grid, c tilegrid.Coord, d packet.Dir) string {
	n := step(g, c, d)
	a, b := fmt.Sprint(c, d), fmt.Sprint(n, d.Opposite())
	if b < a {
		a, b = b, a
	}
	return a + "-" + b
}

// TestGridRoutesRepairAfterCut: cutting a link on a route makes every tile
// route around it, and restoring it brings the short route back.
func TestGridRoutesRepairAfterCut(t *testing.T) {
	g := startGrid(t, 4, 4)
	waitConverged(t, g, 30*time.Second)
	a, b := tilegrid.Coord{}, tilegrid.Coord{X: 3, Y: 0}
	bID := gridtest.Identity(t, g, b)
	before, err := call[routes.Dest](t, g, a, routes.Request{Tile: bID.String(), Paths: 1})
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := routes.ParseRoute(before.Paths[0])
	if err := g.Cut(a, steps[0]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := call[routes.Dest](t, g, a, routes.Request{Tile: bID.String(), Paths: 1})
		if err == nil && len(d.Paths) == 1 && d.Paths[0][:2] != steps[0].String() {
			if d.Hops <= before.Hops {
				t.Errorf("after the cut %d hops, before %d: the detour cannot be shorter", d.Hops, before.Hops)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no route around the cut %v of %v: %+v %v", steps[0], a, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := g.Restore(a, steps[0]); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		d, err := call[routes.Dest](t, g, a, routes.Request{Tile: bID.String(), Paths: 1})
		if err == nil && d.Hops == before.Hops {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the short route did not come back: %+v %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGridRoutesAfterQuickRestart: a tile whose daemon restarts faster
// than its neighbours' liveness deadline (systemd's restart after a
// crash, an upgrade) comes back with an empty table. Its neighbours see
// the hello's clock fall and count it a new connect, so they send it
// their tables at once, not at the next refresh ten minutes later. The
// deadlines here are a minute, so only the hellos can tell.
func TestGridRoutesAfterQuickRestart(t *testing.T) {
	g := startGridWith(t, 3, 1, time.Minute, time.Minute)
	waitConverged(t, g, 30*time.Second)
	end := tilegrid.Coord{X: 2}
	mark := g.Mark()
	if err := g.Stop(end); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(end); err != nil {
		t.Fatal(err)
	}
	mid := tilegrid.Coord{X: 1}
	if _, err := g.WaitEvent(30*time.Second, mark, "the middle tile sees the restart as a connect",
		func(e tilegrid.Event) bool {
			return e.Tile == mid && e.Dir == packet.ET && e.Kind == packet.EventConnect
		}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, g, 30*time.Second)
}
