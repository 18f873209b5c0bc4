package routes_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tile"
)

// benchGrid starts the grid ROUTE_BENCH_GRID names (default def) with the
// simulator's default liveness timing, and tweak applied to each tile's
// routing settings.
func benchGrid(b *testing.B, def string, tweak func(*routes.Config)) *tilegrid.Grid {
	b.Helper()
	geo := def
	if s := os.Getenv("ROUTE_BENCH_GRID"); s != "" {
		geo = s
	}
	gm, err := tilegrid.ParseGeometry(geo)
	if err != nil {
		b.Fatal(err)
	}
	cfg := tilegrid.DefaultConfig(gm.W, gm.H)
	cfg.Dir = filepath.Join(b.TempDir(), "grid")
	cfg.Seed = 7
	if tweak != nil {
		cfg.Tweak = func(_ tilegrid.Coord, c *tile.Config) { tweak(&c.Route) }
	}
	if gm.Len() <= 100 {
		return gridtest.Start(b, cfg)
	}
	// A grid of hundreds of in-process tiles takes this 2-core machine
	// longer than gridtest's wait to bring every link up (issue 13).
	g, err := tilegrid.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	if err := g.WaitAllLive(5 * time.Minute); err != nil {
		b.Fatal(err)
	}
	return g
}

// routeStatus is the routing section of the tile at c.
func routeStatus(b *testing.B, g *tilegrid.Grid, c tilegrid.Coord) routes.Status {
	s, err := call[routes.Table](b, g, c, routes.Request{})
	if err != nil {
		b.Fatal(err)
	}
	return s.Status
}

// waitLinks waits until every tile knows exactly want links.
func waitLinks(b *testing.B, g *tilegrid.Grid, want int) {
	b.Helper()
	waitLinksExcept(b, g, want, tilegrid.Coord{X: -1, Y: -1})
}

// gridLinks counts the grid's links.
func gridLinks(g *tilegrid.Grid) int {
	n := 0
	for _, t := range g.Tiles() {
		n += len(t.Links)
	}
	return n / 2
}

// BenchmarkRouteRepair: a link in the middle of a 10x10 grid is cut; the
// figure is the time until every tile's graph has lost it (s/repair),
// which bounds when every route that used it has been repaired.
func BenchmarkRouteRepair(b *testing.B) {
	g := benchGrid(b, "10x10", nil)
	all := gridLinks(g)
	waitLinks(b, g, all)
	geo := g.Geometry()
	mid := tilegrid.Coord{X: geo.W / 2, Y: geo.H / 2}
	var worst time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := g.Cut(mid, packet.ET); err != nil {
			b.Fatal(err)
		}
		waitLinks(b, g, all-1)
		took := time.Since(start)
		worst = max(worst, took)
		b.StopTimer()
		if err := g.Restore(mid, packet.ET); err != nil {
			b.Fatal(err)
		}
		waitLinks(b, g, all)
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/repair")
	b.ReportMetric(worst.Seconds(), "worst_s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRouteRepairTileStops: a tile in the middle of a 10x10 grid
// stops (its neighbours hear nothing more; the simulator's default
// liveness timing, as a tile's: hello 250 ms, dead after 2.5 s). The
// figure is the time until every other tile's graph has lost its links:
// the neighbours' liveness timeout, then the flood.
func BenchmarkRouteRepairTileStops(b *testing.B) {
	g := benchGrid(b, "10x10", nil)
	all := gridLinks(g)
	waitLinks(b, g, all)
	geo := g.Geometry()
	mid := tilegrid.Coord{X: geo.W / 2, Y: geo.H / 2}
	gone := len(g.Tile(mid).Links)
	var worst time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := g.Stop(mid); err != nil {
			b.Fatal(err)
		}
		waitLinksExcept(b, g, all-gone, mid)
		worst = max(worst, time.Since(start))
		b.StopTimer()
		if err := g.Start(mid); err != nil {
			b.Fatal(err)
		}
		waitLinks(b, g, all)
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/repair")
	b.ReportMetric(worst.Seconds(), "worst_s")
	b.ReportMetric(0, "ns/op")
}

// waitLinksExcept is waitLinks for every tile but skip.
func waitLinksExcept(b *testing.B, g *tilegrid.Grid, want int, skip tilegrid.Coord) {
	b.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for _, t := range g.Tiles() {
		if t.Coord == skip {
			continue
		}
		for routeStatus(b, g, t.Coord).Links != want {
			if time.Now().After(deadline) {
				b.Fatalf("tile %v knows %d links, want %d", t.Coord, routeStatus(b, g, t.Coord).Links, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// BenchmarkRouteIdleTraffic: the routing service's traffic on an idle,
// converged grid, per link and direction, as a share of a 64 KB/s link.
// Refresh is cut to 5 s so a short run sees many refreshes; traffic is
// proportional to tiles/refresh, so the figure at the default (10 min)
// on 20x20 is reported beside it (idle_share_20x20).
func BenchmarkRouteIdleTraffic(b *testing.B) {
	const refresh = 5 * time.Second
	g := benchGrid(b, "10x10", func(c *routes.Config) {
		c.Refresh, c.MaxAge = conf.Duration(refresh), conf.Duration(3*refresh)
	})
	waitLinks(b, g, gridLinks(g))
	time.Sleep(2 * refresh) // past the start-up floods
	sum := func() (bytes, packets uint64) {
		for _, t := range g.Tiles() {
			c := routeStatus(b, g, t.Coord).Counts
			bytes += c.BytesOut
			packets += c.LSAsOut + c.AcksOut
		}
		return
	}
	b.ResetTimer()
	b0, p0 := sum()
	start := time.Now()
	for range b.N {
		time.Sleep(4 * refresh)
	}
	b1, p1 := sum()
	secs := time.Since(start).Seconds()
	// On the link each packet is also its service byte.
	perLink := float64(b1-b0+p1-p0) / secs / float64(2*gridLinks(g))
	share := perLink / float64(tilegrid.DefaultRate)
	tiles := float64(len(g.Tiles()))
	def := routes.DefaultConfig().Refresh.D()
	b.ReportMetric(perLink, "B/s/link")
	b.ReportMetric(share*100, "%link")
	b.ReportMetric(share*100*(400/tiles)*(refresh.Seconds()/def.Seconds()), "%link_20x20_default")
	b.ReportMetric(0, "ns/op")
}
