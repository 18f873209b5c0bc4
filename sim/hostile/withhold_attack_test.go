package hostile_test

import (
	"bytes"
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

// A neighbour X of B announces a file whole, serves its manifest, and
// never a block. B starts the transfer from X, then A is pushed the same
// file: B asks X for blocks (rarest first: X announced them all), X stays
// silent, and B takes them from A instead, a timeout after each silence,
// and ends with a byte-identical copy; X is struck for its silences.
func TestAttackWithholdingNeighbour(t *testing.T) {
	const name = "withheld.mfz"
	var server serverSlot
	a := newArena(t, 2, 1, dev.LinkProfile{Rate: tilegrid.DefaultRate},
		attacker{at: tileB, dir: packet.ET, cfg: hostile.Config{Handler: server.handle}})
	x := a.nb[0]
	path := a.pack(name, 3000, 128<<10)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, version := grabbedFile(t, path, name, 5)
	s, err := hostile.NewDistServer(g, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Withhold = true
	server.p.Store(s)
	if err := s.Announce(x); err != nil {
		t.Fatal(err)
	}
	if err := a.g.WaitFor(10*time.Second, "B receiving the file from X", func() bool {
		p, ok := dist.ProgressOf(a.status(tileB).Sections, name, version)
		return ok && !p.Complete
	}); err != nil {
		t.Fatal(err)
	}
	a.push(tileA, path)
	if err := a.g.WaitFor(60*time.Second, "B holds the file", func() bool {
		p, ok := dist.ProgressOf(a.status(tileB).Sections, name, version)
		return ok && p.Complete
	}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(a.g.Tile(tileB).StateDir, "mfz", "live", name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("B's live copy (%d bytes, %v) differs from the pushed file (%d bytes)", len(got), err, len(want))
	}
	reqs, _ := s.Served()
	st := distOf(a.status(tileB))
	var timeouts uint64
	for _, n := range st.Neighbours {
		if n.Dir == packet.ET {
			timeouts = n.Timeouts
		}
	}
	t.Logf("B asked X %d times; %d timeouts on X; B: %+v", reqs, timeouts, st.Counters)
	if reqs == 0 || timeouts == 0 {
		t.Errorf("B asked the withholding X %d times with %d timeouts: it should have tried X and timed out", reqs, timeouts)
	}
	a.alive()
}
