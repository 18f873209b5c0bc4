package dist

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// nbr is one live neighbour: what it announced, what it asked of us and
// what we asked of it.
type nbr struct {
	dir  packet.Dir
	tile p2p.TileID

	// What it announced, by its handle and by file id.
	rh    [maxHandle + 1]*rfile
	byFid map[fileID]*rfile

	// Sending: control messages first, then the jobs it asked for.
	ctrl        [][]byte
	ctrlHead    int
	jobs        []job
	jobChunks   int
	cache       blockCache
	bfSent      map[fileID]time.Time
	nextRefresh time.Time

	// Receiving: blocks being fetched from it and the chunks asked for, in
	// the order asked (links keep order and the sender serves in order, so
	// a chunk arriving means every chunk asked before it that has not come
	// was lost).
	asms     []*asm
	out      []pend
	outHead  int
	inflight int // chunks asked for and not arrived or known lost
	free     [][]byte

	lastProgress time.Time
	// stalled: its silence timer fired and nothing asked has come since.
	// Its blocks may be taken by a neighbour that answers (pickBlock), and
	// it is asked nothing new while anything is outstanding.
	stalled      bool
	srtt, rttvar time.Duration
	sampleAt     time.Time // a request sent into an empty pipe, for an RTT sample
	backoff      uint

	conduct conduct // strikes and avoidance: conduct.go

	mfTokens   int       // fresh manifest fetches it may start now (fetchToken)
	mfRefillAt time.Time // when its next token comes, while it has fewer than t.mfBurst

	syncAt      time.Time // when we last answered its SYNC
	syncPending bool      // a SYNC came within syncGap of that: answer it when the gap ends

	rateBytes int64
	rateAt    time.Time
	rate      float64 // bytes/s delivered, smoothed
	badBlocks uint64
	timeoutsN uint64
	notHaves  uint64
}

func newNbr(d packet.Dir, tile p2p.TileID, l *loop) *nbr {
	n := &nbr{dir: d, tile: tile, byFid: map[fileID]*rfile{}, bfSent: map[fileID]time.Time{},
		conduct: newConduct(l.t), rateAt: l.now, mfTokens: l.t.mfBurst}
	for _, hn := range l.h.Neighbours() {
		if hn.Dir == d && hn.RTT > 0 {
			n.srtt, n.rttvar = hn.RTT, hn.RTT/2
		}
	}
	if n.srtt == 0 {
		n.srtt, n.rttvar = 50*time.Millisecond, 25*time.Millisecond
	}
	return n
}

func (n *nbr) resetRemote() {
	n.rh = [maxHandle + 1]*rfile{}
	clear(n.byFid)
}

func (n *nbr) avoided(now time.Time) bool { return n.conduct.avoided(now) }

// timeout is how long the neighbour may stay silent while chunks are
// outstanding: twice the smoothed request-to-first-data time plus four
// deviations, within [minRTO, maxRTO], doubled per timeout in a row.
func (n *nbr) timeout(t *tuning) time.Duration {
	rto := 2*n.srtt + 4*n.rttvar
	rto = max(rto, t.minRTO)
	rto <<= min(n.backoff, 4)
	return min(rto, t.maxRTO)
}

