package dist

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// The choices that make a file spread at the grid's multipath rate, on the
// fake host and clock: super-seeding at the source, rarest-first picks
// that never ask for what is held or in flight, the probe marker, and the
// repeated HAVEs.

// pushHere installs sf at the harness's tile while its loop runs, as a
// push does: the file is super-seeded.
func (x *harness) pushHere(sf *signedFile) *file {
	x.t.Helper()
	x.install(sf)
	x.l.running = true
	x.l.resync()
	f := x.l.files.byID[sf.id]
	if f == nil || f.seed == nil {
		x.t.Fatalf("a file pushed while running is not super-seeded: %+v", f)
	}
	return f
}

// install puts sf into the store whole, as a push does.
func (x *harness) install(sf *signedFile) {
	x.t.Helper()
	path := filepath.Join(x.dir, sf.m.Name)
	if err := os.WriteFile(path, sf.file, 0o644); err != nil {
		x.t.Fatal(err)
	}
	if _, err := x.s.store.Install(path); err != nil {
		x.t.Fatal(err)
	}
}

// seedView is what one neighbour of a super-seeding tile learns: the blocks
// shown to it, and whether the file was announced whole.
type seedView struct {
	handle   uint8
	shown    map[int]bool
	asked    map[int]bool
	complete bool
}

func (v *seedView) take(ms []msg) {
	for _, m := range ms {
		switch m.typ {
		case msgAnnounce:
			v.handle = m.announce.handle
			v.complete = m.announce.flags&flagComplete != 0
		case msgBitfield:
			bits := mfz.Bitmap(m.bitfield.bits)
			for i := 0; i < 8*len(bits); i++ {
				if bits.Has(i) {
					v.shown[int(m.bitfield.first)+i] = true
				}
			}
		case msgHave:
			m.have.blocks(func(b int) { v.shown[b] = true })
		}
	}
}

// The source's first pass sends no block twice: three neighbours that ask
// only for what they are shown (as rarest-first receivers do, the source
// being the only holder) are shown disjoint blocks, every block is asked
// for once, and only then is the file announced whole.
func TestSeedingFirstPassSendsNoBlockTwice(t *testing.T) {
	dirs := []packet.Dir{packet.ET, packet.SE, packet.SW}
	x := newHarness(t, dirs...)
	x.l.rng = rand.New(rand.NewSource(1))
	sf := x.pack("a.mfz", 1, 60*1024, 1024) // 60 blocks
	f := x.pushHere(sf)
	x.turn()
	views := map[packet.Dir]*seedView{}
	for _, d := range dirs {
		views[d] = &seedView{shown: map[int]bool{}, asked: map[int]bool{}}
	}
	asks := make([]int, f.blocks)
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 1000; round++ {
		for _, d := range dirs {
			v := views[d]
			v.take(x.h.take(t, d))
			if v.complete {
				continue
			}
			// Ask for one block shown and not asked yet, at random.
			var open []int
			for b := range v.shown {
				if !v.asked[b] {
					open = append(open, b)
				}
			}
			if len(open) == 0 {
				continue
			}
			b := open[rng.Intn(len(open))]
			v.asked[b] = true
			asks[b]++
			x.in(d, appendRequest(nil, v.handle, b, 0, chunkCount(sf.m.BlockLen(b))))
			x.turn()
		}
		if f.seed == nil {
			break
		}
	}
	if f.seed != nil {
		t.Fatalf("seeding did not end: %d of %d blocks asked", f.seed.nasked, f.blocks)
	}
	for b, k := range asks {
		if k != 1 {
			t.Errorf("block %d asked %d times in the first pass", b, k)
		}
	}
	for _, d := range dirs {
		views[d].take(x.h.take(t, d))
		if !views[d].complete {
			t.Errorf("%v: not told the file is whole after the first pass", d)
		}
	}
	for _, a := range dirs {
		for _, b := range dirs {
			if a >= b {
				continue
			}
			for blk := range views[a].asked {
				if views[b].asked[blk] {
					t.Errorf("block %d shown to and asked by both %v and %v", blk, a, b)
				}
			}
		}
	}
}

