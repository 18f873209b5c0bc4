package tubes_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
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
			far := identity(b, g, to)
			if n := len(pathsTo(b, g, from, far)); n < paths {
				b.Fatalf("%d disjoint paths, want %d", n, paths)
			}
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
