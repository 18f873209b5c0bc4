package dist_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"math/rand"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tile"
)

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}

func envFloat(k string, d float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return d
}

func BenchmarkExplore(b *testing.B) {
	if os.Getenv("EXPLORE") == "" {
		b.Skip()
	}
	w, h := envInt("W", 6), envInt("H", 6)
	src := tilegrid.Coord{X: envInt("SX", 0), Y: envInt("SY", 0)}
	size := envInt("SIZE", 1<<20)
	prof := dev.LinkProfile{Rate: tilegrid.DefaultRate, Loss: envFloat("LOSS", 0)}
	tun := dist.Tuning{Window: envInt("WIN", 0), DataDepth: envInt("DEPTH", 0), NoSuperSeed: os.Getenv("NOSEED") != ""}
	tun.MinRTO = time.Duration(envInt("MINRTO", 0)) * time.Millisecond
	if os.Getenv("SEQ") != "" {
		tun.Strategy = dist.Sequential
	}
	outq := envInt("OUTQ", 0)
	backlog := envInt("BACKLOG", -1)
	fx := grid(b, w, h, prof, func(cfg *tilegrid.Config) {
		cfg.LogLevel = "warn"
		cfg.Options = func(_ tilegrid.Coord, o *tile.Options) { o.MFZ.Tuning = tun }
		cfg.Tweak = func(_ tilegrid.Coord, c *tile.Config) {
			if outq > 0 {
				c.UDP.OutQueueBytes = outq
			}
			if backlog >= 0 {
				c.ServiceBacklog = backlog
			}
		}
	})
	payload := make([]byte, size)
	rand.New(rand.NewSource(42)).Read(payload)
	path := filepath.Join(fx.dir, "physics.mfz")
	out, _ := os.Create(path)
	if _, err := mfz.Pack(out, bytes.NewReader(payload), mfz.PackOptions{Name: "physics.mfz", Version: 1000, Key: fx.priv,
		SizeHint: int64(size), TempDir: fx.dir, BlockSize: envInt("BS", 0)}); err != nil {
		b.Fatal(err)
	}
	out.Close()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	r, err := fx.push(src, path)
	if err != nil {
		b.Fatal(err)
	}
	geo := fx.g.Geometry()
	done := make([]float64, geo.Len())
	began := make([]float64, geo.Len())
	trace := make([]string, geo.Len())
	lastTrace := make([]int, geo.Len())
	err = fx.g.WaitFor(5*time.Minute, "all complete", func() bool {
		all := true
		for _, c := range geo.Coords() {
			i := geo.Index(c)
			if done[i] > 0 {
				continue
			}
			p, ok := dist.ProgressOf(statusOf(fx.g, c), "physics.mfz", 1000)
			if ok && began[i] == 0 {
				began[i] = time.Since(start).Seconds()
			}
			if ok && !p.Complete && int(time.Since(start)/(250*time.Millisecond)) != lastTrace[i] {
				lastTrace[i] = int(time.Since(start) / (250 * time.Millisecond))
				st := fx.status(c)
				nb := ""
				for _, n := range st.Neighbours {
					q := -1
					var oc dist.Counters
					if o, ok := geo.Neighbour(c, n.Dir); ok {
						ost := fx.status(o)
						oc = ost.Counters
						for _, on := range ost.Neighbours {
							if on.Dir == n.Dir.Opposite() {
								q = on.Serving
							}
						}
					}
					nb += fmt.Sprintf(" %v:f%d/i%d/t%d/r%.0f/q%d/ri%d/co%d", n.Dir, n.Fetching, n.InFlight, n.Timeouts, n.RTTms, q, oc.RequestsIn, oc.ChunksOut)
				}
				trace[i] += fmt.Sprintf("\n   %.2f %d%s", time.Since(start).Seconds(), p.Have, nb)
			}
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
	if err != nil {
		b.Fatal(err)
	}
	all := maxOf(done)
	mb := geo.MultipathBound(src, prof.Rate, r.Body)
	lb := geo.LowerBound(src, prof.Rate, r.Body)
	s := ""
	for y := 0; y < h && w*h <= 64; y++ {
		for x := 0; x < w; x++ {
			i := geo.Index(tilegrid.Coord{X: x, Y: y})
			s += fmt.Sprintf(" %5.2f/%5.2f", began[i], done[i])
		}
		s += "\n"
	}
	var c dist.Counters
	for _, cc := range geo.Coords() {
		st := fx.status(cc).Counters
		c.Duplicates += st.Duplicates
		c.Lost += st.Lost
		c.Timeouts += st.Timeouts
		c.Unexpected += st.Unexpected
		c.ChunksIn += st.ChunksIn
		c.Avoided += st.Avoided
		c.Requests += st.Requests
		c.RequestsDropped += st.RequestsDropped
		c.NotHave += st.NotHave
		c.Reassigned += st.Reassigned
	}
	slow := 0
	for i := range done {
		if done[i] > done[slow] {
			slow = i
		}
	}
	if tx := envInt("TX", -1); tx >= 0 {
		slow = geo.Index(tilegrid.Coord{X: tx, Y: envInt("TY", 0)})
	}
	if os.Getenv("TRACE") != "" {
		os.WriteFile(os.Getenv("TRACE"), []byte(fmt.Sprintf("slowest %v:%s\n", geo.Coords()[slow], trace[slow])), 0o644)
	}
	b.Logf("all %.2fs multipath %.2fs x%.3f lower %.2fs x%.3f dup %d lost %d timeouts %d unexpected %d chunks %d avoided %d requests %d dropped %d nothave %d reassigned %d\n%s", all, mb, all/mb, lb, all/lb, c.Duplicates, c.Lost, c.Timeouts, c.Unexpected, c.ChunksIn, c.Avoided, c.Requests, c.RequestsDropped, c.NotHave, c.Reassigned, s)
}
