package dist

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// Super-seeding. A file pushed at this tile exists nowhere else, and every
// block the source sends twice before each has left once is a block the
// grid waits for. So the source does not announce it whole at first: each
// neighbour is shown a few blocks nobody has asked for yet (a partial
// ANNOUNCE with a BITFIELD, then HAVEs), different blocks to different
// neighbours, and shown more as it asks. The neighbours trade what they got
// among themselves, so every link out of the source carries something new.
// Once every block has been asked for, the file is announced whole. The
// hash pages of a format-3 file are shown to everyone: without its page
// a neighbour can check none of the blocks it is shown.
//
// seeding is the bookkeeping, a pure type: the loop shows blocks (top),
// counts requests (ask) and forgets a neighbour that went away (forget).
// A request for a block never shown is served all the same: this is a
// hint to honest neighbours, not a rule anyone must keep.
type seeding struct {
	blocks int
	// pages: format 3's hash pages, blocks 0..pages-1, shown to every
	// neighbour from the start, each checking per body blocks. A page is
	// what lets a neighbour check the blocks it is shown, so showing it
	// to one neighbour only left the other's link idle until the page
	// came round through the first: at 20% loss that start took 0.5 s
	// longer in one push in six (BENCHMARKS.md).
	pages, per int

	asked  mfz.Bitmap // blocks some neighbour asked for
	nasked int
	shown  [8]mfz.Bitmap // per link: the blocks shown to that neighbour
	ahead  [8]int        // per link: blocks shown to it and not asked by anyone
	next   int           // every block below next was shown to someone
	stale  int           // where the search for blocks shown but never asked resumes
	start  time.Time
	at     []uint32  // per block: when it was last shown, in ms after start (+1)
	asking time.Time // the latest first ask of a block (or the start)
}

// seedStale is how long a block shown to one neighbour waits for it to
// ask before it is shown to another too. Shown at once, the last few
// blocks of the first pass would go out twice (both neighbours asking),
// 4% of a 1 MiB file on the 6x6 grid.
const seedStale = time.Second

// newSeeding starts the super-seeding of a file of blocks blocks, the
// first pages of them hash pages checking per body blocks each.
func newSeeding(blocks, pages, per int, now time.Time) *seeding {
	return &seeding{blocks: blocks, pages: pages, per: max(per, 1), next: pages,
		asked: mfz.NewBitmap(blocks), start: now, at: make([]uint32, blocks), asking: now}
}

// seedIdle ends a super-seeding that nobody asks anything of for this
// long: the neighbours hold the file, or will not fetch it from us (a
// newer version they hold); its showing HAVEs would go on for ever.
const seedIdle = 10 * time.Second

// done reports whether every block has been asked for once.
func (s *seeding) done() bool { return s.nasked >= s.blocks }

// ask records that a neighbour asked for block b at now; it reports
// whether b was asked for the first time.
func (s *seeding) ask(b int, now time.Time) bool {
	if b < 0 || b >= s.blocks || s.asked.Has(b) {
		return false
	}
	// Only a block asked for the first time keeps the seeding alive: a
	// neighbour asking one block again and again must not.
	s.asking = now
	s.asked.Set(b)
	s.nasked++
	if b < s.pages {
		return true // shown to all, ahead of none
	}
	for d := range s.shown {
		if s.shown[d].Has(b) {
			s.ahead[d]--
		}
	}
	return true
}

// top shows the neighbour on link d blocks until it has want shown that
// nobody asked for, and returns those newly shown (appended to dst).
// Blocks never shown to anyone come first, lowest first; then blocks that
// nobody asked for and that are shown to no neighbour (one went away) or
// were shown seedStale ago or more (one is slow to ask, or never will),
// so no block waits on one neighbour for long.
func (s *seeding) top(d packet.Dir, want int, now time.Time, dst []int) []int {
	if !d.IsLink() {
		return dst
	}
	if s.shown[d] == nil {
		s.shown[d] = mfz.NewBitmap(s.blocks)
		for p := range s.pages {
			s.shown[d].Set(p)
		}
	}
	for s.ahead[d] < want && s.next < s.blocks {
		b := s.next
		s.next++
		if s.asked.Has(b) {
			continue // asked for without being shown
		}
		dst = s.show(d, b, now, dst)
	}
	if s.ahead[d] >= want {
		return dst
	}
	stale := now.Sub(s.start) - seedStale
	for i := 0; s.ahead[d] < want && i < s.blocks; i++ {
		b := (s.stale + i) % s.blocks
		if b < s.pages || s.asked.Has(b) || s.shown[d].Has(b) {
			continue
		}
		if s.shownAnywhere(b) && time.Duration(s.at[b]-1)*time.Millisecond > stale {
			continue
		}
		dst = s.show(d, b, now, dst)
		s.stale = (b + 1) % s.blocks
	}
	return dst
}

