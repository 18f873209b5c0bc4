package dist

import (
	"errors"
	"math/bits"

	"github.com/t2tiles/itcd/services/mfz"
)

// Receiving blocks: which block to ask each neighbour for (a whole block
// from one neighbour, the lowest or rarest it holds and nobody fetches),
// and what an arriving chunk, block or NOTHAVE does. What was asked and
// when is the neighbour's window (window.go); a block reassembled is
// verified and written by the store (mfz.Partial.PutBlock), whose errors
// mfz.Classify blames on the neighbour, the file's state, or this tile.

// fill asks n for chunks until its window is full: the chunks still
// needed of the blocks it is fetching first, then new blocks.
func (l *loop) fill(n *nbr) {
	if n.avoided(l.now) {
		return
	}
	var last *asm // the last run asked in this call, ending at chunk lastC
	lastC := 0
	// shallow: hardly anything outstanding, so nothing asked before
	// this call will come after what it asks.
	shallow := n.win.inflight < l.t.minBatch
	drained := false // nothing more to ask of n
	for {
		room := n.win.room(n.win.size(l.t), l.t.minBatch)
		if room == 0 {
			break
		}
		if a, first, cnt := n.win.nextRun(room); a != nil {
			if rf := n.byFid[a.f.id]; rf == nil {
				l.cancelAsm(n, a) // it no longer announces the file
			} else {
				l.askChunks(n, rf, a, first, cnt)
				last, lastC = a, first+cnt-1
			}
			continue
		}
		if !l.tryAssign(n) {
			drained = true
			break
		}
	}
	if last == nil || last.dead {
		return
	}
	// What was asked last may be followed by nothing: the pipe drains, or
	// it was (nearly) empty and the window has no room for the next
	// block. Its last chunk is asked again (guards), so that if the
	// REQUEST or the chunk is lost, a later copy's arrival shows it at
	// once (it answers the first ask: everything before is lost), where
	// a silence would wait for the timeout. Of a neighbour that answers
	// marks, a guard is a mark: the same proof, without the chunk's bytes
	// (6-12% of a source's links at 20% loss, where nearly every request
	// ends a drained pipe).
	if rf := n.byFid[last.f.id]; rf != nil {
		for range n.win.guards(drained, shallow, rf.marks) {
			if rf.marks {
				l.askMark(n, rf, last, lastC)
			} else {
				l.askChunks(n, rf, last, lastC, 1)
			}
		}
	}
}

// askMark sends n a mark after chunk c of a (window.askedMark): a
// guard's proof for a few bytes, without the chunk.
func (l *loop) askMark(n *nbr, rf *rfile, a *asm, c int) {
	n.win.askedMark(a, c)
	l.sendCtrl(n, l.numbered(n, requestMsg{handle: rf.handle, block: uint16(a.block), chunk: uint16(c)}))
	l.counters.Marks++
}

// askChunks sends n one REQUEST for cnt chunks of a from first on.
func (l *loop) askChunks(n *nbr, rf *rfile, a *asm, first, cnt int) {
	n.win.asked(a, first, cnt, l.now)
	l.sendRequest(n, rf, a, first, cnt)
}

// askMarker sends n one REQUEST for chunk c of a, held already: the
// marker of a probe (window.marker).
func (l *loop) askMarker(n *nbr, rf *rfile, a *asm, c int) {
	n.win.askedMarker(a, c)
	l.sendRequest(n, rf, a, c, 1)
}

// sendRequest sends the request the window recorded: numbered, with the
// last few again on a lossy link (requests.go), to a neighbour that
// takes that; else a REQUEST.
func (l *loop) sendRequest(n *nbr, rf *rfile, a *asm, first, cnt int) {
	if rf.numbered {
		l.sendCtrl(n, l.numbered(n, requestMsg{handle: rf.handle, block: uint16(a.block), chunk: uint16(first), count: uint16(cnt), short: rf.short}))
	} else {
		l.sendCtrl(n, appendRequest(l.buf[:0], rf.handle, a.block, first, cnt))
	}
	l.counters.Requests++
}

