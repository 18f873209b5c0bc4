package dist

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// takeSync waits for the sync the loop started off its goroutine and hands
// its result to the loop, as the loop's select does.
func (x *harness) takeSync() {
	x.t.Helper()
	select {
	case r := <-x.l.synced:
		x.l.syncDone(r)
	case <-time.After(20 * time.Second):
		x.t.Fatal("no sync came back")
	}
}

// recorded returns the blocks the store's record of the one partial lists.
func (x *harness) recorded(blocks int) int {
	x.t.Helper()
	have, err := filepath.Glob(filepath.Join(x.dir, "state", "mfz", "partial", "*", "have"))
	if err != nil || len(have) != 1 {
		x.t.Fatalf("records %v: %v", have, err)
	}
	b, err := os.ReadFile(have[0])
	if err != nil {
		x.t.Fatal(err)
	}
	return mfz.Bitmap(b).Count(blocks)
}

// The loop does not wait for the disk to record blocks: the sync runs on
// a goroutine of its own, one at a time per file. One that fails (a full
// disk for the record) pauses the transfer as a failed write does, keeps
// every block written, and the sync after the pause records them.
func TestSyncOffTheLoop(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 100*1024, 1024) // 100 blocks, synced every 64
	f := x.receiving(sf, packet.ET, 9)
	x.fullFor.Store("have")
	for i := 0; f.nhave < x.l.t.syncEvery && i < 100; i++ {
		x.turn()
		x.serveAll(packet.ET, 9, sf)
	}
	if !f.syncing {
		t.Fatalf("%d blocks held and no sync started", f.nhave)
	}
	x.takeSync()
	if !f.pause.paused() || x.l.counters.DiskErrors != 1 || f.syncing {
		t.Fatalf("a failed sync: paused %v, %d disk errors, syncing %v", f.pause.paused(), x.l.counters.DiskErrors, f.syncing)
	}
	held := f.nhave
	if held < x.l.t.syncEvery || f.partial.Missing() != f.blocks-held {
		t.Fatalf("after the failed sync: %d blocks held, the store misses %d of %d", held, f.partial.Missing(), f.blocks)
	}

	x.fullFor.Store("")
	x.runFor(5*time.Second, func() bool {
		x.serveAll(packet.ET, 9, sf)
		if f.syncing {
			x.takeSync()
		}
		return x.recorded(f.blocks) < held
	})
	if n := x.recorded(f.blocks); n < held || f.pause.paused() {
		t.Fatalf("after the disk came back: %d blocks recorded of %d held, paused %v", n, held, f.pause.paused())
	}
}

// At most maxSyncs syncs run at once: a file whose sync is due while
// they are all busy is synced at its next block after one ends.
func TestSyncsBounded(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 100*1024, 1024)
	f := x.receiving(sf, packet.ET, 9)
	x.l.syncs = maxSyncs // as if other files' syncs ran
	for i := 0; f.nhave < x.l.t.syncEvery+2 && i < 100; i++ {
		x.turn()
		x.serveAll(packet.ET, 9, sf)
	}
	if f.syncing || x.l.syncs != maxSyncs {
		t.Fatalf("a sync started with %d running (syncing %v)", maxSyncs, f.syncing)
	}
	x.l.syncs = 0
	held := f.nhave
	for i := 0; f.nhave == held && i < 100; i++ {
		x.turn()
		x.serveAll(packet.ET, 9, sf)
	}
	if !f.syncing {
		t.Fatal("no sync at the next block once there was room")
	}
	x.takeSync()
	if x.l.syncs != 0 || x.recorded(f.blocks) < held {
		t.Fatalf("after the sync: %d running, %d blocks recorded of %d held", x.l.syncs, x.recorded(f.blocks), held)
	}
}
