package tubes_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// BenchmarkTubeRouted: a tube from corner to corner of a 6x6 grid, 1 MiB
// each iteration, sent over one path and striped over two that share no
// link (x_link as BenchmarkTubeOneLink; x_one_path is the two-path rate
// over the one-path rate measured in the same run).
func BenchmarkTubeRouted(b *testing.B) {
	rate := map[int]float64{}
	for _, paths := range []int{1, 2} {
		b.Run(fmt.Sprintf("paths=%d", paths), func(b *testing.B) {
			g := startGridWith(b, 6, 6, dev.LinkProfile{Rate: benchRate}, func(c *tubes.Config) { c.Paths = paths })
			from, to := tilegrid.Coord{}, tilegrid.Coord{X: 5, Y: 5}
			far := gridtest.Identity(b, g, to)
			waitPaths(b, g, from, far, func(p []string) bool { return len(p) >= paths })
			data := randomBytes(1<<20, 7)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += moveTo(b, g.Tile(from).RunDir, g.Tile(to).RunDir, far.String(), uint16(10+i), data)
			}
			x := float64(len(data)) * float64(b.N) / total.Seconds() / benchRate
			rate[paths] = x
			b.ReportMetric(x, "x_link")
			if paths > 1 && rate[1] > 0 {
				b.ReportMetric(x/rate[1], "x_one_path")
			}
		})
	}
}

// BenchmarkTubeRoutedCut: 2 MiB from corner to corner of a 6x6 grid over
// two paths; once a third has been delivered, a link in the middle of
// one path is cut. The rate before the cut and after it (once the tube
// has moved to the path left), as x_link.
func BenchmarkTubeRoutedCut(b *testing.B) {
	g := startGridWith(b, 6, 6, dev.LinkProfile{Rate: benchRate}, func(c *tubes.Config) { c.Paths = 2 })
	from, to := tilegrid.Coord{}, tilegrid.Coord{X: 5, Y: 5}
	far := gridtest.Identity(b, g, to)
	waitPaths(b, g, from, far, func(p []string) bool { return len(p) >= 2 })
	data := randomBytes(2<<20, 12)
	var before, after, whole float64
	for i := 0; i < b.N; i++ {
		port := uint16(40 + i)
		acc := tubetest.DialRaw(b, g.Tile(to).RunDir, fmt.Sprintf("accept %d", port))
		op := tubetest.DialRaw(b, g.Tile(from).RunDir, fmt.Sprintf("open %v %d timeout=20s", far, port))
		op.Reply()
		acc.Reply()
		start := time.Now()
		done := make(chan struct{})
		var got []byte
		go func() { defer close(done); got, _ = acc.Pump(nil, 120*time.Second) }()
		go op.Pump(data, 120*time.Second)
		st := waitDelivered(b, g, from, uint64(len(data)/3))
		cutAt, cutBytes := time.Now(), st.Delivered
		steps, _ := routes.ParseRoute(st.Route)
		c := from
		for _, s := range steps[:len(steps)/2] {
			c, _ = g.Geometry().Neighbour(c, s)
		}
		if err := g.Cut(c, steps[len(steps)/2]); err != nil {
			b.Fatal(err)
		}
		<-done
		end := time.Now()
		if !bytes.Equal(got, data) {
			b.Fatalf("%d of %d bytes, not the same", len(got), len(data))
		}
		g.Restore(c, steps[len(steps)/2])
		before = float64(cutBytes) / cutAt.Sub(start).Seconds() / benchRate
		after = float64(uint64(len(data))-cutBytes) / end.Sub(cutAt).Seconds() / benchRate
		whole = float64(len(data)) / end.Sub(start).Seconds() / benchRate
		op.Conn.Close()
		acc.Conn.Close()
	}
	b.ReportMetric(before, "x_link_before")
	b.ReportMetric(after, "x_link_after")
	b.ReportMetric(whole, "x_link")
}

// BenchmarkTubeRoutedShare: on a 4x1 chain, a tube from the west end to
// the east end and one from the second tile to the east end share the
// links east of the second tile, which forwards the first while it sends
// the second. Each tube's share of the link (x_link) and what the
// forwarder dropped and marked per forwarded packet.
func BenchmarkTubeRoutedShare(b *testing.B) {
	g := startGrid(b, 4, 1, dev.LinkProfile{Rate: benchRate})
	east := tilegrid.Coord{X: 3}
	far := gridtest.Identity(b, g, east)
	pathsTo(b, g, tilegrid.Coord{}, far)
	pathsTo(b, g, tilegrid.Coord{X: 1}, far)
	data := randomBytes(512<<10, 13)
	var worst float64 = 9
	var both float64
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		took := make([]time.Duration, 2)
		for k, from := range []tilegrid.Coord{{}, {X: 1}} {
			wg.Add(1)
			go func(k int, from tilegrid.Coord) {
				defer wg.Done()
				took[k] = moveTo(b, g.Tile(from).RunDir, g.Tile(east).RunDir, far.String(), uint16(60+2*i+k), data)
			}(k, from)
		}
		wg.Wait()
		for _, d := range took {
			x := float64(len(data)) / d.Seconds() / benchRate
			worst = min(worst, x)
			both += x / float64(b.N)
		}
	}
	c := tubeStatus(b, g, tilegrid.Coord{X: 1}).Counters
	b.ReportMetric(worst, "x_link_slowest")
	b.ReportMetric(both, "x_link_sum")
	b.ReportMetric(float64(c.FwdDropped)/float64(max(c.Forwarded, 1)), "dropped/fwd")
	b.ReportMetric(float64(c.CEMarked)/float64(max(c.Forwarded, 1)), "marked/fwd")
}