// tryAssign is assignBlock unless n was found with nothing to fetch and
// nothing has moved since: the loop fills every neighbour after every
// packet, and the search came up empty for most of them (a sixth of the
// service's CPU in a 20x20 push). What moves is counted in l.assignGen: an
// announcement, a block ended (releaseAsm), a stall begun (timeouts), an
// event, the slow tick; and n's own stall ending, which makes the blocks
// of stalled neighbours free for it.
func (l *loop) tryAssign(n *nbr) bool {
	if n.noBlock == (noBlock{gen: l.assignGen, stalled: n.win.stalled}) {
		return false
	}
	if l.assignBlock(n) {
		return true
	}
	n.noBlock = noBlock{gen: l.assignGen, stalled: n.win.stalled}
	return false
}

// noBlock records when a neighbour had no block to fetch: at which
// l.assignGen, and whether it was stalled then.
type noBlock struct {
	gen     uint64
	stalled bool
}

// assignBlock picks a new block for n to fetch, if n holds one we need.
func (l *loop) assignBlock(n *nbr) bool {
	var ts []*file
	for _, f := range l.files.byName {
		if f.phase == phaseReceiving {
			ts = append(ts, f)
		}
	}
	if len(ts) == 0 {
		return false
	}
	l.rr++
	for i := range ts {
		f := ts[(l.rr+i)%len(ts)]
		rf := n.byFid[f.id]
		if rf == nil || rf.blocks != f.blocks || !l.mayFetch(f) {
			continue
		}
		if len(n.win.asms) >= maxAsms(l.t, f.m.BlockSize) {
			return false
		}
		b := l.pickBlock(n, f, rf)
		if b < 0 {
			continue
		}
		l.newAsm(n, f, b)
		return true
	}
	return false
}

// pickBlock picks a block of f for n, which announced rf: one we lack, n
// holds, and nobody is fetching, or that a stalled neighbour holds.
func (l *loop) pickBlock(n *nbr, f *file, rf *rfile) int {
	if l.t.strategy == Sequential {
		for b := f.low; b < f.blocks; b++ {
			if !f.have.Has(b) && l.free(n, f, b) && rf.holds(b) && f.checkable(b) {
				return b
			}
		}
		return -1
	}
	return l.rarest(n, f, rf)
}

// rarest picks, of the blocks n could fetch (and this tile could check:
// in format 3 a body block only once its hash page is here), one that the
// fewest live neighbours hold, at random among those: neighbours that pick this way
// fetch different blocks, so each soon has something to give the others.
// One pass over the blocks missing (at most 4096) and, for each, the
// neighbours' bitmaps: no state to keep in step with announcements.
func (l *loop) rarest(n *nbr, f *file, rf *rfile) int {
	var others [8]*rfile
	k := 0
	for _, o := range l.nbrs {
		if o != nil {
			if orf := o.byFid[f.id]; orf != nil {
				others[k] = orf
				k++
			}
		}
	}
	if f.low >= f.blocks {
		return -1
	}
	// A byte of bitmap at a time: late in a transfer most blocks are held
	// here, and a neighbour at the front holds few, so most bytes have
	// nothing to look at. (This ran for every neighbour after every
	// packet: 15% of a 10x10 push's CPU.) The tie-break is a reservoir
	// sample, uniform whatever the order of the pass.
	pages := f.m.Pages() // format 3: blocks [0, pages) are hash pages
	best, bestN, ties := -1, 1<<30, 0
	for i := f.low / 8; i < len(f.have); i++ {
		cand := rf.heldByte(i) &^ f.have[i]
		for ; cand != 0; cand &= cand - 1 {
			b := 8*i + bits.TrailingZeros8(cand)
			if b < f.low || b >= f.blocks || !l.free(n, f, b) || !f.checkable(b) {
				continue
			}
			c := 0
			if b < pages {
				// A hash page goes before any body block, once a
				// neighbour holds a body block it would unlock: before,
				// it would only delay the blocks that can be had now.
				if !pageWanted(f, pages, b, others[:k]) {
					continue
				}
				c = -k - 1
			}
			for _, orf := range others[:k] {
				if orf.holds(b) {
					c++
				}
			}
			switch {
			case c < bestN:
				best, bestN, ties = b, c, 1
			case c == bestN:
				ties++
				if l.rng.Intn(ties) == 0 {
					best = b
				}
			}
		}
	}
	return best
}