// A block shown to a neighbour that never asks for it is shown to another
// once it is stale, so no block waits on one neighbour for ever; and a
// neighbour that goes away leaves what it was shown to the others.
func TestSeedingStaleBlocksGoElsewhere(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	sf := x.pack("a.mfz", 1, 60*1024, 1024) // 61 blocks; 25 shown to each
	f := x.pushHere(sf)
	x.turn()
	et := &seedView{shown: map[int]bool{}, asked: map[int]bool{}}
	se := &seedView{shown: map[int]bool{}, asked: map[int]bool{}}
	et.take(x.h.take(t, packet.ET))
	se.take(x.h.take(t, packet.SE))
	if len(et.shown) == 0 || len(se.shown) == 0 {
		t.Fatalf("shown %d and %d blocks at first", len(et.shown), len(se.shown))
	}
	// SE asks for everything it is shown; ET never asks.
	for i := 0; i < 40 && f.seed != nil; i++ {
		for b := range se.shown {
			if !se.asked[b] {
				se.asked[b] = true
				x.in(packet.SE, appendRequest(nil, se.handle, b, 0, 1))
			}
		}
		x.tick(250 * time.Millisecond)
		se.take(x.h.take(t, packet.SE))
		x.h.take(t, packet.ET)
	}
	if f.seed != nil {
		t.Fatalf("blocks shown only to a silent neighbour were never shown to another: %d of %d asked", f.seed.nasked, f.blocks)
	}
	for b := range et.shown {
		if !se.shown[b] {
			t.Errorf("block %d, shown to the silent ET, never shown to SE", b)
		}
	}
}

// seeding.top is pure: blocks come lowest first, each to one link, and a
// forgotten link's blocks go to the others at once.
func TestSeedingTop(t *testing.T) {
	t0 := time.Unix(100, 0)
	s := newSeeding(10, 0, 1, t0)
	if got := s.top(packet.ET, 3, t0, nil); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("ET shown %v, want [0 1 2]", got)
	}
	if got := s.top(packet.SE, 3, t0, nil); len(got) != 3 || got[0] != 3 {
		t.Fatalf("SE shown %v, want [3 4 5]", got)
	}
	if got := s.top(packet.SE, 3, t0, nil); len(got) != 0 {
		t.Fatalf("SE shown %v again with 3 ahead", got)
	}
	s.ask(3, t0)
	if got := s.top(packet.SE, 3, t0, nil); len(got) != 1 || got[0] != 6 {
		t.Fatalf("SE shown %v after asking one, want [6]", got)
	}
	s.ask(7, t0) // asked without being shown: skipped
	s.top(packet.ET, 5, t0, nil)
	if !s.shown[packet.ET].Has(8) || s.shown[packet.ET].Has(7) {
		t.Fatalf("ET shown %08b: 7 was asked already, 8 is next", s.shown[packet.ET])
	}
	s.forget(packet.ET)
	// Every block is shown to someone now; ET's unasked ones (0,1,2,8,9)
	// went with it and go to SE before they are stale.
	got := s.top(packet.SE, 6, t0, nil)
	if len(got) != 3 {
		t.Fatalf("SE given %v of the forgotten link's blocks, want 3 more", got)
	}
	for _, b := range got {
		if b != 0 && b != 1 && b != 2 && b != 8 && b != 9 {
			t.Fatalf("SE given block %d, not one of the forgotten link's", b)
		}
	}
	for b := 0; b < 10; b++ {
		s.ask(b, t0)
	}
	if !s.done() {
		t.Fatalf("every block asked and not done")
	}
}

