package dist_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tile"
)

// spread pushes a file of size bytes at src of a w x h grid and returns
// the seconds until each tile completed (row-major), the body size, and
// the CPU seconds the process used meanwhile.
func spread(b *testing.B, w, h int, prof dev.LinkProfile, size int, src tilegrid.Coord, tuning dist.Tuning) (done []float64, body int64, cpu float64) {
	b.Helper()
	fx := grid(b, w, h, prof, func(cfg *tilegrid.Config) {
		cfg.LogLevel = "warn"
		cfg.Options = func(_ tilegrid.Coord, o *tile.Options) { o.MFZ.Tuning = tuning }
	})
	path := pack(b, fx.dir, "physics.mfz", 1000, size, fx.priv, 42)
	time.Sleep(500 * time.Millisecond) // let the grid settle
	cpu0 := cpuSeconds()
	start := time.Now()
	r, err := fx.push(src, path)
	if err != nil {
		b.Fatal(err)
	}
	geo := fx.g.Geometry()
	done = make([]float64, geo.Len())
	err = fx.g.WaitFor(10*time.Minute, "all complete", func() bool {
		all := true
		for _, c := range geo.Coords() {
			i := geo.Index(c)
			if done[i] > 0 {
				continue
			}
			p, ok := dist.ProgressOf(statusOf(fx.g, c), "physics.mfz", 1000)
			if !ok || !p.Complete {
				all = false
				continue
			}
			at := time.Now()
			if !p.CompletedAt.IsZero() {
				at = p.CompletedAt
			}
			done[i] = max(at.Sub(start).Seconds(), 1e-9)
		}
		return all
	})
	cpu = cpuSeconds() - cpu0
	if err != nil {
		fx.dump()
		b.Fatal(err)
	}
	if os.Getenv("DIST_BENCH_DEBUG") != "" {
		slowest := 0
		for i := range done {
			if done[i] > done[slowest] {
				slowest = i
			}
		}
		c := geo.Coords()[slowest]
		b.Logf("slowest %v: %+v", c, fx.status(c).Counters)
	}
	return done, r.Body, cpu
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// BenchmarkGrid2x1 is one hop: goodput of a 1 MB file over one 64 KB/s
// link, as a fraction of the link's raw rate.
func BenchmarkGrid2x1(b *testing.B) {
	for _, loss := range []float64{0, 0.01} {
		b.Run(fmt.Sprintf("loss=%g", loss), func(b *testing.B) {
			prof := dev.LinkProfile{Rate: tilegrid.DefaultRate, Loss: loss}
			for i := 0; i < b.N; i++ {
				done, body, cpu := spread(b, 2, 1, prof, 1<<20, tilegrid.Coord{}, dist.Tuning{})
				secs := done[1]
				b.ReportMetric(secs, "s")
				b.ReportMetric(float64(body)/secs/float64(prof.Rate), "goodput/rate")
				b.ReportMetric(100*cpu/secs/2, "%cpu/tile")
			}
		})
	}
}

// BenchmarkGrid6x6 spreads 1 MB from a corner over 64 KB/s links and
// reports the time until every tile holds it over the single-tree lower
// bound (target <= 1.3) and over the multipath bound.
func BenchmarkGrid6x6(b *testing.B) {
	if os.Getenv("DIST_BENCH_6x6") == "skip" {
		b.Skip()
	}
	for _, c := range []struct {
		name  string
		loss  float64
		strat dist.Strategy
	}{
		{"sequential", 0, dist.Sequential},
		{"rarest", 0, dist.RarestFirst},
		{"sequential/loss=0.05", 0.05, dist.Sequential},
		{"rarest/loss=0.05", 0.05, dist.RarestFirst},
	} {
		b.Run(c.name, func(b *testing.B) {
			prof := dev.LinkProfile{Rate: tilegrid.DefaultRate, Loss: c.loss}
			geo := tilegrid.Geometry{W: 6, H: 6}
			for i := 0; i < b.N; i++ {
				done, body, cpu := spread(b, 6, 6, prof, 1<<20, tilegrid.Coord{}, dist.Tuning{Strategy: c.strat, MinRTO: minRTO})
				all := maxOf(done)
				lb := geo.LowerBound(tilegrid.Coord{}, prof.Rate, body)
				mb := geo.MultipathBound(tilegrid.Coord{}, prof.Rate, body)
				b.ReportMetric(all, "s")
				b.ReportMetric(all/lb, "x_lower_bound")
				b.ReportMetric(all/mb, "x_multipath")
				b.ReportMetric(100*cpu/all/36, "%cpu/tile")
				b.Logf("%s: all complete %.2fs, bound %.2fs (multipath %.2fs), per tile %v", c.name, all, lb, mb, round(done))
			}
		})
	}
}

var minRTO = func() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("DIST_MIN_RTO"))
	return d
}()

func round(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}
