package dist

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// Manifest fetching, the first step of a transfer: a neighbour announced
// a file that dominates what this tile holds of its name, so its signed
// manifest is fetched from that neighbour (GET_MANIFEST, MANIFEST) and
// checked by the store (manifests.go) before any block is asked for.
//
// A fetch is bounded three ways, so a neighbour cannot hold one for ever
// or start them without end: it is abandoned (and the neighbour struck)
// past a deadline of t.mfFloor plus its size at t.mfRate; a silence is
// asked again, waiting twice as long each time, and five in a row are a
// strike; and a neighbour starts fresh fetches only with its tokens
// (tokenBucket). The types here are pure; the loop sends the asks and
// applies the outcomes.

// mfetch is a signed manifest being fetched from one neighbour.
type mfetch struct {
	id       fileID
	name     string
	version  int64
	from     packet.Dir
	buf      []byte     // the whole manifest, total bytes, filled by segment
	held     mfz.Bitmap // per segment slot (manifestSeg bytes from offset 0): arrived
	total    int
	got      int        // every byte below got arrived
	reasked  mfz.Bitmap // per slot: asked again since the last silence (a gap seen)
	asks     []segRange // the asks segment or silence wants sent
	counted  bool       // the neighbour serves counted asks (flagCounted)
	askedAt  time.Time  // last ask or progress
	tries    int        // silences in a row
	started  time.Time  // the first ask
	deadline time.Time  // abandoned (and the neighbour struck) if not complete by then
}

// newFetch starts fetching the manifest of a file rf that the neighbour
// on from announced, at now. Until its size is known it may take
// t.mfFloor.
func newFetch(rf *rfile, from packet.Dir, now time.Time, t *tuning) *mfetch {
	return &mfetch{id: rf.id, name: rf.name, version: rf.version, from: from, counted: rf.counted,
		started: now, deadline: now.Add(t.mfFloor)}
}

// segRange is one GET_MANIFEST: segments [first, first+count) of the
// signed manifest; count 0 asks from first to the end (the short form).
type segRange struct{ first, count int }

// maxGapAsks bounds the asks one segment or silence sends; what is left
// out is asked by a later one.
const maxGapAsks = 8

// asking records an ask at now and returns what to ask: the first ask,
// or after a silence. Until its size is known, or after two silences in
// a row, or of a sender that does not serve counted asks (flagCounted:
// tiles before them drop them as malformed), a fetch asks from the first
// missing segment to the end; otherwise for exactly the missing ones.
func (mf *mfetch) asking(now time.Time) []segRange {
	mf.askedAt = now
	mf.asks = mf.asks[:0]
	clear(mf.reasked)
	if mf.buf == nil || mf.tries >= 2 || !mf.counted {
		return append(mf.asks, segRange{first: mf.got / manifestSeg})
	}
	mf.missingBelow(segCount(mf.total))
	return mf.asks
}

// missingBelow adds to mf.asks the runs of missing segments below slot
// not asked again since the last silence, and marks them asked; past
// maxGapAsks runs, or to a sender that does not serve counted asks, the
// last ask goes to the end.
func (mf *mfetch) missingBelow(slot int) {
	segs := segCount(mf.total)
	slot = min(slot, segs)
	for s := mf.got / manifestSeg; s < slot; s++ {
		if mf.held.Has(s) || mf.reasked.Has(s) {
			continue
		}
		if len(mf.asks) == maxGapAsks-1 || !mf.counted {
			mf.asks = append(mf.asks, segRange{first: s})
			for ; s < segs; s++ {
				mf.reasked.Set(s)
			}
			return
		}
		r := segRange{first: s}
		for ; s < slot && !mf.held.Has(s) && !mf.reasked.Has(s); s++ {
			mf.reasked.Set(s)
			r.count++
		}
		mf.asks = append(mf.asks, r)
	}
}

// segResult is what one MANIFEST segment did to a fetch.
type segResult int

const (
	segIgnored   segResult = iota // nothing new (a duplicate), or not a segment of our asks
	segMalformed                  // its total is not the first segment's
	segGap                        // the stream passed a segment that did not come: ask again from it
	segMore                       // taken; more to come
	segComplete                   // taken; buf holds the whole signed manifest
)

