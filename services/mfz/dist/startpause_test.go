package dist

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// One file whose transfer the store cannot create, for a reason of that
// file alone (something in the way of its partial directory), used to
// pause every new transfer, over and over: another file, announced by
// another neighbour, waited out a backoff of up to 30 s that was not its
// own, and got through or not by the order of a map. Now only that file
// waits (with its own backoff); the other starts at once and completes.
func TestBeginFailureOfOneFilePausesOnlyIt(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	bad := x.pack("x.mfz", 1, 3000, 1024)
	good := x.pack("y.mfz", 1, 3000, 1024)
	obstacle := filepath.Join(x.dir, "state", "mfz", "partial",
		fmt.Sprintf("%s@%d@%x", bad.m.Name, bad.m.Version, bad.id[:]))
	if err := os.WriteFile(obstacle, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	badAsks := 0
	serveBad := func() {
		if ms := getManifests(x.h.take(t, packet.ET)); len(ms) > 0 {
			badAsks += len(ms)
			x.serveManifest(packet.ET, 4, bad, 0, -1)
		}
	}
	x.announceFile(packet.ET, 4, bad)
	x.turn()
	x.runFor(20*time.Second, func() bool { serveBad(); return true }) // fails at 0, 1, 3, 7, 15 s
	if x.l.files.byID[bad.id] != nil || badAsks < 3 {
		t.Fatalf("the file whose partial cannot be made: transfer %v, asked %d times", x.l.files.byID[bad.id] != nil, badAsks)
	}

	x.announceFile(packet.SE, 5, good)
	x.turn()
	var f *file
	took := x.runFor(time.Minute, func() bool {
		serveBad()
		for _, m := range x.h.take(t, packet.SE) {
			switch m.typ {
			case msgGetManifest:
				x.serveManifest(packet.SE, 5, good, 0, -1)
			case msgRequest:
				r := m.request
				for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
					x.in(packet.SE, appendData(nil, 5, int(r.block), c, good.chunk(int(r.block), c)))
				}
			}
		}
		if f == nil {
			f = x.l.files.byID[good.id]
		}
		return f == nil || f.nhave < f.blocks
	})
	if f == nil || f.nhave < f.blocks {
		t.Fatalf("another neighbour's file did not get through in a minute (transfer %v)", f != nil)
	}
	if took > time.Second {
		t.Errorf("another neighbour's file took %v: it waited for a pause not its own", took)
	}
	x.waitDone(f)
	if e, ok := x.s.store.Lookup("y.mfz"); !ok || fidOf(e.Hash) != good.id {
		t.Fatal("y.mfz is not installed")
	}

	before := badAsks
	x.runFor(time.Minute, func() bool { serveBad(); return true })
	t.Logf("x.mfz asked %d times in %v, %d in the last minute", badAsks, 20*time.Second+took+time.Minute, badAsks-before)
	if sp := x.l.starts[bad.id]; sp == nil || !sp.paused() || sp.delay != x.l.t.pauseMax || badAsks-before > 3 {
		t.Fatalf("x.mfz does not back off by itself: asked %d times in the last minute, pause %+v", badAsks-before, sp)
	}
	if x.l.begins.paused() {
		t.Errorf("new transfers are paused for all: %v", x.l.begins.err)
	}
	if n := x.l.nbrs[packet.ET]; n.conduct.strikes != 0 || n.avoided(x.l.now) || x.l.isRefused(bad.id) {
		t.Errorf("the neighbour is blamed for our disk: %d strikes, refused %v", n.conduct.strikes, x.l.isRefused(bad.id))
	}
	x.l.snapshot()
	st := x.s.Snapshot()
	if st.Paused != "" || len(st.StartsPaused) != 1 {
		t.Fatalf("status: paused %q, starts paused %+v", st.Paused, st.StartsPaused)
	}
	if sp := st.StartsPaused[0]; sp.Name != "x.mfz" || sp.ID != bad.id.String() ||
		!strings.Contains(sp.Reason, filepath.Dir(obstacle)) || sp.RetryS > 30 {
		t.Errorf("status of x.mfz: %+v", sp)
	}

	// Out of the way: x.mfz starts by itself, within one backoff step.
	if err := os.Remove(obstacle); err != nil {
		t.Fatal(err)
	}
	x.runFor(time.Minute, func() bool { serveBad(); return x.l.files.byID[bad.id] == nil })
	if fx := x.l.files.byID[bad.id]; fx == nil || !fx.receiving() || x.l.starts[bad.id] != nil {
		t.Fatal("x.mfz did not start once its partial could be made")
	}
}
