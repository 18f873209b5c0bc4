package dist

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// A format-3 file begins with its hash pages. A body block cannot be
// checked before its page is here, so it is never asked for before: at
// first only pages are asked, then the body blocks of the pages held,
// and the file completes byte for byte.
func TestBodyBlocksAskedOnlyAfterTheirPage(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.packFormat(x.priv, "p.mfz", 1, 100<<10, 1024, 3) // 101 body blocks: 1616 bytes of hashes, 2 pages
	if sf.m.Pages() != 2 {
		t.Fatalf("%d pages, want 2", sf.m.Pages())
	}
	f := x.receiving(sf, packet.ET, 9)
	x.turn()
	first := true
	for round := 0; round < 2000 && f.nhave < f.blocks; round++ {
		reqs := requests(x.h.take(t, packet.ET))
		for _, r := range reqs {
			b := int(r.block)
			if pg := sf.m.PageOf(b); pg >= 0 && !f.have.Has(pg) {
				t.Fatalf("block %d asked before its page %d", b, pg)
			}
			if first && b >= sf.m.Pages() {
				t.Fatalf("first asks %+v: a body block before any page", reqs)
			}
		}
		if len(reqs) > 0 {
			first = false
		}
		for _, r := range reqs {
			for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
				x.in(packet.ET, appendData(nil, 9, int(r.block), c, sf.chunk(int(r.block), c)))
			}
		}
		x.advance(5 * time.Millisecond)
	}
	if f.nhave != f.blocks {
		t.Fatalf("held %d of %d blocks", f.nhave, f.blocks)
	}
	if got := x.l.counters.NoPage; got != 0 {
		t.Fatalf("%d blocks arrived before their page", got)
	}
	// The store checks the whole file and installs it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if e, ok := x.s.store.Lookup("p.mfz"); ok && e.Version == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file was not installed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, sf.m.BlockSize)
	for b := 0; b < f.blocks; b++ {
		n, err := x.s.store.ReadBlock("p.mfz", b, buf)
		off := sf.m.BlockOffset(b)
		if err != nil || !bytes.Equal(buf[:n], sf.body[off:off+int64(sf.m.BlockLen(b))]) {
			t.Fatalf("block %d: %v", b, err)
		}
	}
}

// A neighbour that sends a body block unasked, before its page, is not
// taken for a liar: the block cannot be checked yet, and is dropped.
func TestBlockBeforeItsPageDropped(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.packFormat(x.priv, "p.mfz", 1, 10<<10, 1024, 3)
	f := x.receiving(sf, packet.ET, 9)
	b := sf.m.Pages()                     // the first body block
	x.l.newAsm(x.l.nbrs[packet.ET], f, b) // as a neighbour that skipped pickBlock would
	for c := 0; c < chunkCount(sf.m.BlockLen(b)); c++ {
		x.in(packet.ET, appendData(nil, 9, b, c, sf.chunk(b, c)))
	}
	n := x.l.nbrs[packet.ET]
	if f.have.Has(b) || x.l.counters.NoPage != 1 || x.l.counters.BadBlocks != 0 || n.avoided(x.l.now) {
		t.Fatalf("held %v, no_page %d, bad %d, avoided %v", f.have.Has(b), x.l.counters.NoPage, x.l.counters.BadBlocks, n.avoided(x.l.now))
	}
}

// A hash page is asked for first only once some neighbour holds a body
// block it checks: early in a push only the first page is wanted, and a
// tile that waited for every page would start a page time later a hop.
func TestPageAskedWhenWanted(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.packFormat(x.priv, "p.mfz", 1, 100<<10, 1024, 3) // pages 0 and 1, then 101 body blocks
	if _, err := x.s.store.Begin(sf.signed); err != nil {
		t.Fatal(err)
	}
	x.l.resync()
	f := x.l.files.byID[sf.id]
	// The neighbour holds both pages and the first body blocks, which
	// page 0 checks (64 hashes a page of 1 KiB).
	held := []int{0, 1}
	for b := 2; b < 2+10; b++ {
		held = append(held, b)
	}
	x.in(packet.ET, appendAnnounce(nil, 9, 0, sf.m.Version, sf.m.BlockCount(), len(held), sf.id, sf.m.Name))
	x.in(packet.ET, appendHave(nil, 9, 0, held))
	x.turn()
	asked := map[int]bool{}
	for _, r := range requests(x.h.take(t, packet.ET)) {
		asked[int(r.block)] = true
	}
	if !asked[0] || asked[1] {
		t.Fatalf("asked %v: want page 0 and not page 1, whose blocks nobody holds", asked)
	}
	// Now it holds a block that page 1 checks: page 1 is wanted.
	x.in(packet.ET, appendHave(nil, 9, 0, []int{2 + 64}))
	x.advance(5 * time.Millisecond)
	for _, r := range requests(x.h.take(t, packet.ET)) {
		asked[int(r.block)] = true
	}
	if !asked[1] || f.have.Has(1) {
		t.Fatalf("asked %v after a block of page 1 showed", asked)
	}
}

// The source shows its hash pages to every neighbour from the start, and
// its body blocks to one each: a neighbour can check what it is shown
// without waiting for the page to come round through another. Its HAVE
// repeats each page before the blocks it checks.
func TestSeedingShowsPagesToAll(t *testing.T) {
	t0 := time.Unix(100, 0)
	// 2 pages of 4 hashes each, then 6 body blocks (2..7): page 0 checks
	// blocks 2..5, page 1 blocks 6..7.
	s := newSeeding(8, 2, 4, t0)
	if got := s.top(packet.ET, 3, t0, nil); !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("ET shown %v, want body blocks [2 3 4]", got)
	}
	if got := s.top(packet.SE, 3, t0, nil); !slices.Equal(got, []int{5, 6, 7}) {
		t.Fatalf("SE shown %v, want body blocks [5 6 7]", got)
	}
	for _, d := range []packet.Dir{packet.ET, packet.SE} {
		for p := range 2 {
			if !s.shownTo(d).Has(p) {
				t.Errorf("page %d not shown to %v", p, d)
			}
		}
	}
	if got := s.pending(packet.SE, nil); !slices.Equal(got, []int{0, 5, 1, 6, 7}) {
		t.Fatalf("SE's HAVE lists %v, want each page before its blocks [0 5 1 6 7]", got)
	}
	// A page asked holds no one's room: ET is not shown more for it.
	s.ask(0, t0)
	if got := s.top(packet.ET, 3, t0, nil); len(got) != 0 {
		t.Fatalf("ET shown %v after asking a page", got)
	}
	s.ask(0, t0) // the second neighbour asks it too: counted once
	if got := s.pending(packet.SE, nil); !slices.Equal(got, []int{0, 5, 1, 6, 7}) {
		t.Fatalf("SE's HAVE lists %v after ET asked page 0, want [0 5 1 6 7]: SE may still need it", got)
	}
	for b := 1; b < 8; b++ {
		if s.done() {
			t.Fatalf("done before block %d was asked", b)
		}
		s.ask(b, t0)
	}
	if !s.done() {
		t.Fatal("every block and page asked and not done")
	}
}
