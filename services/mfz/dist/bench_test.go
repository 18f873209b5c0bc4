package dist_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/procstat"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tile"
)

// spreadCase is one push on a simulated grid of in-process tiles.
type spreadCase struct {
	w, h   int
	src    tilegrid.Coord
	size   int // payload bytes
	bs     int // block size; 0: Pack's choice (4 KiB)
	prof   dev.LinkProfile
	tuning dist.Tuning
}

// spreadResult is what a push did.
type spreadResult struct {
	done      []float64 // seconds until each tile completed, row-major
	started   []float64 // seconds until each tile knew of the file (its status shows it), row-major
	body      int64     // bytes of the file's body
	size      int64     // bytes of the MFZ file: S of the bounds
	cpu       float64   // CPU seconds of the process meanwhile
	inDropped uint64    // packets dropped by a full inbound queue or receive buffer, all links
	dups      uint64    // chunks that came twice or unasked, all tiles
	chunks    uint64    // chunks taken, all tiles
	timeouts  uint64    // request windows' silence timeouts, all tiles
	reads     uint64    // blocks read from a store to serve, all tiles
	saved     uint64    // blocks served from the copies of the last verified (recent.go)
}

// spread pushes a file at c.src once the grid is live and waits until every
// tile holds it, byte-identical.
func spread(b *testing.B, c spreadCase) spreadResult {
	b.Helper()
	fx := grid(b, c.w, c.h, c.prof, func(cfg *tilegrid.Config) {
		cfg.LogLevel = "warn"
		cfg.Options = func(_ tilegrid.Coord, o *tile.Options) { o.MFZ.Tuning = c.tuning }
	})
	path := packBlocks(b, fx.dir, "physics.mfz", 1000, c.size, c.bs, fx.priv, 42)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the grid settle
	built := time.Now()
	cpu0 := procstat.CPU()
	start := time.Now()
	r, err := fx.push(c.src, path)
	if err != nil {
		b.Fatal(err)
	}
	geo := fx.g.Geometry()
	res := spreadResult{done: make([]float64, geo.Len()), started: make([]float64, geo.Len()), body: r.Body, size: fi.Size()}
	err = fx.g.WaitFor(10*time.Minute, "all complete", func() bool {
		all := true
		for _, cc := range geo.Coords() {
			i := geo.Index(cc)
			if res.done[i] > 0 {
				continue
			}
			p, ok := dist.ProgressOf(statusOf(fx.g, cc), "physics.mfz", 1000)
			if ok && res.started[i] == 0 {
				res.started[i] = max(time.Since(start).Seconds(), 1e-9)
			}
			if !ok || !p.Complete {
				all = false
				continue
			}
			at := time.Now()
			if !p.CompletedAt.IsZero() {
				at = p.CompletedAt
			}
			res.done[i] = max(at.Sub(start).Seconds(), 1e-9)
		}
		return all
	})
	res.cpu = (procstat.CPU() - cpu0).Seconds()
	if err != nil {
		fx.dump()
		b.Fatal(err)
	}
	fx.checkIdentical("physics.mfz", path)
	for _, l := range fx.g.LinkReports(time.Since(built)) {
		// Dropped by a full inbound queue.
		res.inDropped += l.InDropped
	}
	for _, cc := range geo.Coords() {
		s := fx.status(cc).Counters
		res.dups += s.Duplicates + s.Unexpected
		res.chunks += s.ChunksIn
		res.timeouts += s.Timeouts
		res.reads += s.BlockReads
		res.saved += s.ReadsSaved
	}
	return res
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// report puts a push's figures as ratios to the bounds `itcd sim --json`
// reports: the single-tree lower bound, the multipath bound, and the
// multipath bound through the links' loss.
func (res spreadResult) report(b *testing.B, c spreadCase) float64 {
	geo := tilegrid.Geometry{W: c.w, H: c.h}
	all := maxOf(res.done)
	mb := geo.MultipathBound(c.src, c.prof.Rate, res.size)
	b.ReportMetric(all, "s")
	b.ReportMetric(all/geo.LowerBound(c.src, c.prof.Rate, res.size), "x_lower")
	b.ReportMetric(all/mb, "x_multipath")
	if c.prof.Loss > 0 {
		b.ReportMetric(all/(mb/(1-c.prof.Loss)), "x_loss_adjusted")
	}
	b.ReportMetric(float64(res.inDropped), "in_dropped")
	// The last tile to start: when its status first shows the file (a
	// transfer begun, its manifest fetched), polled.
	b.ReportMetric(maxOf(res.started), "last_start_s")
	b.ReportMetric(float64(res.dups)/float64(max(res.chunks, 1)), "dup/chunk")
	b.ReportMetric(float64(res.timeouts), "timeouts")
	b.ReportMetric(float64(res.saved)/float64(max(res.saved+res.reads, 1)), "reads_saved")
	// CPU seconds per MiB spread per tile: the whole process's CPU (every
	// tile's daemon and the simulated links) over MiB x tiles.
	b.ReportMetric(res.cpu/(float64(res.body)/(1<<20))/float64(geo.Len()), "cpu_s/MiB/tile")
	if testing.Verbose() {
		rows := ""
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				rows += fmt.Sprintf(" %5.2f", res.done[geo.Index(tilegrid.Coord{X: x, Y: y})])
			}
			rows += "\n"
		}
		b.Logf("completion (s) by tile, bound %.2fs:\n%s", mb, rows)
	}
	return all
}