// free reports whether n may fetch block b of f: nobody fetches it, or a
// neighbour that went silent past its timeout does and n has not. A
// neighbour that served the manifest and then no blocks used to keep its
// blocks until it was avoided, seconds later (8 s on a 300 KB file), while
// another neighbour held them all and sat idle
// (TestSilentNeighbourBlocksGoElsewhere). A neighbour only slow (a tail
// loss) loses to one with room the blocks it had not delivered, no more.
func (l *loop) free(n *nbr, f *file, b int) bool {
	d := f.fetching[b]
	if d == 0 {
		return true
	}
	o := l.nbrs[d]
	return d != n.dir && !n.win.stalled && o != nil && o.win.stalled
}

// newAsm starts fetching block b of f from n, taking it from a stalled
// neighbour that was (free).
func (l *loop) newAsm(n *nbr, f *file, b int) *asm {
	if d := f.fetching[b]; d != 0 && d != n.dir && l.nbrs[d] != nil {
		if a := l.nbrs[d].win.find(f, b); a != nil {
			l.cancelAsm(l.nbrs[d], a)
			l.counters.Reassigned++
		}
	}
	a := n.win.add(f, b, f.m.BlockLen(b))
	f.fetching[b] = n.dir
	return a
}

// releaseAsm takes a finished or cancelled block off n's window; the
// block is free for anyone.
func (l *loop) releaseAsm(n *nbr, a *asm) {
	l.assignGen++
	n.win.release(a)
	if a.f.fetching != nil && a.f.fetching[a.block] == n.dir {
		a.f.fetching[a.block] = 0
	}
}

// cancelAsm gives up fetching a block from n: its chunks still asked for
// no longer count against n's window, and the block is free for anyone.
func (l *loop) cancelAsm(n *nbr, a *asm) {
	if a.dead {
		return
	}
	l.releaseAsm(n, a)
	n.win.compact()
}

// cancelAsms cancels the blocks being fetched from n that match (all of
// them if match is nil).
func (l *loop) cancelAsms(n *nbr, match func(*asm) bool) {
	for _, a := range append([]*asm(nil), n.win.asms...) {
		if match == nil || match(a) {
			l.cancelAsm(n, a)
		}
	}
}

// data handles one DATA chunk from n.
func (l *loop) data(n *nbr, m *dataMsg) {
	rf := n.rh[m.handle]
	if rf == nil {
		l.counters.Unexpected++
		return
	}
	f := l.files.byID[rf.id]
	receiving := f != nil && f.receiving()
	c := int(m.chunk)
	if len(m.data) == 0 {
		// The answer to a mark. On a clean link its block, even its
		// whole file, is done before it comes, by the chunks asked
		// before it: nothing to learn, and nothing unasked for.
		if !receiving {
			return
		}
		switch a := n.win.find(f, int(m.block)); {
		case a == nil:
		case c < a.nch:
			r := n.win.deliverMark(a, c)
			l.counters.Lost += uint64(r.lost)
		default:
			l.counters.Unexpected++
		}
		return
	}
	if !receiving {
		l.counters.Unexpected++
		return
	}
	a := n.win.find(f, int(m.block))
	if a == nil || c >= a.nch || len(m.data) != chunkSize(a.length, c) {
		l.counters.Unexpected++
		return
	}
	r := n.win.deliver(a, c, m.data, l.now)
	l.counters.Lost += uint64(r.lost)
	if r.dup {
		l.counters.Duplicates++
		return
	}
	l.counters.ChunksIn++
	if r.done {
		l.blockDone(n, a)
	}
}

