package dist

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// pushFile writes sf to a file and pushes it at the harness's tile, then
// does what the loop does on the store's event.
func (x *harness) pushFile(sf *signedFile) {
	x.t.Helper()
	events, cancel := x.s.store.Subscribe(8)
	defer cancel()
	path := filepath.Join(x.dir, "pushed-"+sf.m.Name)
	if err := os.WriteFile(path, sf.file, 0o644); err != nil {
		x.t.Fatal(err)
	}
	if _, err := x.s.Push(context.Background(), path); err != nil {
		x.t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Kind != mfz.EventInstalled || ev.Name != sf.m.Name {
			x.t.Fatalf("store event %v %s, want installed %s", ev.Kind, ev.Name, sf.m.Name)
		}
	case <-time.After(10 * time.Second):
		x.t.Fatal("no store event for the push")
	}
	x.l.resync()
	x.turn()
}

// completeAnnounce returns the announcement of id flagged complete in ms.
func completeAnnounce(ms []msg, id fileID) *announceMsg {
	for i, m := range announces(ms) {
		if m.fid == id && m.flags&flagComplete != 0 {
			return &announces(ms)[i]
		}
	}
	return nil
}

// A tile receiving X (from a neighbour that announced it and serves it
// slowly or badly) that then got X pushed kept the transfer's partial, and
// said nothing: its neighbours saw it holding X with the blocks it had
// received until the next refresh, 30-60 s later, and did not fetch from
// it. A file installed behind the service's back now ends the transfer and
// is announced complete at once, like a completion.
func TestPushWhileReceivingAnnouncedAtOnce(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	sf := x.pack("x.mfz", 1, 5000, 1024) // 5 blocks
	f := x.receiving(sf, packet.ET, 9)
	x.turn()
	reqs := requests(x.h.take(t, packet.ET))
	if len(reqs) == 0 {
		t.Fatal("nothing asked of the neighbour that announced the file")
	}
	x.h.take(t, packet.SE)
	p := f.partial

	x.pushFile(sf)

	for _, d := range []packet.Dir{packet.SE, packet.ET} {
		a := completeAnnounce(x.h.take(t, d), sf.id)
		if a == nil {
			t.Fatalf("%v: no announcement of the pushed file as complete", d)
		}
		if int(a.blocks) != sf.m.BlockCount() {
			t.Errorf("%v: announced %d blocks, want %d", d, a.blocks, sf.m.BlockCount())
		}
	}
	if g := x.l.files.byID[sf.id]; g != f || f.receiving() || f.nhave != f.blocks || f.phase == phaseVerifying {
		t.Fatalf("the file is not held whole: receiving %v, %d of %d blocks", f.receiving(), f.nhave, f.blocks)
	}
	n := x.l.nbrs[packet.ET]
	if len(n.win.asms) != 0 || n.win.inflight != 0 {
		t.Errorf("blocks of the pushed file still being fetched: %d assemblies, %d chunks in flight", len(n.win.asms), n.win.inflight)
	}
	x.l.snapshot()
	if st := x.s.Snapshot(); len(st.Transfers) != 0 || len(st.Files) != 1 || st.Files[0].CompletedAt == 0 {
		t.Errorf("status: %d transfers, files %+v; want none and the file held", len(st.Transfers), st.Files)
	}
	if len(x.s.store.Partials()) != 0 {
		t.Errorf("the store still lists the partial")
	}
	if err := p.PutBlock(0, sf.body[:sf.m.BlockLen(0)]); err == nil {
		t.Errorf("the dropped partial still takes blocks")
	}

	// The slow neighbour's answers arrive late: ignored, nothing asked.
	for _, r := range reqs {
		for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
			x.in(packet.ET, appendData(nil, 9, int(r.block), c, sf.chunk(int(r.block), c)))
		}
	}
	for i := 0; i < 8; i++ {
		x.tick(250 * time.Millisecond)
	}
	if r := requests(x.h.take(t, packet.ET)); len(r) != 0 {
		t.Errorf("%d requests for a file held whole", len(r))
	}
	if x.l.counters.Refused != 0 || x.l.counters.DiskErrors != 0 {
		t.Errorf("refused %d, disk errors %d", x.l.counters.Refused, x.l.counters.DiskErrors)
	}
}

// The same, when the push lands while the transfer's whole-file check
// runs: the check fails (the store dropped the partial) and used to be
// logged as "failed its final check; refused". The file is held and
// announced.
func TestPushDuringFinalCheckOfSameFile(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	var logged bytes.Buffer
	x.l.log = slog.New(slog.NewTextHandler(&logged, nil))
	sf := x.pack("x.mfz", 1, 900, 1024) // 1 block
	f := x.receiving(sf, packet.ET, 9)
	if err := f.partial.PutBlock(0, sf.body); err != nil {
		t.Fatal(err)
	}
	x.h.take(t, packet.SE)
	path := filepath.Join(x.dir, "x.mfz")
	if err := os.WriteFile(path, sf.file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.s.Push(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	// The final check, racing with the push, as startComplete runs it.
	if !f.to(evAllBlocks) {
		t.Fatalf("the transfer cannot start its final check in phase %v", f.phase)
	}
	x.l.completed(completion{f, f.partial.Complete()})
	x.turn()
	if x.l.counters.Refused != 0 || x.l.isRefused(sf.id) {
		t.Errorf("the pushed file is refused (%d refused)", x.l.counters.Refused)
	}
	if bytes.Contains(logged.Bytes(), []byte("failed its final check")) {
		t.Errorf("logged as a failure: %s", logged.String())
	}
	if g := x.l.files.byID[sf.id]; g == nil || g.receiving() || x.l.files.byName["x.mfz"] != g {
		t.Fatal("the pushed file is not held")
	}
	if completeAnnounce(x.h.take(t, packet.SE), sf.id) == nil {
		t.Fatal("the pushed file is not announced complete")
	}
}
