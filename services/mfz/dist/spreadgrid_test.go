package dist_test

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/mfz/dist"
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
	// Every tile asks each block of one neighbour, so what comes twice or
	// unasked for is bounded: at 0% loss, the tail asks' and markers'
	// copies, under 5% of what was taken. A machine too busy to run 36
	// daemons on time (the race detector, other tests) makes neighbours
	// look stalled: each stall may cost one probe and the window of
	// chunks (96 at most) of the blocks taken from the stalled
	// neighbour, which come late and unasked for.
	var sum dist.Counters
	for _, c := range fx.g.Geometry().Coords() {
		s := fx.status(c).Counters
		sum.ChunksIn += s.ChunksIn
		sum.Duplicates += s.Duplicates
		sum.Unexpected += s.Unexpected
		sum.Timeouts += s.Timeouts
		sum.Reassigned += s.Reassigned
	}
	waste := sum.Duplicates + sum.Unexpected
	bound := sum.ChunksIn/20 + (sum.Timeouts+sum.Reassigned)*(96+4)
	t.Logf("%d chunks taken, %d came twice, %d unasked for; %d timeouts, %d blocks reassigned",
		sum.ChunksIn, sum.Duplicates, sum.Unexpected, sum.Timeouts, sum.Reassigned)
	if sum.ChunksIn == 0 || waste > bound {
		t.Errorf("%d chunks came twice or unasked for, %d taken: over 5%% plus a window per stall (%d)", waste, sum.ChunksIn, bound)
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
