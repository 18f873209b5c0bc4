package dist

import "time"

// The request window of one neighbour: the blocks being fetched from it
// (asm: one block from one neighbour, so a block that fails its hash has
// a culprit), the chunks asked for in the order asked, and the silence
// timer. It decides nothing about which block to fetch and sends nothing:
// the loop picks blocks (recv.go) and sends the REQUESTs it plans. All of
// it is pure: time comes in as an argument.
//
// Links keep order and a sender serves requests in order, so a chunk
// arriving proves every chunk asked before it that has not come lost:
// deliver puts those back to be asked again at once. Only a silence
// longer than the timeout (rttEstimator.rto, doubling per timeout in a
// row) stalls the window; the loop then probes with the oldest few chunks
// still outstanding (probes), which either prove the rest lost or come
// twice at worst. A stalled window is asked nothing new while anything
// is outstanding, and its blocks may be taken by a neighbour that answers.
type window struct {
	asms     []*asm
	out      []pend // chunks asked for, oldest first from outHead; dead blocks' entries are skipped
	outHead  int
	inflight int // chunks asked for and not arrived or known lost: the live entries of out
	free     [][]byte

	rtt          rttEstimator
	lastProgress time.Time // the last answer to something asked, or the start of a fresh pipe
	// stalled: its silence timer fired and nothing asked has come since.
	stalled  bool
	sampleAt time.Time // a request sent into an empty pipe, for an RTT sample
	backoff  uint      // timeouts in a row
	timeouts uint64
	// markEmptied: the answer to a mark emptied the pipe (all it asked
	// lost), so asking again is no fresh pipe: the silence timer runs on
	// from the last chunk that came, until one comes or every block is
	// released. Else a neighbour answering marks and never a chunk would
	// restart the timer with every ask, and keep its blocks for ever.
	markEmptied bool

	rateBytes int64 // new chunk bytes since rateAt
	rateAt    time.Time
	rate      float64 // bytes/s delivered, smoothed
	// lossy is the fraction of the chunks asked that were lost, as
	// lost/(lost+1) per arrival, smoothed: it reads i.i.d. loss low
	// (5% as 0.025, 20% as 0.11, 50% as 0.31), and the thresholds that
	// use it (guards, requestRepeats, size) were measured with it. An
	// estimate counting each chunk once read 20% as 0.2 and was no
	// faster (4x4 at 20%, 15 runs each: 1.683 -> 1.714 x, BENCHMARKS.md).
	lossy float64
}

// asm is a block being fetched from one neighbour, reassembled in buf.
type asm struct {
	f      *file
	block  int
	buf    []byte
	length int
	nch    int
	state  []byte  // per chunk: chNeed, chAsked, chGot
	oc     []uint8 // per chunk: live entries in the window's out
	ngot   int
	next   int // no chunk below next is chNeed
	dead   bool
}

const (
	chNeed = iota
	chAsked
	chGot
)

// maxAsks bounds the live requests for one chunk (asm.oc is a uint8): a
// probe does not ask again for a chunk already asked this often.
const maxAsks = 16

// pend is one chunk asked for: chunk c of block a; or, if mark, a mark
// after it (askedMark).
type pend struct {
	a    *asm
	c    int
	mark bool
}

func chunkCount(blockLen int) int { return (blockLen + ChunkLen - 1) / ChunkLen }

func chunkSize(blockLen, c int) int { return min(ChunkLen, blockLen-c*ChunkLen) }

// maxAsms bounds the blocks fetched from one neighbour at once (and with
// it the reassembly memory): enough to keep a window's worth of chunks
// asked for, plus one.
func maxAsms(t *tuning, blockSize int) int {
	return max(2, (t.window*ChunkLen+blockSize-1)/blockSize+1)
}

func newWindow(rtt rttEstimator, now time.Time) window { return window{rtt: rtt, rateAt: now} }

// rto is the window's current silence timeout.
func (w *window) rto(t *tuning) time.Duration { return w.rtt.RTO(w.backoff, t.minRTO, t.maxRTO) }

