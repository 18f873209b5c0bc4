package tubes_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// pathsTo waits until the tile at c has a route to tile, and returns its
// disjoint paths.
func pathsTo(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord, tile p2p.TileID) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := control.Dial(g.Tile(c).RunDir)
		if err != nil {
			t.Fatal(err)
		}
		var d routes.Dest
		err = cl.Call("route", routes.Request{Tile: tile.String()}, &d)
		cl.Close()
		if err == nil {
			return d.Paths
		}
		if time.Now().After(deadline) {
			t.Fatalf("no route from %v to %v: %v", c, tile, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// routedPair opens a stream tube from the tile at a to the tile at b by
// b's identity, once a has a route there.
// pumpAsync reads everything r receives, until its tube ends or timeout,
// on a goroutine of its own; received waits for it and returns the bytes
// and how the tube ended (tubetest.Raw.Pump).
func pumpAsync(r *tubetest.Raw, timeout time.Duration) (received func() ([]byte, string)) {
	done := make(chan struct{})
	var got []byte
	var final string
	go func() { defer close(done); got, final = r.Pump(nil, timeout) }()
	return func() ([]byte, string) { <-done; return got, final }
}

func routedPair(t *testing.T, g *tilegrid.Grid, a, b tilegrid.Coord, port string) (op, acc *tubetest.Raw) {
	t.Helper()
	pathsTo(t, g, a, gridtest.Identity(t, g, b))
	acc = tubetest.DialRaw(t, g.Tile(b).RunDir, "accept "+port)
	op = tubetest.DialRaw(t, g.Tile(a).RunDir, "open "+gridtest.Identity(t, g, b).String()+" "+port+" timeout=20s")
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") || !strings.Contains(r, " - ") {
		t.Fatalf("open: %q", r)
	}
	if r := acc.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("accept: %q", r)
	}
	return op, acc
}

// TestGridRoutedStreamThroughLoss: a tube from corner to corner of a 3x3
// grid, through tiles that forward it, moves bytes both ways intact
// through loss, duplication and corruption, and closes cleanly; the
// tiles between count what they forwarded.
func TestGridRoutedStreamThroughLoss(t *testing.T) {
	g := startGrid(t, 3, 3, dev.LinkProfile{Rate: 256 << 10, Loss: 0.05, Duplicate: 0.02, Corrupt: 0.02})
	a, b := tilegrid.Coord{}, tilegrid.Coord{X: 2, Y: 2}
	op, acc := routedPair(t, g, a, b, "7")
	ab, ba := randomBytes(200<<10, 3), randomBytes(100<<10, 4)
	var wg sync.WaitGroup
	var gotB []byte
	var finalB string
	wg.Add(1)
	go func() { defer wg.Done(); gotB, finalB = acc.Pump(ba, 90*time.Second) }()
	gotA, finalA := op.Pump(ab, 90*time.Second)
	wg.Wait()
	if finalA != "c" || finalB != "c" {
		t.Fatalf("finals %q %q", finalA, finalB)
	}
	if !bytes.Equal(gotB, ab) || !bytes.Equal(gotA, ba) {
		t.Fatalf("bytes differ: B got %d of %d, A got %d of %d", len(gotB), len(ab), len(gotA), len(ba))
	}
	var forwarded uint64
	for _, tl := range g.Tiles() {
		if tl.Coord != a && tl.Coord != b {
			forwarded += tubeStatus(t, g, tl.Coord).Counters.Forwarded
		}
	}
	if forwarded == 0 {
		t.Error("no tile between counted a forwarded packet")
	}
}

