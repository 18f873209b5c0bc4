package dist_test

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// Spreading over whole grids of real daemons: byte-identical copies from
// a corner and from the centre of a 6x6 grid, and through 20% loss on
// every link. The rates, not the times, are for BenchmarkSpread.

func TestGrid6x6FromCornerAndCentre(t *testing.T) {
	if testing.Short() {
		t.Skip("36 daemons")
	}
	fx := grid(t, 6, 6, dev.LinkProfile{Rate: 512 << 10}, nil)
	corner := pack(t, fx.dir, "physics.mfz", 1000, 96<<10, fx.priv, 5)
	if _, err := fx.push(tilegrid.Coord{}, corner); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 1000, 120*time.Second)
	fx.checkIdentical("physics.mfz", corner)
	centre := pack(t, fx.dir, "physics.mfz", 2000, 96<<10, fx.priv, 6)
	if _, err := fx.push(tilegrid.Coord{X: 2, Y: 2}, centre); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 2000, 120*time.Second)
	fx.checkIdentical("physics.mfz", centre)
	// Every tile asked each block of one neighbour, so what came twice
	// is bounded: a few probes' and marker's duplicates per tile.
	var in, dup uint64
	for _, c := range fx.g.Geometry().Coords() {
		s := fx.status(c)
		in += s.Counters.ChunksIn
		dup += s.Counters.Duplicates + s.Counters.Unexpected
	}
	if in == 0 || dup*20 > in {
		t.Errorf("%d chunks came twice or unasked for %d taken: over 5%%", dup, in)
	}
}

func TestGrid4x4Loss20(t *testing.T) {
	if testing.Short() {
		t.Skip("16 daemons through heavy loss")
	}
	fx := grid(t, 4, 4, dev.LinkProfile{Rate: 256 << 10, Loss: 0.2}, nil)
	path := pack(t, fx.dir, "physics.mfz", 1000, 64<<10, fx.priv, 7)
	if _, err := fx.push(tilegrid.Coord{}, path); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 1000, 120*time.Second)
	fx.checkIdentical("physics.mfz", path)
}