// blockDone verifies and stores a block reassembled from n.
func (l *loop) blockDone(n *nbr, a *asm) {
	f, b := a.f, a.block
	length := a.length
	if f.pause.waiting(l.now) {
		// Its transfer is paused (a full disk): dropped without a write.
		l.releaseAsm(n, a)
		n.win.compact()
		return
	}
	// The sync WriteBlock may ask for runs off the loop (sync.go).
	syncDue, err := f.partial.WriteBlock(b, a.buf[:a.length])
	if err == nil {
		l.recent.put(f, b, a.buf[:a.length]) // before a.buf is released
	}
	l.releaseAsm(n, a)
	n.win.compact()
	if errors.Is(err, mfz.ErrNeedPage) {
		// Asked before its hash page was here (pickBlock does not):
		// not n's fault; the block is free to ask again.
		l.counters.NoPage++
		return
	}
	switch mfz.Classify(err) {
	case mfz.FaultNone:
		l.storeWorked(f)
		l.gotBlock(n, f, b, length)
		if syncDue && f.receiving() && f.nhave < f.blocks {
			// The last block's is the whole-file check's.
			l.syncSoon(f)
		}
	case mfz.FaultData:
		// It failed its hash (mfz.ErrBlockHash). Every chunk passed its
		// CRC, so the link did not damage it: n sent a block that is
		// not the one announced.
		n.badBlocks++
		l.counters.BadBlocks++
		l.avoid(n, "block failed its hash")
	case mfz.FaultState:
		// The partial is no longer active (mfz.ErrDone): completed,
		// dropped or superseded meanwhile.
		l.resync()
	default:
		// This tile's disk failed (mfz.Classify: FaultLocal), not n: n
		// is not struck, and the block is not asked for again until
		// the transfer's pause ends.
		l.storeFailed(f, err)
	}
}

// gotBlock counts block b of f, verified and written, as held.
func (l *loop) gotBlock(n *nbr, f *file, b, length int) {
	if !f.gotBlock(b, length, l.now) {
		return
	}
	f.sources[n.dir].Blocks++
	f.sources[n.dir].Bytes += int64(length)
	n.conduct.served()
	l.counters.BlocksIn++
	l.haves[f] = append(l.haves[f], b)
	if f.nhave == f.blocks {
		l.flushHaves()
		if !f.pause.waiting(l.now) {
			l.startComplete(f)
		}
	}
}

// notHave: n does not serve a block we asked for; ask someone else now.
func (l *loop) notHave(n *nbr, m *notHaveMsg) {
	l.counters.NotHave++
	n.notHaves++
	rf := n.rh[m.handle]
	if rf == nil {
		return
	}
	b := int(m.block)
	if b == blockGone {
		// It no longer holds the file: not a fault.
		l.dropRemote(n, rf)
		return
	}
	if rf.have == nil && rf.blocks > 0 {
		// It announced the whole file and does not serve a block of it.
		rf.complete = false
		rf.have = mfz.NewBitmap(rf.blocks)
		for i := 0; i < rf.blocks; i++ {
			rf.have.Set(i)
		}
	}
	rf.have.Clear(b)
	if f := l.files.byID[rf.id]; f != nil {
		if a := n.win.find(f, b); a != nil {
			l.cancelAsm(n, a)
			l.strike(n, "announced blocks it does not serve")
		}
	}
}

// timeouts: a neighbour silent too long while chunks are outstanding
// stalls, and is probed with the oldest few of them. If they were lost
// their answer shows the rest were lost too; if n was only slow, at most
// a few chunks come twice. Four timeouts in a row are a strike.
func (l *loop) timeouts() {
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		n.win.meterRate(l.now)
		if !n.win.silent(l.now, l.t) {
			continue
		}
		l.counters.Timeouts++
		l.assignGen++ // n stalls: its blocks are free for the others
		if n.win.timedOut(l.now) >= 4 {
			l.strike(n, "no data for its requests")
			if n.avoided(l.now) {
				continue
			}
		}
		n.reqLog.forget()
		k := 4
		if a, c, ok := n.win.marker(); ok {
			if rf := n.byFid[a.f.id]; rf != nil {
				l.askMarker(n, rf, a, c)
				k--
			}
		}
		n.win.probes(k, func(a *asm, c int) bool {
			rf := n.byFid[a.f.id]
			if rf == nil {
				return false
			}
			l.askChunks(n, rf, a, c, 1)
			return true
		})
	}
}
