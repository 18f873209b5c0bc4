package mfz

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// pagedRegion makes the format-3 manifest and region (hash list, then
// body) of a random body of n bytes in blocks of bs, without xz: the
// geometry and the checks only.
func pagedRegion(t *testing.T, n int64, bs int, seed int64) (*Manifest, []byte) {
	t.Helper()
	body := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(body)
	bm := &Manifest{Format: 2, Kind: KindFile, Name: "g", PayloadLen: 1, BodyLen: n, BlockSize: bs}
	bm.BlockHashes = make([]Hash, blockCountFor(n, bs))
	for i := range bm.BlockHashes {
		bm.BlockHashes[i] = bm.BlockHash(body[bm.BlockOffset(i) : bm.BlockOffset(i)+int64(bm.BlockLen(i))])
	}
	m, list := pageHashes(bm, 3)
	if err := m.Validate(); err != nil {
		t.Fatalf("body %d in %d: %v", n, bs, err)
	}
	return m, append(list, body...)
}

// The blocks of a format-3 file tile its region at every edge: one body
// block, a page exactly full or one hash over, short last blocks and
// pages, the largest block size with a tiny body, and the most blocks
// 1 KiB allows. Each page checks against the manifest, each body block
// against its page and nothing else; whole, the region gives back the
// body and a manifest that checks it.
func TestPagedGeometry(t *testing.T) {
	type size struct {
		body int64
		bs   int
	}
	var sizes []size
	for _, bs := range []int{1 << 10, 2 << 10, 1 << 20} {
		per := int64(bs / BlockHashLen)
		for _, n := range []int64{1, 2, per - 1, per, per + 1, 2*per + 1} {
			for _, short := range []int64{0, 1, int64(bs) - 1} {
				if body := n*int64(bs) - short; body > 0 && body <= 8<<20 {
					sizes = append(sizes, size{body, bs})
				}
			}
		}
	}
	sizes = append(sizes, size{100, 1 << 20}, size{1, 1 << 10}, size{4032 << 10, 1 << 10})
	for _, sz := range sizes {
		m, region := pagedRegion(t, sz.body, sz.bs, sz.body)
		b, _ := m.MarshalBinary()
		if _, err := ParseManifest(b); err != nil {
			t.Fatalf("%+v: %v", sz, err)
		}
		if int64(len(region)) != m.RegionLen() || m.BlockCount() > MaxBlocks {
			t.Fatalf("%+v: region %d, RegionLen %d, %d blocks", sz, len(region), m.RegionLen(), m.BlockCount())
		}
		var off int64
		buf := make([]byte, sz.bs)
		for i := 0; i < m.BlockCount(); i++ {
			l := m.BlockLen(i)
			if m.BlockOffset(i) != off || l <= 0 || l > sz.bs {
				t.Fatalf("%+v: block %d at %d (want %d), %d bytes", sz, i, m.BlockOffset(i), off, l)
			}
			data := region[off : off+int64(l)]
			pg := m.PageOf(i)
			switch {
			case i < m.Pages():
				if pg != -1 || m.VerifyBlock(i, data) != nil {
					t.Fatalf("%+v: page %d: PageOf %d, %v", sz, i, pg, m.VerifyBlock(i, data))
				}
			default:
				page := region[m.BlockOffset(pg) : m.BlockOffset(pg)+int64(m.BlockLen(pg))]
				if err := m.VerifyBlockIn(i, data, page); err != nil || !errors.Is(m.VerifyBlock(i, data), ErrNeedPage) {
					t.Fatalf("%+v: body block %d in page %d: %v", sz, i, pg, err)
				}
				bad := append([]byte(nil), data...)
				bad[0] ^= 1
				if !errors.Is(m.VerifyBlockIn(i, bad, page), ErrBlockHash) {
					t.Fatalf("%+v: altered block %d passed", sz, i)
				}
			}
			if n, err := readBlockAt(bytes.NewReader(region), 0, m, i, buf, nil); err != nil || !bytes.Equal(buf[:n], data) {
				t.Fatalf("%+v: readBlockAt %d: %v", sz, i, err)
			}
			off += int64(l)
		}
		if off != m.RegionLen() || m.PageOf(m.BlockCount()) != -1 || m.PageOf(-1) != -1 || m.BlockLen(m.BlockCount()) != 0 {
			t.Fatalf("%+v: blocks end at %d of %d", sz, off, m.RegionLen())
		}
		body, bm, err := bodyOf(bytes.NewReader(region), 0, m)
		got := make([]byte, sz.body)
		if err != nil || bm.BlockCount() != m.BlockCount()-m.Pages() {
			t.Fatalf("%+v: bodyOf: %v", sz, err)
		}
		if _, err := body.ReadAt(got, 0); err != nil || !bytes.Equal(got, region[m.HashListLen():]) {
			t.Fatalf("%+v: body: %v", sz, err)
		}
	}
}

