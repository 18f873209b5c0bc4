// Package gridtest is test support for packages whose tests run a
// simulated grid of real daemons, as net/http/httptest is for HTTP
// servers: Start brings a tilegrid up for one test and takes it down when
// the test ends, so each test says only how its grid differs.
package gridtest

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// LiveWait is how long Start waits for every link of the grid to come up.
// It is generous because tests run on a loaded machine under -race.
const LiveWait = 30 * time.Second

// Start starts the grid cfg describes, fails t if it cannot or if its
// links are not all live within LiveWait, and closes it when t ends,
// reporting a failure to close as an error of t.
func Start(t testing.TB, cfg tilegrid.Config) *tilegrid.Grid {
	t.Helper()
	g, err := tilegrid.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("grid close: %v", err)
		}
	})
	if err := g.WaitAllLive(LiveWait); err != nil {
		t.Fatal(err)
	}
	return g
}

// Identity returns the identity of the tile at c, failing t if its
// status cannot be read.
func Identity(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord) p2p.TileID {
	t.Helper()
	st, err := g.Status(c)
	if err != nil {
		t.Fatal(err)
	}
	return st.Tile
}