// shownAnywhere reports whether b is shown to a neighbour still here.
func (s *seeding) shownAnywhere(b int) bool {
	for d := range s.shown {
		if s.shown[d].Has(b) {
			return true
		}
	}
	return false
}

func (s *seeding) show(d packet.Dir, b int, now time.Time, dst []int) []int {
	s.shown[d].Set(b)
	s.ahead[d]++
	// Milliseconds after start, +1 so 0 means never; a seeding lasting
	// past 49 days wraps, which only makes a block look fresh.
	s.at[b] = uint32(now.Sub(s.start)/time.Millisecond) + 1
	return append(dst, b)
}

// pending appends to dst the blocks shown to d that nobody asked for,
// each after the hash page that checks it: what a HAVE to d repeats, so
// one lost HAVE (or BITFIELD) hides nothing for long.
func (s *seeding) pending(d packet.Dir, dst []int) []int {
	if !d.IsLink() || s.shown[d] == nil {
		return dst
	}
	page := -1
	for b := s.pages; b < s.blocks; b++ {
		if s.shown[d].Has(b) && !s.asked.Has(b) {
			if p := (b - s.pages) / s.per; p != page && p < s.pages {
				page = p
				dst = append(dst, p)
			}
			dst = append(dst, b)
		}
	}
	return dst
}

// shownTo returns the bitmap of the blocks shown to d (nil: none).
func (s *seeding) shownTo(d packet.Dir) mfz.Bitmap {
	if !d.IsLink() {
		return nil
	}
	return s.shown[d]
}

// forget drops what was shown to d: its neighbour went away. What it was
// shown and did not ask for goes to the others (top's second pass).
func (s *seeding) forget(d packet.Dir) {
	if d.IsLink() {
		s.shown[d], s.ahead[d] = nil, 0
	}
}

// announceSeeding tells n of f, a file being super-seeded, as a partial
// file holding the blocks shown to n (topped up first).
func (l *loop) announceSeeding(n *nbr, f *file) {
	if wantsSeed(n, f) {
		f.seed.top(n.dir, l.seedAhead(f), l.now, nil)
	}
	shown := f.seed.shownTo(n.dir)
	held := 0
	if shown != nil {
		held = shown.Count(f.blocks)
	}
	l.sendCtrl(n, appendAnnounce(l.buf[:0], f.handle, flagsServed, f.version, f.blocks, held, f.id, f.name))
	l.counters.AnnouncesOut++
	if shown != nil {
		l.sendBits(n, f, shown)
	}
}

// seedAhead is how many blocks nobody asked for a neighbour is shown: as
// many as its window fetches at once, and one more to choose from.
func (l *loop) seedAhead(f *file) int { return maxAsms(l.t, f.m.BlockSize) + 1 }

// wantsSeed reports whether n may want blocks of f from us: it has not
// announced the file whole.
func wantsSeed(n *nbr, f *file) bool {
	rf := n.byFid[f.id]
	return rf == nil || !rf.complete
}

// showMore shows n more blocks of f if it has few left to ask for: one
// HAVE lists every block shown to it that nobody asked for, so a lost HAVE
// is repaired by the next. again sends that HAVE even with nothing new.
func (l *loop) showMore(n *nbr, f *file, again bool) {
	if f.handle == noHandle || !wantsSeed(n, f) {
		return
	}
	if len(f.seed.top(n.dir, l.seedAhead(f), l.now, nil)) == 0 && !again {
		return
	}
	pend := f.seed.pending(n.dir, nil)
	if len(pend) == 0 {
		return
	}
	l.sendCtrl(n, appendHave(l.buf[:0], f.handle, 0, pend[:min(len(pend), maxHaves)]))
}

// seedAsked: a neighbour asked for block b of f, being super-seeded. Once
// every block was asked for, f is announced whole to everyone.
func (l *loop) seedAsked(f *file, b int) {
	if !f.seed.ask(b, l.now) {
		return
	}
	if f.seed.done() {
		l.endSeeding(f)
		return
	}
	l.showAll(f, false)
}

// endSeeding announces f whole to everyone: its first pass is over.
func (l *loop) endSeeding(f *file) {
	f.seed = nil
	l.announceHeld(f)
}

// showAll calls showMore for every live neighbour.
func (l *loop) showAll(f *file, again bool) {
	for _, n := range l.nbrs {
		if n != nil {
			l.showMore(n, f, again)
		}
	}
}

// showStale shows every neighbour with nothing left to ask blocks that
// waited too long on another (top), and tells each again what it was shown
// and did not ask for: requests, which otherwise drive the showing, may
// have stopped because the HAVE that showed them was lost. A seeding
// nobody asked anything of for seedIdle ends: the file is announced whole.
func (l *loop) showStale() {
	for _, f := range l.files.byID {
		if f.seed == nil {
			continue
		}
		if l.now.Sub(f.seed.asking) >= seedIdle {
			l.endSeeding(f)
			continue
		}
		l.showAll(f, true)
	}
}