// A tile never asks a neighbour for a block it holds or has in flight,
// whatever the neighbours announce, and rarest first prefers what fewer
// neighbours hold.
func TestRarestNeverAsksHeldOrInFlight(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE, packet.WT)
	x.l.rng = rand.New(rand.NewSource(3))
	sf := x.pack("a.mfz", 1, 40*1024, 1024) // 40 blocks
	f := x.receiving(sf, packet.ET, 9)      // ET holds all
	// SE holds the even blocks; WT holds the blocks below 20.
	x.in(packet.SE, appendAnnounce(nil, 4, 0, sf.m.Version, f.blocks, 20, sf.id, sf.m.Name))
	even := mfz.NewBitmap(f.blocks)
	for b := 0; b < f.blocks; b += 2 {
		even.Set(b)
	}
	x.in(packet.SE, appendBitfield(nil, 4, 0, even))
	x.in(packet.WT, appendAnnounce(nil, 5, 0, sf.m.Version, f.blocks, 20, sf.id, sf.m.Name))
	x.in(packet.WT, appendHave(nil, 5, 20, nil))
	// We hold blocks 30..39 already.
	for b := 30; b < 40; b++ {
		f.have.Set(b)
		f.nhave++
	}
	asked := map[int]packet.Dir{}
	var etFirst []int // ET's blocks in the order asked
	for round := 0; round < 20; round++ {
		x.turn()
		for _, d := range []packet.Dir{packet.ET, packet.SE, packet.WT} {
			for _, r := range requests(x.h.take(t, d)) {
				b := int(r.block)
				if f.have.Has(b) {
					t.Fatalf("asked %v for block %d, held already", d, b)
				}
				if o, ok := asked[b]; ok && o != d {
					t.Fatalf("asked %v for block %d, in flight from %v", d, b, o)
				}
				if _, ok := asked[b]; !ok && d == packet.ET {
					etFirst = append(etFirst, b)
				}
				asked[b] = d
			}
		}
	}
	// The blocks only ET holds (odd, 21..29: SE holds the even ones, WT
	// those below 20, we 30..39) are the rarest: ET is asked for them
	// first.
	if len(etFirst) < 5 {
		t.Fatalf("ET asked for %v", etFirst)
	}
	for _, b := range etFirst[:5] {
		if b < 21 || b > 29 || b%2 == 0 {
			t.Errorf("ET asked first for %v: block %d is held by another neighbour too", etFirst[:5], b)
		}
	}
}

// A lost HAVE does not hide a block for long: each HAVE repeats the last
// ones, so the next block's HAVE carries the lost one again.
func TestLostHaveRepairedByTheNext(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	sf := x.pack("a.mfz", 1, 8*1024, 1024)
	f := x.receiving(sf, packet.ET, 9)
	x.turn()
	x.h.take(t, packet.SE)
	var lists [][]int
	for _, r := range requests(x.h.take(t, packet.ET))[:2] {
		for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
			x.in(packet.ET, appendData(nil, 9, int(r.block), c, sf.chunk(int(r.block), c)))
		}
		x.turn()
		for _, m := range x.h.take(t, packet.SE) {
			if m.typ == msgHave {
				var l []int
				m.have.blocks(func(b int) { l = append(l, b) })
				lists = append(lists, l)
			}
		}
	}
	if len(lists) != 2 || f.nhave != 2 {
		t.Fatalf("HAVEs to SE %v with %d blocks held", lists, f.nhave)
	}
	// Say the first HAVE was lost: the second names its block again.
	for _, b := range lists[0] {
		found := false
		for _, c := range lists[1] {
			found = found || c == b
		}
		if !found {
			t.Errorf("block %d of the first HAVE is not in the second (%v)", b, lists[1])
		}
	}
}

// One timeout recovers every chunk lost, not only the few it probes: the
// marker (a chunk held already, asked again) can only be answered after
// everything asked before it.
func TestTimeoutMarkerRecoversWholeWindow(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 8*1024, 8*1024) // one block of 34 chunks
	x.receiving(sf, packet.ET, 9)
	x.turn()
	n := x.l.nbrs[packet.ET]
	reqs := requests(x.h.take(t, packet.ET))
	if len(reqs) == 0 {
		t.Fatal("nothing asked")
	}
	// Only chunk 0 comes; the rest of what was asked is lost.
	x.in(packet.ET, appendData(nil, 9, 0, 0, sf.chunk(0, 0)))
	x.turn()
	x.h.take(t, packet.ET)
	x.advance(5 * time.Second) // the silence timer fires
	probe := requests(x.h.take(t, packet.ET))
	marker := false
	for _, r := range probe {
		marker = marker || r.chunk == 0 && r.count == 1
	}
	if !marker {
		t.Fatalf("the probe %+v does not ask for the held chunk 0", probe)
	}
	// The marker's answer comes; the probed chunks were lost too.
	x.in(packet.ET, appendData(nil, 9, 0, 0, sf.chunk(0, 0)))
	if n.win.stalled != true {
		t.Fatalf("a chunk held already ended the stall: it is not progress")
	}
	a := n.win.find(x.l.files.byID[sf.id], 0)
	lost := 0
	for c := 0; c < a.nch; c++ {
		if a.state[c] == chNeed {
			lost++
		}
	}
	// Everything of block 0 asked before the marker and not probed is
	// known lost: 33 chunks less the 3 probed again, still in flight.
	if lost != 30 {
		t.Fatalf("%d chunks of block 0 known lost after the marker came, want 30 (states %v)", lost, a.state)
	}
}

