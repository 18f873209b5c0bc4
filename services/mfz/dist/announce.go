package dist

import (
	"slices"
	"sort"
	"time"

	"github.com/t2tiles/itcd/services/mfz"
)

// What this tile tells its neighbours: the dominant file of each name
// (ANNOUNCE) at once when it changes, to a neighbour that connects or
// SYNCs, and every refreshMin-refreshMax otherwise; a partial file's
// bitmap (BITFIELD) with it and, while it grows, again at most every
// bitfieldGap; and the blocks verified since the last flush (HAVE).

// announceTo sends n everything we hold: the dominant file of each name.
func (l *loop) announceTo(n *nbr) {
	names := make([]string, 0, len(l.files.byName))
	for name := range l.files.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l.announce(n, l.files.byName[name])
	}
	n.nextRefresh = l.now.Add(l.refreshDelay())
}

// announceHeld announces f, now held whole, to every neighbour, and again
// a few times soon after in case the first was lost.
func (l *loop) announceHeld(f *file) {
	if l.files.byName[f.name] == f {
		l.announceAll(f)
		l.reannounceSoon(f)
	}
}

// reannounceSoon schedules f, just announced, to be announced again
// 25 ms, 75 ms, 175 ms, 375 ms, 775 ms, 1.575 s and 3.175 s later: a
// lost ANNOUNCE of a new transfer holds up every tile behind this one
// until the repeat (at 20% loss a repeat a second later cost more than
// the push itself on 4x4, repeats on the 250 ms slow tick still cost the
// tiles two hops out a quarter of a second each, and a first repeat at
// 100 ms 3% of the 4x4 push), and seven repeats of ~50 bytes cost
// nothing. The loop's fast tick runs while repeats are due (busy).
func (l *loop) reannounceSoon(f *file) {
	f.reannounceGap = reannounceFirst
	f.reannounceAt, f.reannounceLeft = l.now.Add(f.reannounceGap), reannounces
	// The last repeat is due reannounceFirst x (2^reannounces - 1) from
	// now; a second later it has surely gone, whatever the tick.
	last := l.now.Add(reannounceFirst*(1<<reannounces-1) + time.Second)
	if last.After(l.reannounceUntil) {
		l.reannounceUntil = last
	}
}

// reannounceFirst is the first gap of reannounceSoon; it doubles.
const (
	reannounceFirst = 25 * time.Millisecond
	reannounces     = 7
)

// reannounce sends the repeats reannounceSoon scheduled that are due, to
// every neighbour that has not announced the file whole itself (one
// that holds it needs nothing from us).
func (l *loop) reannounce() {
	if l.now.After(l.reannounceUntil) {
		return
	}
	for _, f := range l.files.byName {
		if f.reannounceLeft == 0 || l.now.Before(f.reannounceAt) {
			continue
		}
		f.reannounceLeft--
		f.reannounceGap *= 2
		f.reannounceAt = l.now.Add(f.reannounceGap)
		for _, n := range l.nbrs {
			if n == nil {
				continue
			}
			if rf := n.byFid[f.id]; rf != nil && rf.complete {
				continue
			}
			l.announce(n, f)
		}
	}
}

// announceAll announces f to every neighbour.
func (l *loop) announceAll(f *file) {
	for _, n := range l.nbrs {
		if n != nil {
			l.announce(n, f)
		}
	}
}

// announce tells n of f, with its bitmap if it is partial. A file with no
// handle (more than 255 files) goes unannounced.
func (l *loop) announce(n *nbr, f *file) {
	if f.handle == noHandle {
		return
	}
	if f.seed != nil && f.phase == phaseHeld {
		l.announceSeeding(n, f)
		return
	}
	flags := byte(flagsServed)
	if !f.receiving() {
		flags |= flagComplete
	}
	if f.phase == phaseTombstone {
		flags |= flagTombstone
	}
	l.sendCtrl(n, appendAnnounce(l.buf[:0], f.handle, flags, f.version, f.blocks, f.nhave, f.id, f.name))
	l.counters.AnnouncesOut++
	if f.receiving() {
		l.sendBitfield(n, f)
	}
}