// BenchmarkSpread pushes a file over simulated 64 KB/s links (16 KB
// device queues) and reports the time until every tile holds it as a
// ratio to the bounds (issue 13's targets: 6x6 corner and centre <= 1.15
// x_multipath, 20x1 <= 1.15 x_lower, 20% loss <= 1.5 x_loss_adjusted).
// "sequential" is the block choice before super-seeding and rarest first,
// for comparison. loss=0.05 also runs the same grid lossless and reports
// x_lossless (target <= 1.1).
func BenchmarkSpread(b *testing.B) {
	rate := dev.LinkProfile{Rate: tilegrid.DefaultRate}
	lossy := func(p float64) dev.LinkProfile { return dev.LinkProfile{Rate: tilegrid.DefaultRate, Loss: p} }
	corner, centre := tilegrid.Coord{}, tilegrid.Coord{X: 2, Y: 2}
	for _, c := range []struct {
		name string
		spreadCase
		lossless bool
	}{
		{name: "6x6-corner", spreadCase: spreadCase{w: 6, h: 6, src: corner, size: 1 << 20, prof: rate}},
		{name: "6x6-corner-sequential", spreadCase: spreadCase{w: 6, h: 6, src: corner, size: 1 << 20, prof: rate,
			tuning: dist.Tuning{Strategy: dist.Sequential, NoSuperSeed: true}}},
		{name: "6x6-corner-8KiB-blocks", spreadCase: spreadCase{w: 6, h: 6, src: corner, size: 1 << 20, bs: 8192, prof: rate}},
		{name: "6x6-centre", spreadCase: spreadCase{w: 6, h: 6, src: centre, size: 1 << 20, prof: rate}},
		{name: "20x1", spreadCase: spreadCase{w: 20, h: 1, src: corner, size: 1 << 20, prof: rate}},
		{name: "6x6-corner-loss=0.05", spreadCase: spreadCase{w: 6, h: 6, src: corner, size: 1 << 20, prof: lossy(0.05)}, lossless: true},
		{name: "4x4-256KiB-loss=0.2", spreadCase: spreadCase{w: 4, h: 4, src: corner, size: 256 << 10, prof: lossy(0.2)}},
		// A small file down a long chain at 20% loss: the start of each
		// hop (announcement, manifest) is most of the time.
		{name: "20x1-64KiB-loss=0.2", spreadCase: spreadCase{w: 20, h: 1, src: corner, size: 64 << 10, prof: lossy(0.2)}},
		{name: "4x4-256KiB-loss,dup,corrupt=0.05", spreadCase: spreadCase{w: 4, h: 4, src: corner, size: 256 << 10,
			prof: dev.LinkProfile{Rate: tilegrid.DefaultRate, Loss: 0.05, Duplicate: 0.05, Corrupt: 0.05}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				all := spread(b, c.spreadCase).report(b, c.spreadCase)
				if c.lossless {
					clean := c.spreadCase
					clean.prof.Loss = 0
					b.ReportMetric(all/maxOf(spread(b, clean).done), "x_lossless")
				}
			}
		})
	}
}

// BenchmarkGrid2x1 is one hop: goodput of a 1 MB file over one 64 KB/s
// link, as a fraction of the link's raw rate, and of what gets through
// its loss.
func BenchmarkGrid2x1(b *testing.B) {
	for _, loss := range []float64{0, 0.01, 0.2} {
		b.Run(fmt.Sprintf("loss=%g", loss), func(b *testing.B) {
			c := spreadCase{w: 2, h: 1, size: 1 << 20, prof: dev.LinkProfile{Rate: tilegrid.DefaultRate, Loss: loss}}
			for i := 0; i < b.N; i++ {
				res := spread(b, c)
				secs := res.done[1]
				b.ReportMetric(secs, "s")
				b.ReportMetric(float64(res.body)/secs/float64(c.prof.Rate), "goodput/rate")
				b.ReportMetric(float64(res.body)/secs/float64(c.prof.Rate)/(1-loss), "goodput/(rate*(1-loss))")
				b.ReportMetric(100*res.cpu/secs/2, "%cpu/tile")
			}
		})
	}
}