// size is how many chunks may be outstanding now: about twice what the
// link carries in one round trip (srtt: request to first data into an
// empty pipe) at the rate the neighbour delivers, at least t.linkRate,
// plus a batch; between t.minWindow and t.window. More only waits in the
// neighbour's queue, ahead of the block that just became rarest: with 96
// chunks always (23.5 KB, 360 ms at 64 KB/s) each hop of the 6x6 grid
// added that wait to the block time (1.28-1.35x the multipath bound;
// 1.22-1.23x with 24). A link with deep queues (the kernel's, which the
// daemon cannot keep short) has a long srtt, and gets the whole window.
// A floor of 4-16 chunks below 1% measured loss took the corner only from
// 1.175 to 1.165x and cost the centre (1.12 -> 1.22x) and the chain
// (1.138 -> 1.158x).
func (w *window) size(t *tuning) int {
	rate := max(w.rate, float64(t.linkRate))
	// Chunks lost and not yet known lost hold room in the window: on a
	// lossy link it is larger by 1/(1 - loss).
	k := int(2*rate*w.rtt.SRTT.Seconds()/ChunkLen/(1-min(w.lossy, 0.5))) + t.minBatch
	return min(max(k, t.minWindow), t.window)
}

// guards is how many times the last chunk of what fill just asked is
// asked again, so that the loss of the REQUEST or of the chunk shows at
// the arrival of a copy instead of after a silence: drained, nothing
// more is asked until something comes; shallow, nothing asked before
// is still coming. A guard costs a chunk time (4 ms at 64 KB/s; as a
// mark, a 10-byte answer), a silence the timeout (at least 150 ms) with
// probability about twice the loss rate for each copy lost, so guards
// pay from about 1% loss, and a second from about 10%: below 1%
// measured loss only a drained pipe is guarded, once. Guards that are
// marks (a neighbour that answers them) cost next to nothing, so the
// second comes from 1%: on the 4x4 push at 20% loss (where the
// estimate, reading 0.11, often dips under 0.1) 1.680 -> 1.568 x the
// loss-adjusted bound, 15 runs each; a third mark gained nothing more
// (1.583 -> 1.569).
//
// A single block asked into an empty pipe used to be unguarded (the
// window's minimum of 24 chunks leaves 7 after a 17-chunk block, less
// than a batch, so fill stopped before it could see the pipe drain): at
// 20% loss a third of those blocks waited for a timeout (4x4 at 20%:
// about 100 timeouts a push, now 30-60). Under 1% measured loss it still
// was, and the estimate reads a 5% link as 0-0.01: of the 6x6 push at
// 5%, 70-105 timeouts were such a block. A mark guards it now: 18
// timeouts, and 1.100 -> 1.083 x the lossless time (8 runs each).
func (w *window) guards(drained, shallow, marks bool) int {
	switch {
	case !drained && !shallow:
		return 0
	case w.lossy >= 0.1 || marks && w.lossy >= 0.01:
		return 2
	case w.lossy >= 0.01 || drained || marks:
		return 1
	}
	return 0
}

// busy reports whether anything is asked or being fetched.
func (w *window) busy() bool { return w.inflight > 0 || len(w.asms) > 0 }

// room returns how many chunks may be asked for now, at most size in
// flight: none while the window is stalled with chunks outstanding, and
// none while fewer than minBatch fit beside chunks in flight (one REQUEST
// for many chunks, not many for one each).
func (w *window) room(size, minBatch int) int {
	if w.stalled && w.inflight > 0 || w.inflight >= size {
		return 0
	}
	room := size - w.inflight
	if room < minBatch && w.inflight > 0 {
		return 0
	}
	return room
}

// find returns the block b of f being fetched here, or nil.
func (w *window) find(f *file, b int) *asm {
	for _, a := range w.asms {
		if a.f == f && a.block == b {
			return a
		}
	}
	return nil
}

// fetching reports whether any block of f is being fetched here.
func (w *window) fetching(f *file) bool {
	for _, a := range w.asms {
		if a.f == f {
			return true
		}
	}
	return false
}

// add starts fetching block b of f, length bytes long, reusing a freed
// buffer if one is large enough.
func (w *window) add(f *file, b, length int) *asm {
	var buf []byte
	if k := len(w.free); k > 0 && cap(w.free[k-1]) >= length {
		buf = w.free[k-1][:length]
		w.free = w.free[:k-1]
	} else {
		buf = make([]byte, length)
	}
	nch := chunkCount(length)
	a := &asm{f: f, block: b, buf: buf, length: length, nch: nch,
		state: make([]byte, nch), oc: make([]uint8, nch)}
	w.asms = append(w.asms, a)
	return a
}