// segment takes one MANIFEST segment arrived at now. The first one says
// the manifest's size: from then on the fetch may take t.mfFloor plus
// its size at t.mfRate from its start, and no longer.
//
// Segments are kept out of order, and a segment past a missing one shows
// the stream passed it (a sender sends what is asked in order): segGap,
// and mf.asks holds the asks for exactly the segments it passed, each
// asked again once until the next silence (a segment lost twice waits for
// the silence timer). Asks start at a slot boundary, so every segment
// sits on a slot.
func (mf *mfetch) segment(m *manifestMsg, now time.Time, t *tuning) segResult {
	if mf.buf == nil {
		mf.total = int(m.total)
		// total is at most mfz.MaxSignedManifestLen (parseManifest).
		mf.buf = make([]byte, mf.total)
		mf.held = mfz.NewBitmap(segCount(mf.total))
		mf.reasked = mfz.NewBitmap(segCount(mf.total))
		mf.deadline = mf.started.Add(t.mfFloor + time.Duration(mf.total)*time.Second/time.Duration(t.mfRate))
	}
	if int(m.total) != mf.total {
		return segMalformed
	}
	off := int(m.offset)
	if off%manifestSeg != 0 || off >= mf.total || len(m.data) != min(manifestSeg, mf.total-off) {
		return segIgnored // not on a slot: no ask of ours streams it
	}
	res := segIgnored
	slot := off / manifestSeg
	if !mf.held.Has(slot) {
		copy(mf.buf[off:], m.data)
		mf.held.Set(slot)
		mf.askedAt = now
		mf.tries = 0
		res = segMore
		for mf.got < mf.total && mf.held.Has(mf.got/manifestSeg) {
			mf.got = min(mf.got+manifestSeg, mf.total)
		}
	}
	if mf.got >= mf.total {
		return segComplete
	}
	if off > mf.got {
		mf.asks = mf.asks[:0]
		if mf.missingBelow(slot); len(mf.asks) > 0 {
			return segGap
		}
	}
	return res
}

// retarget points the fetch at a newer file of its name, id at version,
// that its neighbour announced meanwhile. It keeps its start, deadline and
// silences in a row, and the new file is asked for when the silence timer
// fires next, not at once: see fetchTable.retarget.
func (mf *mfetch) retarget(id fileID, version int64) {
	mf.id, mf.version = id, version
	mf.buf, mf.held, mf.reasked, mf.total, mf.got = nil, nil, nil, 0, 0
}

// fetchDue is what a fetch's timers say at one moment.
type fetchDue int

const (
	dueNothing   fetchDue = iota
	dueTooSlow            // past its deadline: abandon it, strike the neighbour
	dueAskAgain           // silent past its timeout: ask again
	dueNotServed          // silent five times in a row: abandon it, strike the neighbour
)

// due checks the fetch's timers at now. rto is the neighbour's request
// timeout; a silence waits rto doubled per silence in a row (at most 16
// times, and t.maxRTO). A silence counts when due says so.
func (mf *mfetch) due(now time.Time, rto time.Duration, t *tuning) fetchDue {
	if !now.Before(mf.deadline) {
		return dueTooSlow
	}
	if now.Sub(mf.askedAt) < min(rto<<min(mf.tries, 4), t.maxRTO) {
		return dueNothing
	}
	mf.tries++
	if mf.tries > 4 {
		return dueNotServed
	}
	return dueAskAgain
}

// fetchTable is the manifest fetches running, by file id. Only the loop
// goroutine touches it.
type fetchTable map[fileID]*mfetch

// retarget moves mf to id at version (mfetch.retarget). A newer
// announcement used to replace the fetch with a fresh one and ask at
// once, so a neighbour announcing ever-newer versions it never served got
// a GET_MANIFEST for each (16k) and no fetch of it ever timed out. Now it
// costs no more GET_MANIFESTs than a silent neighbour, and is struck the
// same way (TestAnnouncementFloodBounded). An honest neighbour that moved
// on serves the newer manifest when asked, a timeout later at most.
func (ft fetchTable) retarget(mf *mfetch, id fileID, version int64) {
	delete(ft, mf.id)
	mf.retarget(id, version)
	ft[mf.id] = mf
}

// dropFrom forgets the fetches asked of the neighbour on d.
func (ft fetchTable) dropFrom(d packet.Dir) {
	for id, mf := range ft {
		if mf.from == d {
			delete(ft, id)
		}
	}
}

// tokenBucket bounds the fresh manifest fetches one neighbour may start:
// it holds at most t.mfBurst tokens, and one comes back every t.mfRefill.
// The loop gives one back (give) for each manifest the neighbour serves
// that is not refused for what it is, so an honest neighbour is never
// held back, while one whose fetches keep ending without a manifest
// (voided by its SYNC, answered "gone") gets a few a second at most.
type tokenBucket struct {
	n        int       // tokens it holds
	refillAt time.Time // when the next comes back, while it holds fewer than t.mfBurst
}

func newTokenBucket(t *tuning) tokenBucket { return tokenBucket{n: t.mfBurst} }

// take spends a token at now and reports whether there was one.
func (b *tokenBucket) take(now time.Time, t *tuning) bool {
	for b.n < t.mfBurst && !now.Before(b.refillAt) {
		b.n++
		b.refillAt = b.refillAt.Add(t.mfRefill)
	}
	if b.n == 0 {
		return false
	}
	if b.n == t.mfBurst {
		b.refillAt = now.Add(t.mfRefill)
	}
	b.n--
	return true
}

// give returns a token: a fetch ended by no fault of the neighbour.
func (b *tokenBucket) give(t *tuning) { b.n = min(b.n+1, t.mfBurst) }
