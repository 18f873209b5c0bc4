package dist

import (
	"bytes"
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