// nextRun returns the first run of chunks to ask for, of the first block
// with any: at most room chunks from first on. a is nil if every chunk of
// every block is asked for or held.
func (w *window) nextRun(room int) (a *asm, first, cnt int) {
	for _, a := range w.asms {
		for a.next < a.nch && a.state[a.next] != chNeed {
			a.next++
		}
		if a.next >= a.nch {
			continue
		}
		first := a.next
		cnt := 0
		for first+cnt < a.nch && cnt < room && a.state[first+cnt] == chNeed {
			cnt++
		}
		return a, first, cnt
	}
	return nil, 0, 0
}

// asked records a REQUEST for cnt chunks of a from first on, sent at now.
// A request into an empty pipe starts the silence timer afresh and is
// timed for an RTT sample.
func (w *window) asked(a *asm, first, cnt int, now time.Time) {
	if w.inflight == 0 && !w.markEmptied {
		w.lastProgress = now
		w.sampleAt = now
		w.stalled = false // a fresh pipe: silent only after a timeout of its own
	}
	for c := first; c < first+cnt; c++ {
		a.state[c] = chAsked
		a.oc[c]++
		w.out = append(w.out, pend{a: a, c: c})
	}
	w.inflight += cnt
}

// askedMark records a mark asked after chunk c of a: a request answered
// with an empty DATA in its turn, so its answer shows lost whatever was
// asked before it and has not come, as a guard's copy of the chunk
// would, for a few bytes instead of a chunk. A mark holds no room in the
// window and keeps no timer: lost, it shows nothing, and a silence
// still ends in a timeout.
func (w *window) askedMark(a *asm, c int) {
	w.out = append(w.out, pend{a: a, c: c, mark: true})
}

// arrival is what one chunk's arrival did.
type arrival struct {
	lost int  // chunks asked before it and not come: needed again
	dup  bool // it was here already: nothing else changed but the above
	done bool // it completed its block: a.buf holds the whole block
}

// deliver takes chunk c of a, data, arrived at now. Everything asked
// before it and not come is lost. Only an answer to something asked and
// not held already is progress (it resets the silence timer and ends a
// stall): a neighbour replaying chunks, or sending ones nobody asked for,
// must not keep the timer from firing, and its blocks from going to
// someone else, for ever.
// data must be the chunk's length (chunkSize).
func (w *window) deliver(a *asm, c int, data []byte, now time.Time) (r arrival) {
	asked := a.oc[c] > 0
	if asked {
		w.popTo(a, c, false, &r)
	}
	if asked && a.state[c] != chGot {
		// Progress: an answer to something asked that was not here. A
		// chunk held already is not (a marker's answer, a replay).
		if !w.sampleAt.IsZero() {
			w.rtt.Sample(now.Sub(w.sampleAt))
			w.sampleAt = time.Time{}
		}
		w.lastProgress = now
		w.backoff = 0
		w.stalled = false
		w.markEmptied = false
	}
	if a.state[c] == chGot {
		r.dup = true
		return r
	}
	copy(a.buf[c*ChunkLen:], data)
	a.state[c] = chGot
	a.ngot++
	w.rateBytes += int64(len(data))
	r.done = a.ngot == a.nch
	return r
}

// deliverMark takes the answer to a mark after chunk c of a: everything
// asked before the mark and not come is lost. An answer to no mark asked
// (late, or a replay) changes nothing.
func (w *window) deliverMark(a *asm, c int) (r arrival) {
	found := false
	for _, e := range w.out[w.outHead:] {
		if e.mark && e.a == a && e.c == c {
			found = true
			break
		}
	}
	if !found {
		return r
	}
	w.popTo(a, c, true, &r)
	// Not progress: only a chunk that was asked for is (deliver).
	w.markEmptied = w.markEmptied || w.inflight == 0
	return r
}

// popTo takes the entries of out up to the oldest live one for chunk c
// of a (a mark after it if mark, else an ask of it) off it: what was
// asked before that and has not come is lost, needed again.
func (w *window) popTo(a *asm, c int, mark bool, r *arrival) {
	for w.outHead < len(w.out) {
		e := w.out[w.outHead]
		w.out[w.outHead] = pend{}
		w.outHead++
		if e.a.dead {
			continue
		}
		if e.mark {
			if mark && e.a == a && e.c == c {
				break
			}
			continue // its answer was lost, or will not come before this
		}
		e.a.oc[e.c]--
		w.inflight--
		if !mark && e.a == a && e.c == c {
			break
		}
		if e.a.state[e.c] == chAsked && e.a.oc[e.c] == 0 {
			e.a.state[e.c] = chNeed
			e.a.next = min(e.a.next, e.c)
			r.lost++
		}
	}
	w.compact()
	w.lossy += (float64(r.lost)/float64(r.lost+1) - w.lossy) / 16
}

