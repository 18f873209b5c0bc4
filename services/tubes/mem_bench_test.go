package tubes_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// BenchmarkTubeMemory: the heap two tiles hold for 20 tubes, per tube and
// tile (bytes_per_tube_side) and as a multiple of the configured window
// (x_window): idle tubes, and tubes whose far programs never read, their
// writers blocked (then the sender holds a window and a frame, the
// receiver a window). Both tiles run in this process, so the heap is
// theirs; the test's own clients allocate nothing while it is measured.
func BenchmarkTubeMemory(b *testing.B) {
	for _, stalled := range []bool{false, true} {
		name := "idle"
		if stalled {
			name = "stalled"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				per := tubeMemory(b, 20, stalled)
				b.ReportMetric(per, "bytes_per_tube_side")
				b.ReportMetric(per/float64(tubes.DefaultConfig().Window), "x_window")
			}
		})
	}
}

func tubeMemory(b *testing.B, n int, stalled bool) float64 {
	g := startGrid(b, 2, 1, dev.LinkProfile{Rate: 1 << 20})
	defer g.Close()
	from, to := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	before := heapInUse()
	var clients []*tubetest.Raw
	for k := 0; k < n; k++ {
		port := 500 + k
		acc := tubetest.DialRaw(b, to.RunDir, fmt.Sprintf("accept %d acks", port))
		op := tubetest.DialRaw(b, from.RunDir, fmt.Sprintf("open ET %d", port))
		if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
			b.Fatalf("open: %q", r)
		}
		acc.Reply()
		clients = append(clients, op, acc)
		if stalled {
			go func() {
				frame := append([]byte{'d'}, make([]byte, 8192)...)
				for {
					op.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
					if _, err := op.Conn.Write(frame); err != nil {
						return
					}
				}
			}()
		}
	}
	// Until nothing moves any more: every window full (or nothing sent).
	for last := uint64(1); ; {
		time.Sleep(300 * time.Millisecond)
		var in uint64
		for _, t := range tubeStatus(b, g, tilegrid.Coord{X: 1}).Tubes {
			in += t.BytesIn
		}
		if in == last {
			break
		}
		last = in
	}
	per := float64(heapInUse()-before) / float64(n) / 2
	for _, c := range clients {
		c.Conn.Close()
	}
	return per
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