// A buffer too short for a block's page is an error, not a panic: the
// last body block can be shorter than the page that checks it.
func TestReadBlockBufferForItsPage(t *testing.T) {
	m, region := pagedRegion(t, 69<<10+10, 1<<10, 1) // 70 body blocks: page 0 of 1024 bytes, page 1 of 96
	last := m.BlockCount() - 1
	if m.BlockLen(last) != 10 || m.BlockLen(m.PageOf(last)) != 96 {
		t.Fatalf("last block %d bytes, its page %d", m.BlockLen(last), m.BlockLen(m.PageOf(last)))
	}
	if _, err := readBlockAt(bytes.NewReader(region), 0, m, last, make([]byte, 10), nil); err == nil {
		t.Fatal("a 10-byte buffer for a block whose page is 96 bytes was taken")
	}
	if n, err := readBlockAt(bytes.NewReader(region), 0, m, last, make([]byte, 96), nil); err != nil || n != 10 {
		t.Fatalf("%d bytes: %v", n, err)
	}
}

// After a restart a partial holds what it held: the pages and the body
// blocks they check. A body block of a page not held waits for the page,
// and one recorded without its page (a have file edited by hand) is
// fetched again, not taken unchecked.
func TestPartialResumePages(t *testing.T) {
	e := newStoreEnv(t)
	e.sync = 1
	s := e.open()
	path, _ := e.file("r.bin", 100, 1, 300<<10)
	file, blocks := blocksOf(t, path)
	m := file.Manifest
	if m.Pages() < 2 {
		t.Fatalf("%d pages, want 2 or more", m.Pages())
	}
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	held := []int{0}
	for i := m.Pages(); i < m.Pages()+10; i++ {
		held = append(held, i)
	}
	for _, i := range held {
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatal(err)
		}
	}
	key := p.key
	s.Close()
	s = e.open()
	if ps := s.Partials(); len(ps) != 1 {
		t.Fatalf("%d partials", len(ps))
	}
	p = s.Partials()[0]
	if !p.Has(0) || p.Has(1) || !p.Has(m.Pages()+3) || p.Missing() != len(blocks)-len(held) {
		t.Fatalf("resumed: page 0 %v, page 1 %v, missing %d", p.Has(0), p.Has(1), p.Missing())
	}
	lastPage := m.PageOf(len(blocks) - 1)
	if err := p.PutBlock(len(blocks)-1, blocks[len(blocks)-1]); lastPage == 0 || !errors.Is(err, ErrNeedPage) {
		t.Fatalf("a block of page %d: %v", lastPage, err)
	}
	if err := p.PutBlock(20, blocks[20]); err != nil {
		t.Fatalf("a block of the page held: %v", err)
	}

	// The have file says body blocks are held and their page is not.
	s.Close()
	have := filepath.Join(e.dir, "partial", key, "have")
	rec, err := os.ReadFile(have)
	if err != nil {
		t.Fatal(err)
	}
	Bitmap(rec).Clear(0)
	if err := os.WriteFile(have, rec, 0o600); err != nil {
		t.Fatal(err)
	}
	s = e.open()
	p = s.Partials()[0]
	if p.Has(0) || p.Has(m.Pages()) || p.Missing() != len(blocks) {
		t.Fatalf("with page 0 unrecorded: page %v, body block %v, missing %d of %d", p.Has(0), p.Has(m.Pages()), p.Missing(), len(blocks))
	}
	for i := range blocks {
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if err := p.Complete(); err != nil {
		t.Fatal(err)
	}
}

// A live format-3 file serves its blocks checked: a body block against
// its page, which is checked against the manifest at the first block
// served. A page damaged on disk before then fails every body block it
// checks, and the others still serve.
func TestLiveServesThroughCheckedPages(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open() // the store is not running: nothing rescans live/
	path, _ := e.file("l.bin", 1, 4, 300<<10)
	if _, err := s.Install(path); err != nil {
		t.Fatal(err)
	}
	en, _ := s.Lookup("l.bin")
	m := en.Manifest
	if m.Pages() < 2 {
		t.Fatalf("%d pages, want 2 or more", m.Pages())
	}
	// Damage page 1 in the live file.
	live := filepath.Join(e.dir, "live", "l.bin")
	f, err := os.OpenFile(live, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := int64(HeaderLen+len(en.Signed)) + m.BlockOffset(1) + 3
	var one [1]byte
	f.ReadAt(one[:], at)
	one[0] ^= 1
	f.WriteAt(one[:], at)
	f.Close()
	buf := make([]byte, m.BlockSize)
	var be *BlockError
	if _, err := s.ReadBlock("l.bin", m.Pages()+m.BlockSize/BlockHashLen, buf); !errors.As(err, &be) || be.Index != 1 {
		t.Fatalf("a body block with a damaged page file: %v, want page 1's hash mismatch", err)
	}
	if _, err := s.ReadBlock("l.bin", 0, buf); err != nil {
		t.Fatalf("page 0: %v", err)
	}
	if _, err := s.ReadBlock("l.bin", m.Pages(), buf); err != nil {
		t.Fatalf("a body block of page 0: %v", err)
	}
	if _, err := s.ReadBlock("l.bin", 1, buf); !errors.As(err, &be) || be.Index != 1 {
		t.Fatalf("page 1: %v", err)
	}
}
