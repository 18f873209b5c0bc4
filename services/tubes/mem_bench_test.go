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
)

// BenchmarkTubeMemory: 20 tubes whose far programs never read, their
// writers blocked: the heap the two tiles hold for them, per tube and side
// (bytes_per_tube_side), and as a multiple of the configured window
// (x_window; the issue asks for the window plus a constant). Both tiles
// run in this process, so the heap is theirs.
func BenchmarkTubeMemory(b *testing.B) {
	const n = 20
	for i := 0; i < b.N; i++ {
		g := startGrid(b, 2, 1, dev.LinkProfile{Rate: 1 << 20})
		from, to := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
		before := heapInUse()
		var clients []*sockClient
		for k := 0; k < n; k++ {
			port := 500 + k
			acc := dialSock(b, to.RunDir, fmt.Sprintf("accept %d acks", port))
			op := dialSock(b, from.RunDir, fmt.Sprintf("open ET %d", port))
			if r := op.reply(); !strings.HasPrefix(r, "ok ") {
				b.Fatalf("open: %q", r)
			}
			acc.reply()
			clients = append(clients, op, acc)
			go func() {
				for {
					op.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
					if _, err := op.conn.Write(append([]byte{'d'}, make([]byte, 8192)...)); err != nil {
						return
					}
				}
			}()
		}
		// Wait until every window is full: nothing moves any more.
		last := uint64(0)
		for {
			time.Sleep(500 * time.Millisecond)
			st := tubeStatus(b, g, tilegrid.Coord{X: 1})
			var in uint64
			for _, t := range st.Tubes {
				in += t.BytesIn
			}
			if in == last && in > 0 {
				break
			}
			last = in
		}
		per := float64(heapInUse()-before) / n / 2
		b.ReportMetric(per, "bytes_per_tube_side")
		b.ReportMetric(per/float64(tubes.DefaultConfig().Window), "x_window")
		for _, c := range clients {
			c.conn.Close()
		}
		g.Close()
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