// release takes a finished or cancelled block off the window. Its chunks
// still asked for (a cancelled block's, or a finished block's duplicates
// asked by a probe) no longer count against the window: their entries in
// out are dead and skipped. Its buffer is kept for the next block.
func (w *window) release(a *asm) {
	for c := range a.oc {
		w.inflight -= int(a.oc[c])
		a.oc[c] = 0
	}
	w.inflight = max(w.inflight, 0)
	a.dead = true
	for i, x := range w.asms {
		if x == a {
			w.asms = append(w.asms[:i], w.asms[i+1:]...)
			break
		}
	}
	if len(w.free) < 2 {
		w.free = append(w.free, a.buf[:0])
	}
	a.buf = nil
	if len(w.asms) == 0 {
		w.markEmptied = false // nothing left that marks showed lost
	}
}

// compact drops the entries of dead blocks from the front of out and
// reclaims the slice.
func (w *window) compact() {
	for w.outHead < len(w.out) && w.out[w.outHead].a.dead {
		w.out[w.outHead] = pend{}
		w.outHead++
	}
	if w.outHead == len(w.out) {
		w.out, w.outHead = w.out[:0], 0
	} else if w.outHead > 256 && w.outHead > len(w.out)/2 {
		k := copy(w.out, w.out[w.outHead:])
		clear(w.out[k:])
		w.out, w.outHead = w.out[:k], 0
	}
}

// silent reports whether the neighbour has been silent past its timeout
// at now with chunks outstanding.
func (w *window) silent(now time.Time, t *tuning) bool {
	return w.inflight > 0 && now.Sub(w.lastProgress) >= w.rto(t)
}

// timedOut records that the silence timer fired at now: the window
// stalls, the timeout doubles, and the next timer runs from now. It
// returns the timeouts in a row.
func (w *window) timedOut(now time.Time) uint {
	w.timeouts++
	w.backoff++
	w.stalled = true
	w.lastProgress = now
	w.sampleAt = time.Time{}
	return w.backoff
}

// probes calls ask with the oldest chunks still outstanding, at most k of
// them, skipping those asked maxAsks times already, until ask returns
// false. ask may record a new request (asked): the chunks it adds are not
// visited.
func (w *window) probes(k int, ask func(a *asm, c int) bool) {
	n, end := 0, len(w.out)
	for i := w.outHead; i < end && n < k; i++ {
		e := w.out[i]
		if e.mark || e.a.dead || e.a.state[e.c] != chAsked || e.a.oc[e.c] >= maxAsks {
			continue
		}
		if !ask(e.a, e.c) {
			return
		}
		n++
	}
}

// marker returns a chunk held already of a block still being fetched,
// asked by nobody: asked again with a probe (askedMarker), its answer can
// only be the probe's, so everything asked before the probe and not come
// by then was lost. Probes of outstanding chunks cannot tell: their
// answer may be the first ask's (a slow neighbour), so each timeout used
// to recover only the chunks it probed, 4 of a block's 34, and the last
// block of a transfer at 20% loss took seconds.
//
// A held chunk with an ask still live (a probe answered after its first
// ask was lost leaves the probe's entry) serves as well: its answer pops
// up to that older entry, asked after everything it shows lost.
func (w *window) marker() (*asm, int, bool) {
	var stale *asm
	sc := 0
	for _, a := range w.asms {
		for c := 0; c < a.nch; c++ {
			if a.state[c] != chGot || a.oc[c] >= maxAsks {
				continue
			}
			if a.oc[c] == 0 {
				return a, c, true
			}
			if stale == nil {
				stale, sc = a, c
			}
		}
	}
	return stale, sc, stale != nil
}

// askedMarker records a REQUEST for the marker chunk c of a, held
// already: it counts in the window like any ask, but c stays held.
func (w *window) askedMarker(a *asm, c int) {
	a.oc[c]++
	w.out = append(w.out, pend{a: a, c: c})
	w.inflight++
}

// meterRate folds the bytes delivered into the smoothed rate once a
// second.
func (w *window) meterRate(now time.Time) {
	if now.Sub(w.rateAt) >= time.Second {
		inst := float64(w.rateBytes) / now.Sub(w.rateAt).Seconds()
		w.rate += (inst - w.rate) / 2
		w.rateBytes, w.rateAt = 0, now
	}
}
