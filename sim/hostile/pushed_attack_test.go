package hostile_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// Issue 10, fault 2, on real tiles: a hostile neighbour X announces a
// signed file to tile A and serves it bad blocks, so A holds a partial of
// it; then the same file is pushed at A. A used to keep that partial on
// disk beside the live copy (and resume it at every start). Now the store
// drops it, and A's honest neighbour B has the file about a transfer time
// after the push. (That A announces a file installed behind the
// service's back at once, in the topology where the partial came from B,
// is TestPushWhileReceivingAnnouncedAtOnce in services/mfz/dist.)
func TestAttackPushWhileReceivingFromLiar(t *testing.T) {
	const name = "pushed.mfz"
	var server serverSlot
	a := newArena(t, 2, 1, dev.LinkProfile{Rate: tilegrid.DefaultRate},
		attacker{at: tileA, dir: packet.WT, cfg: hostile.Config{Handler: server.handle}})
	x := a.nb[0]
	path := a.pack(name, 2000, 128<<10)
	g, version := grabbedFile(t, path, name, 3)
	s, err := hostile.NewDistServer(g, 3, hostile.CorruptBlocks(11))
	if err != nil {
		t.Fatal(err)
	}
	server.p.Store(s)
	if err := s.Announce(x); err != nil {
		t.Fatal(err)
	}
	if err := a.g.WaitFor(10*time.Second, "A receiving the file from X", func() bool {
		p, ok := dist.ProgressOf(a.status(tileA).Sections, name, version)
		return ok && !p.Complete
	}); err != nil {
		t.Fatal(err)
	}

	pushed := time.Now()
	a.push(tileA, path)
	if err := a.g.WaitFor(15*time.Second, "B holds the file pushed at A", func() bool {
		p, ok := dist.ProgressOf(a.status(tileB).Sections, name, version)
		return ok && p.Complete
	}); err != nil {
		t.Fatalf("%v: A did not announce the file it was pushed while receiving it", err)
	}
	t.Logf("B complete %.1fs after the push at A", time.Since(pushed).Seconds())
	// A keeps no partial of the file it holds whole.
	parts, _ := filepath.Glob(filepath.Join(a.g.Tile(tileA).StateDir, "mfz", "partial", "*"))
	if len(parts) != 0 {
		t.Fatalf("A still has partials beside the live copy: %v", parts)
	}
	if _, err := os.Stat(filepath.Join(a.g.Tile(tileA).StateDir, "mfz", "live", name)); err != nil {
		t.Fatal(err)
	}
}