// asm is a block being fetched from one neighbour, reassembled in buf.
type asm struct {
	f      *file
	block  int
	buf    []byte
	length int
	nch    int
	state  []byte  // per chunk: chNeed, chAsked, chGot
	oc     []uint8 // per chunk: live entries in n.out
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

type pend struct {
	a *asm
	c int
}

func chunkCount(blockLen int) int { return (blockLen + ChunkLen - 1) / ChunkLen }

func chunkSize(blockLen, c int) int { return min(ChunkLen, blockLen-c*ChunkLen) }

// maxAsms bounds the blocks fetched from one neighbour at once (and with
// it the reassembly memory): enough to keep a window's worth of chunks
// asked for, plus one.
func (l *loop) maxAsms(bs int) int {
	return max(2, (l.t.window*ChunkLen+bs-1)/bs+1)
}

func (n *nbr) findAsm(f *file, b int) *asm {
	for _, a := range n.asms {
		if a.f == f && a.block == b {
			return a
		}
	}
	return nil
}

// fill asks n for chunks until its window is full.
func (l *loop) fill(n *nbr) {
	if n.avoided(l.now) || n.stalled && n.inflight > 0 {
		return
	}
	for n.inflight < l.t.window {
		room := l.t.window - n.inflight
		if room < l.t.minBatch && n.inflight > 0 {
			return
		}
		if l.askMore(n, room) {
			continue
		}
		if !l.assignBlock(n) {
			return
		}
	}
}

// askMore sends one REQUEST for the first run of needed chunks of a block
// being fetched from n, at most room chunks.
func (l *loop) askMore(n *nbr, room int) bool {
	for _, a := range n.asms {
		for a.next < a.nch && a.state[a.next] != chNeed {
			a.next++
		}
		if a.next >= a.nch {
			continue
		}
		rf := n.byFid[a.f.id]
		if rf == nil {
			l.cancelAsm(n, a)
			return true
		}
		first := a.next
		cnt := 0
		for first+cnt < a.nch && cnt < room && a.state[first+cnt] == chNeed {
			cnt++
		}
		l.askChunks(n, rf, a, first, cnt)
		return true
	}
	return false
}

func (l *loop) askChunks(n *nbr, rf *rfile, a *asm, first, cnt int) {
	if n.inflight == 0 {
		n.lastProgress = l.now
		n.sampleAt = l.now
		n.stalled = false // a fresh pipe: silent only after a timeout of its own
	}
	l.sendCtrl(n, appendRequest(l.buf[:0], rf.handle, a.block, first, cnt))
	l.counters.Requests++
	for c := first; c < first+cnt; c++ {
		a.state[c] = chAsked
		a.oc[c]++
		n.out = append(n.out, pend{a, c})
	}
	n.inflight += cnt
}

// assignBlock picks a new block for n to fetch, if n holds one we need.
func (l *loop) assignBlock(n *nbr) bool {
	var ts []*file
	for _, f := range l.byName {
		if f.receiving() && !f.completing {
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
		if len(n.asms) >= l.maxAsms(f.m.BlockSize) {
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
	switch l.t.strategy {
	case RarestFirst:
		best, bestN := -1, 1<<30
		for b := f.low; b < f.blocks; b++ {
			if f.have.Has(b) || !l.free(n, f, b) || !rf.holds(b) {
				continue
			}
			k := 0
			for _, o := range l.nbrs {
				if o != nil {
					if orf := o.byFid[f.id]; orf != nil && orf.holds(b) {
						k++
					}
				}
			}
			if k < bestN {
				best, bestN = b, k
			}
		}
		return best
	default:
		for b := f.low; b < f.blocks; b++ {
			if !f.have.Has(b) && l.free(n, f, b) && rf.holds(b) {
				return b
			}
		}
		return -1
	}
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
	return d != n.dir && !n.stalled && o != nil && o.stalled
}

func (l *loop) newAsm(n *nbr, f *file, b int) *asm {
	if d := f.fetching[b]; d != 0 && d != n.dir && l.nbrs[d] != nil {
		// Taken from a stalled neighbour (free).
		if a := l.nbrs[d].findAsm(f, b); a != nil {
			l.cancelAsm(l.nbrs[d], a)
			l.counters.Reassigned++
		}
	}
	length := f.m.BlockLen(b)
	var buf []byte
	if k := len(n.free); k > 0 && cap(n.free[k-1]) >= length {
		buf = n.free[k-1][:length]
		n.free = n.free[:k-1]
	} else {
		buf = make([]byte, length)
	}
	nch := chunkCount(length)
	a := &asm{f: f, block: b, buf: buf, length: length, nch: nch,
		state: make([]byte, nch), oc: make([]uint8, nch)}
	n.asms = append(n.asms, a)
	f.fetching[b] = n.dir
	return a
}

// releaseAsm takes a finished or cancelled block off n. Its chunks still
// asked for (a cancelled block's, or a finished block's duplicates asked by
// a probe) no longer count against n's window: their entries in n.out are
// dead and skipped.
func (l *loop) releaseAsm(n *nbr, a *asm) {
	for c := range a.oc {
		n.inflight -= int(a.oc[c])
		a.oc[c] = 0
	}
	n.inflight = max(n.inflight, 0)
	a.dead = true
	for i, x := range n.asms {
		if x == a {
			n.asms = append(n.asms[:i], n.asms[i+1:]...)
			break
		}
	}
	if a.f.fetching != nil && a.f.fetching[a.block] == n.dir {
		a.f.fetching[a.block] = 0
	}
	if len(n.free) < 2 {
		n.free = append(n.free, a.buf[:0])
	}
	a.buf = nil
}

// cancelAsm gives up fetching a block from n: its chunks still asked for
// no longer count against n's window, and the block is free for anyone.
func (l *loop) cancelAsm(n *nbr, a *asm) {
	if a.dead {
		return
	}
	l.releaseAsm(n, a)
	l.compactOut(n)
}

// cancelAsms cancels the blocks being fetched from n that match (all of
// them if match is nil).
func (l *loop) cancelAsms(n *nbr, match func(*asm) bool) {
	for _, a := range append([]*asm(nil), n.asms...) {
		if match == nil || match(a) {
			l.cancelAsm(n, a)
		}
	}
}

// compactOut drops entries of dead blocks from the front of n.out and
// reclaims the slice.
func (l *loop) compactOut(n *nbr) {
	for n.outHead < len(n.out) && n.out[n.outHead].a.dead {
		n.out[n.outHead] = pend{}
		n.outHead++
	}
	if n.outHead == len(n.out) {
		n.out, n.outHead = n.out[:0], 0
	} else if n.outHead > 256 && n.outHead > len(n.out)/2 {
		k := copy(n.out, n.out[n.outHead:])
		clear(n.out[k:])
		n.out, n.outHead = n.out[:k], 0
	}
}

// data handles one DATA chunk from n.
func (l *loop) data(n *nbr, m *dataMsg) {
	rf := n.rh[m.handle]
	if rf == nil {
		l.counters.Unexpected++
		return
	}
	f := l.files[rf.id]
	if f == nil || !f.receiving() {
		l.counters.Unexpected++
		return
	}
	a := n.findAsm(f, int(m.block))
	c := int(m.chunk)
	if a == nil || c >= a.nch || len(m.data) != chunkSize(a.length, c) {
		l.counters.Unexpected++
		return
	}
	// Everything asked of n before this chunk and not come is lost.
	asked := a.oc[c] > 0
	if asked {
		for n.outHead < len(n.out) {
			e := n.out[n.outHead]
			n.out[n.outHead] = pend{}
			n.outHead++
			if e.a.dead {
				continue
			}
			e.a.oc[e.c]--
			n.inflight--
			if e.a == a && e.c == c {
				break
			}
			if e.a.state[e.c] == chAsked && e.a.oc[e.c] == 0 {
				e.a.state[e.c] = chNeed
				e.a.next = min(e.a.next, e.c)
				l.counters.Lost++
			}
		}
		l.compactOut(n)
	}
	// Progress: reset the silence timer, and take an RTT sample. Only an
	// answer to something asked is progress: a neighbour replaying chunks
	// (or sending ones nobody asked for) must not keep the timer from
	// firing, and the block from going to someone else, for ever.
	if asked {
		if !n.sampleAt.IsZero() {
			l.rttSample(n, l.now.Sub(n.sampleAt))
			n.sampleAt = time.Time{}
		}
		n.lastProgress = l.now
		n.backoff = 0
		n.stalled = false
	}
	if a.state[c] == chGot {
		l.counters.Duplicates++
		return
	}
	copy(a.buf[c*ChunkLen:], m.data)
	a.state[c] = chGot
	a.ngot++
	l.counters.ChunksIn++
	n.rateBytes += int64(len(m.data))
	if a.ngot == a.nch {
		l.blockDone(n, a)
	}
}

func (l *loop) rttSample(n *nbr, r time.Duration) {
	d := r - n.srtt
	if d < 0 {
		d = -d
	}
	n.rttvar += (d - n.rttvar) / 4
	n.srtt += (r - n.srtt) / 8
}

// blockDone verifies and stores a block reassembled from n.
func (l *loop) blockDone(n *nbr, a *asm) {
	f, b := a.f, a.block
	length := a.length
	if f.pause.waiting(l.now) {
		// Its transfer is paused (a full disk): dropped without a write.
		l.releaseAsm(n, a)
		l.compactOut(n)
		return
	}
	err := f.partial.PutBlock(b, a.buf[:a.length])
	l.releaseAsm(n, a)
	l.compactOut(n)
	switch mfz.Classify(err) {
	case mfz.FaultNone:
		l.storeWorked(f)
		l.gotBlock(n, f, b, length)
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
		if f.partial.Has(b) {
			// Written but not yet recorded: held, and recorded by the
			// store's next sync that works.
			l.gotBlock(n, f, b, length)
		}
	}
}

// gotBlock counts block b of f, verified and written, as held.
func (l *loop) gotBlock(n *nbr, f *file, b, length int) {
	if f.have.Has(b) {
		return
	}
	f.have.Set(b)
	f.nhave++
	f.bytesHave += int64(length)
	f.changedAt = l.now
	f.advanceLow()
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
	if f := l.files[rf.id]; f != nil {
		if a := n.findAsm(f, b); a != nil {
			l.cancelAsm(n, a)
			l.strike(n, "announced blocks it does not serve")
		}
	}
}

// timeouts: a neighbour silent too long while chunks are outstanding.
func (l *loop) timeouts() {
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		if l.now.Sub(n.rateAt) >= time.Second {
			inst := float64(n.rateBytes) / l.now.Sub(n.rateAt).Seconds()
			n.rate += (inst - n.rate) / 2
			n.rateBytes, n.rateAt = 0, l.now
		}
		if n.inflight == 0 || l.now.Sub(n.lastProgress) < n.timeout(l.t) {
			continue
		}
		n.timeoutsN++
		l.counters.Timeouts++
		n.backoff++
		n.stalled = true
		n.lastProgress = l.now
		n.sampleAt = time.Time{}
		if n.backoff >= 4 {
			l.strike(n, "no data for its requests")
			if n.avoided(l.now) {
				continue
			}
		}
		// Probe: ask again for the oldest few chunks still outstanding.
		// If they were lost their answer shows the rest were lost too;
		// if n was only slow, at most a few chunks come twice.
		k, end := 0, len(n.out)
		for i := n.outHead; i < end && k < 4; i++ {
			e := n.out[i]
			if e.a.dead || e.a.state[e.c] != chAsked || e.a.oc[e.c] >= maxAsks {
				continue
			}
			rf := n.byFid[e.a.f.id]
			if rf == nil {
				break
			}
			l.askChunks(n, rf, e.a, e.c, 1)
			k++
		}
	}
}