// A super-seeding that nobody asks anything new of ends after seedIdle:
// the file is announced whole, and the showing HAVEs every 250 ms stop. A
// neighbour asking for one block again and again does not keep it alive.
func TestSeedingEndsWhenNobodyAsks(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 20*1024, 1024)
	f := x.pushHere(sf)
	x.turn()
	v := &seedView{shown: map[int]bool{}, asked: map[int]bool{}}
	v.take(x.h.take(t, packet.ET))
	for i := 0; i < int(seedIdle/(250*time.Millisecond))+2; i++ {
		if i%4 == 0 {
			x.in(packet.ET, appendRequest(nil, v.handle, 0, 0, 1)) // block 0, again
		}
		x.tick(250 * time.Millisecond)
		v.take(x.h.take(t, packet.ET))
	}
	if f.seed != nil || !v.complete {
		t.Fatalf("seeding %v, announced complete %v after %v with no request", f.seed != nil, v.complete, seedIdle)
	}
	for i := 0; i < 20; i++ {
		x.tick(250 * time.Millisecond)
	}
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ == msgHave {
			t.Fatalf("a HAVE after the seeding ended")
		}
	}
}

// A pipe about to drain asks its last chunk twice: when the first ask and
// everything before it are lost and only the second copy comes, the loss
// is known at once and asked again, with no timeout.
func TestTailAskShowsLossWithoutTimeout(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 900, 1024) // 1 block, 4 chunks
	x.receiving(sf, packet.ET, 9)
	x.turn()
	n := x.l.nbrs[packet.ET]
	reqs := requests(x.h.take(t, packet.ET))
	if len(reqs) != 2 || reqs[1].count != 1 || int(reqs[1].chunk) != int(reqs[0].chunk+reqs[0].count)-1 {
		t.Fatalf("requests %+v: want the block, then its last chunk again", reqs)
	}
	last := int(reqs[1].chunk)
	// Only the second copy of the last chunk arrives.
	x.in(packet.ET, appendData(nil, 9, 0, last, sf.chunk(0, last)))
	x.turn()
	again := requests(x.h.take(t, packet.ET))
	if len(again) == 0 || again[0].chunk != 0 || int(again[0].count) != last {
		t.Fatalf("after the last chunk came alone: requests %+v, want chunks 0..%d again at once", again, last-1)
	}
	if n.win.timeouts != 0 {
		t.Fatalf("%d timeouts", n.win.timeouts)
	}
}

// Each HAVE repeats every one of the haveRepeat blocks announced last,
// also after a flush of many blocks: the list of recent blocks is shifted
// in place, and what the next HAVE repeats must be read before that.
func TestHaveRepeatsAllRecentAfterBigFlush(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	sf := x.pack("a.mfz", 1, 64*1024, 1024) // 64 blocks
	f := x.receiving(sf, packet.ET, 9)
	x.h.take(t, packet.SE)
	flush := func(bs ...int) map[int]bool {
		x.l.haves[f] = bs
		x.l.flushHaves()
		got := map[int]bool{}
		for _, m := range x.h.take(t, packet.SE) {
			if m.typ == msgHave {
				m.have.blocks(func(b int) { got[b] = true })
			}
		}
		return got
	}
	var first []int
	for b := 0; b < 40; b++ {
		first = append(first, b)
	}
	flush(first...)
	got := flush(40)
	for b := 40 - haveRepeat; b <= 40; b++ {
		if !got[b] {
			t.Errorf("block %d missing from the HAVE after the big flush: %v", b, got)
		}
	}
}
