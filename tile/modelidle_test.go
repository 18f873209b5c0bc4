// go-fuse, under the model, does not build for 32-bit targets.

//go:build !(arm || 386 || mips || mipsle)

package tile_test

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tile"
)

// BenchmarkKernelIdleSix measures what reading the itc_pkt devices costs
// an idle tile with six live neighbours on a real tile's settings: seven
// tiles on the FUSE model of the module, each running the code of
// `itcd run` with the kernel backend and the default hello interval and
// poll interval. The devices have no poll(), so the centre's reader wakes
// on its own timer to try them; every wakeup is a read(2) of each open
// device that has nothing (and of those up to the one that has a
// packet). It reports the centre's polls a second (reader wakeups:
// itc/dev KernelStats.Polls), its read(2) calls a second as the model
// counted them, and the packets it read a second (the neighbours'
// hellos).
func BenchmarkKernelIdleSix(b *testing.B) {
	m := itcmodel.ForTest(b, itcmodel.Config{})
	centre, err := m.Tile("c")
	if err != nil {
		b.Fatal(err)
	}
	settings := func(mt *itcmodel.Tile) tile.Config {
		cfg := modelConfig(b, mt, "idle")
		cfg.Kernel.StatusInterval = 0 // the defaults of a real tile
		cfg.HelloInterval = tile.DefaultConfig().HelloInterval
		cfg.DeadAfter = tile.DefaultConfig().DeadAfter
		cfg.LogLevel = "warn"
		return cfg
	}
	for _, d := range packet.Links {
		n, err := m.Tile("n" + d.String())
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Link(centre, d, n); err != nil {
			b.Fatal(err)
		}
	}
	c := startTile(b, centre, settings(centre))
	for _, d := range packet.Links {
		n, _ := m.Tile("n" + d.String())
		startTile(b, n, settings(n))
	}
	waitFor(b, "six live neighbours", func() bool {
		live := 0
		for _, l := range c.Status().Links {
			if l.State == control.Live {
				live++
			}
		}
		return live == 6
	})
	time.Sleep(time.Second) // past the start's announcements
	stats := func() dev.KernelStats {
		if s := c.Status().KernelStats; s != nil {
			return *s
		}
		b.Fatal("no kernel_stats in the status of a tile on the kernel backend")
		return dev.KernelStats{}
	}
	const span = 3 * time.Second
	b.ResetTimer()
	var polls, reads, pkts, wall float64
	for i := 0; i < b.N; i++ {
		s0, r0, w0 := stats(), centre.Reads(), time.Now()
		time.Sleep(span)
		s1 := stats()
		polls += float64(s1.Polls - s0.Polls)
		reads += float64(centre.Reads() - r0)
		pkts += float64(s1.Read() - s0.Read())
		wall += time.Since(w0).Seconds()
	}
	b.StopTimer()
	b.ReportMetric(polls/wall, "polls/s")
	b.ReportMetric(reads/wall, "reads/s")
	b.ReportMetric(pkts/wall, "packets/s")
}