// sendBitfield sends n the bitmap of f, a partial file, in BITFIELDs of
// the runs that hold any block.
func (l *loop) sendBitfield(n *nbr, f *file) {
	n.bfSent[f.id] = l.now
	if f.nhave == 0 {
		return
	}
	l.sendBits(n, f, f.have)
}

// sendBits sends n the blocks of have, a bitmap of f, in BITFIELDs of the
// runs that hold any block.
func (l *loop) sendBits(n *nbr, f *file, have mfz.Bitmap) {
	for off := 0; off < len(have); off += bitfieldBytes {
		end := min(off+bitfieldBytes, len(have))
		chunk := have[off:end]
		if chunk.Empty() {
			continue
		}
		l.sendCtrl(n, appendBitfield(l.buf[:0], f.handle, off*8, chunk))
	}
}

// refreshDelay is the time to the next refresh of a neighbour: jittered,
// so the tiles of a grid do not refresh in step.
func (l *loop) refreshDelay() time.Duration {
	span := l.t.refreshMax - l.t.refreshMin
	if span <= 0 {
		return l.t.refreshMin
	}
	return l.t.refreshMin + time.Duration(l.rng.Int63n(int64(span)))
}

// flushHaves tells every neighbour which blocks verified since the last
// flush, one HAVE per file. Each HAVE also repeats the blocks of the last
// few (haveRepeat): with blocks held in no order (rarest first) the low
// mark repairs little, and a lost HAVE would hide its block until the
// next BITFIELD. A neighbour is told only of the blocks of that list it
// does not hold, as far as its own announcements say (haveFor), and
// nothing if it holds them all (the one they came from, one complete):
// HAVEs were 29% of the packets of a 6x6 push, and this sends 18% fewer.
func (l *loop) flushHaves() {
	for f, bs := range l.haves {
		delete(l.haves, f)
		if f.handle == noHandle || l.files.byName[f.name] != f || !f.receiving() {
			continue
		}
		// The repeats are read before recentHaves shifts in place.
		fresh := len(bs)
		for _, b := range f.recentHaves {
			if len(bs) < maxHaves && !slices.Contains(bs, b) {
				bs = append(bs, b)
			}
		}
		f.recentHaves = append(f.recentHaves, bs[:fresh]...)
		if k := len(f.recentHaves) - haveRepeat; k > 0 {
			f.recentHaves = append(f.recentHaves[:0], f.recentHaves[k:]...)
		}
		for _, n := range l.nbrs {
			if n == nil {
				continue
			}
			l.haveList = haveFor(n.byFid[f.id], bs, l.haveList[:0])
			for list := l.haveList; len(list) > 0; {
				k := min(len(list), maxHaves)
				l.sendCtrl(n, appendHave(l.buf[:0], f.handle, f.low, list[:k]))
				list = list[k:]
			}
		}
	}
}

// haveFor returns, appended to dst, the blocks of bs that a neighbour
// whose announcement of the file is rf (nil: none) does not hold.
func haveFor(rf *rfile, bs, dst []int) []int {
	if rf == nil {
		return append(dst, bs...)
	}
	for _, b := range bs {
		if !rf.holds(b) {
			dst = append(dst, b)
		}
	}
	return dst
}

// haveRepeat is how many of the blocks last announced in HAVEs each HAVE
// repeats: 2 bytes each; a lost HAVE is repaired by the next ones.
const haveRepeat = 16

// refreshAnnouncements answers a SYNC deferred to the end of its gap,
// refreshes what each neighbour has not heard for a while, and sends a
// growing partial's bitmap again in case a HAVE was lost.
func (l *loop) refreshAnnouncements() {
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		if n.syncPending && l.now.Sub(n.syncAt) >= l.t.syncGap {
			l.answerSync(n)
		} else if l.now.After(n.nextRefresh) {
			l.announceTo(n)
		}
		// A HAVE may have been lost: while a partial grows, its bitmap
		// goes out again at most every bitfieldGap.
		for _, f := range l.files.byName {
			if f.receiving() && f.changedAt.After(n.bfSent[f.id]) && l.now.Sub(n.bfSent[f.id]) >= l.t.bitfieldGap {
				l.sendBitfield(n, f)
			}
		}
		for id := range n.bfSent {
			if l.files.byID[id] == nil {
				delete(n.bfSent, id)
			}
		}
	}
}