// TestGridRoutedByDirections: a tile named by a route of directions is
// reached, and the tube's status shows its path.
func TestGridRoutedByDirections(t *testing.T) {
	g := startGrid(t, 3, 1, dev.LinkProfile{Rate: 256 << 10})
	far := tilegrid.Coord{X: 2}
	pathsTo(t, g, tilegrid.Coord{}, gridtest.Identity(t, g, far))
	acc := tubetest.DialRaw(t, g.Tile(far).RunDir, "accept 9 message")
	op := tubetest.DialRaw(t, g.Tile(tilegrid.Coord{}).RunDir, "open ET,ET 9 message")
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") || !strings.Contains(r, gridtest.Identity(t, g, far).String()) {
		t.Fatalf("open: %q", r)
	}
	acc.Reply()
	op.Send([]byte("dhello"))
	if f := acc.Expect("d", 20*time.Second); string(f) != "dhello" {
		t.Fatalf("got %q", f)
	}
	st := tubeStatus(t, g, tilegrid.Coord{}).Tubes[0]
	if st.Route != "ET,ET" || st.Dir != packet.ET || st.Tile != gridtest.Identity(t, g, far).String() {
		t.Errorf("status: route %q dir %v tile %s", st.Route, st.Dir, st.Tile)
	}
}

// TestGridRoutedForwarderStops: the only tile between the two ends stops
// mid-stream; the sender is told there is no route any more, not left
// waiting.
func TestGridRoutedForwarderStops(t *testing.T) {
	g := startGrid(t, 3, 1, dev.LinkProfile{Rate: 64 << 10})
	op, acc := routedPair(t, g, tilegrid.Coord{}, tilegrid.Coord{X: 2}, "7")
	go func() {
		for off := 0; off < 1<<20; off += 4096 {
			if _, err := op.Conn.Write(append([]byte{'d'}, make([]byte, 4096)...)); err != nil {
				return
			}
		}
	}()
	if f, err := acc.Recv(20 * time.Second); err != nil || f[0] != 'd' {
		t.Fatalf("first data: %q %v", f, err)
	}
	if err := g.Stop(tilegrid.Coord{X: 1}); err != nil {
		t.Fatal(err)
	}
	reason, d := senderEnd(t, op, time.Now())
	if !strings.Contains(reason, "no route") {
		t.Errorf("reason %q: want no route", reason)
	}
	if d > 15*time.Second {
		t.Errorf("told after %v", d)
	}
}

// TestGridRoutedSurvivesCut: a link on the path a tube uses is cut
// mid-transfer; the tube moves to another path and every byte arrives.
func TestGridRoutedSurvivesCut(t *testing.T) {
	g := startGrid(t, 4, 4, dev.LinkProfile{Rate: 128 << 10})
	// The first far tile with two paths that share no link.
	a, b := tilegrid.Coord{X: 1, Y: 1}, tilegrid.Coord{X: 3, Y: 3}
	// Routes converge over a moment: the first route found may be the
	// only one known yet.
	waitPaths(t, g, a, gridtest.Identity(t, g, b), func(p []string) bool { return len(p) >= 2 })
	op, acc := routedPair(t, g, a, b, "7")
	data := randomBytes(512<<10, 5)
	received := pumpAsync(acc, 90*time.Second)
	go op.Pump(data, 90*time.Second)
	// Once a quarter has arrived, cut the second link of the path in use.
	st := waitDelivered(t, g, a, uint64(len(data)/4))
	steps, _ := routes.ParseRoute(st.Route)
	at, _ := g.Geometry().Neighbour(a, steps[0])
	if err := g.Cut(at, steps[1]); err != nil {
		t.Fatal(err)
	}
	got, final := received()
	if final != "c" || !bytes.Equal(got, data) {
		t.Fatalf("final %q, got %d of %d bytes (equal %v)", final, len(got), len(data), bytes.Equal(got, data[:min(len(got), len(data))]))
	}
	if n := tubeStatus(t, g, a).Counters.PathChanges; n == 0 {
		t.Error("the tube never changed its path")
	}
	if after, ok := firstTube(t, g, a); ok && after.Route == st.Route {
		t.Errorf("still on %s after its link was cut", after.Route)
	}
}

// firstTube is the first tube the tile at c lists.
func firstTube(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord) (tubes.TubeStatus, bool) {
	ts := tubeStatus(t, g, c).Tubes
	if len(ts) == 0 {
		return tubes.TubeStatus{}, false
	}
	return ts[0], true
}

// waitDelivered waits until the first tube of the tile at c has n bytes
// delivered, and returns its status.
func waitDelivered(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord, n uint64) tubes.TubeStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ts := tubeStatus(t, g, c).Tubes; len(ts) > 0 && ts[0].Delivered >= n {
			return ts[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes never delivered", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
