package dist

import (
	"errors"

	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// Serving the neighbours: control messages (ours: announcements, requests,
// NOTHAVEs) go ahead of bulk data, and the blocks and manifests they ask
// for go out in the order asked, a few DATA packets in the daemon's queue
// at a time, each block read and verified once (blockCache).

// job is work a neighbour asked of us, served in the order asked.
type job struct {
	f        *file
	manifest bool // send the segments of the signed manifest in want
	block    int
	next     int // next chunk; for a manifest, the lowest segment that may be in want
	end      int // chunks end (exclusive)
	// want is a manifest job's segments still to send; tail is the
	// highest one sent, sent once more when want empties: a lost last
	// segment is shown by no later one, and costs the asker a silence
	// (-1: none, or sent twice).
	want mfz.Bitmap
	tail int
	// mark: answer a mark after chunk next with an empty DATA.
	mark bool
	// short: send chunks 0..15 as SHORT DATA (the asker flagged it).
	short bool
}

// manifestJob is a job sending n's asked segments of f's signed manifest.
func manifestJob(f *file) job {
	return job{f: f, manifest: true, want: mfz.NewBitmap(segCount(len(f.signed))), tail: -1}
}

// ask adds segments [first, first+count) to a manifest job's want (count
// 0: to the end).
func (j *job) ask(first, count int) {
	segs := segCount(len(j.f.signed))
	end := segs
	if count > 0 {
		end = min(first+count, segs)
	}
	for s := first; s < end; s++ {
		j.want.Set(s)
	}
	j.next = min(j.next, first)
}

// nextSeg is the manifest segment to send next, or -1 when all are sent.
func (j *job) nextSeg() int {
	segs := segCount(len(j.f.signed))
	for ; j.next < segs; j.next++ {
		if j.want.Has(j.next) {
			return j.next
		}
	}
	return j.tail
}

// sentSeg records segment s sent.
func (j *job) sentSeg(s int) {
	if j.want.Has(s) {
		j.want.Clear(s)
		j.tail = max(j.tail, s)
		return
	}
	j.tail = -1 // the tail's second copy
}

// blockCache holds the block being streamed to one neighbour, read and
// verified once rather than once per chunk.
type blockCache struct {
	f     *file
	block int
	buf   []byte
	n     int
}

// sendCtrl queues a control message for n; control messages go out before
// any DATA, so requests and announcements never wait behind our own bulk
// data in our queue.
func (l *loop) sendCtrl(n *nbr, b []byte) {
	if n.ctrlHead == len(n.ctrl) {
		// Nothing waiting: try at once.
		err := l.h.Send(n.dir, b)
		switch {
		case err == nil:
			l.counters.PacketsOut++
			return
		case errors.Is(err, p2p.ErrNotLive):
			return
		}
	}
	if len(n.ctrl)-n.ctrlHead >= l.t.ctrlQueue {
		l.counters.CtrlDropped++
		return
	}
	if n.ctrlHead >= 64 && n.ctrlHead >= len(n.ctrl)/2 {
		// A queue that never quite drains (a slow link) is never reset
		// by pump: reclaim the sent prefix, or the slice grows for ever.
		k := copy(n.ctrl, n.ctrl[n.ctrlHead:])
		clear(n.ctrl[k:])
		n.ctrl, n.ctrlHead = n.ctrl[:k], 0
	}
	n.ctrl = append(n.ctrl, append([]byte(nil), b...))
}

// pump moves what waits for n into the daemon's send queue: control
// messages while there is room, DATA while fewer than dataDepth of our
// packets wait there. The device keeps the link busy from its own 16 KB
// queue; keeping ours shallow keeps control messages from waiting long.
func (l *loop) pump(n *nbr) {
	for n.ctrlHead < len(n.ctrl) {
		err := l.h.Send(n.dir, n.ctrl[n.ctrlHead])
		if errors.Is(err, p2p.ErrQueueFull) {
			return
		}
		if err == nil {
			l.counters.PacketsOut++
		}
		n.ctrl[n.ctrlHead] = nil
		n.ctrlHead++
	}
	n.ctrl, n.ctrlHead = n.ctrl[:0], 0
	if len(n.jobs) == 0 {
		return
	}
	room := l.h.Room(n.dir)
	l.roomMax = max(l.roomMax, room)
	for room > l.roomMax-l.t.dataDepth && len(n.jobs) > 0 {
		j := &n.jobs[0]
		var b []byte
		next := j.next
		if j.manifest {
			seg := j.nextSeg()
			if seg < 0 || l.files.byID[j.f.id] != j.f {
				// Sent, or a file we dropped meanwhile (its handle may
				// soon name another file).
				l.popJob(n)
				continue
			}
			off := seg * manifestSeg
			b = appendManifest(l.buf[:0], j.f.handle, off, len(j.f.signed), j.f.signed[off:min(off+manifestSeg, len(j.f.signed))])
			next = seg
		} else if j.mark {
			b = appendData(l.buf[:0], j.f.handle, j.block, j.next, nil)
		} else {
			if j.next >= j.end {
				l.popJob(n)
				continue
			}
			if l.files.byID[j.f.id] != j.f {
				l.sendNotHave(n, j.f.handle, blockGone)
				l.dropJobsOf(n, j.f)
				continue
			}
			if !l.cached(n, j.f, j.block) {
				l.sendNotHave(n, j.f.handle, j.block)
				l.popJob(n)
				continue
			}
			off := j.next * ChunkLen
			chunk := n.cache.buf[off:min(off+ChunkLen, n.cache.n)]
			b = appendChunk(l.buf[:0], j.f.handle, j.block, j.next, chunk, j.short)
			if l.s.corrupt {
				b = b[:len(b)-crcLen]
				b[len(b)-1] ^= 0x40 // the chunk's last byte
				b = seal(b)
			}
			next = j.next + 1
		}
		err := l.h.Send(n.dir, b)
		switch {
		case err == nil:
			l.counters.PacketsOut++
			switch {
			case j.mark:
				l.popJob(n)
			case j.manifest:
				j.sentSeg(next)
			default:
				n.jobChunks--
				l.counters.ChunksOut++
				j.next = next
			}
			room--
		case errors.Is(err, p2p.ErrQueueFull):
			return // the same packet goes next time
		default:
			n.jobs, n.jobChunks = n.jobs[:0], 0
			return
		}
	}
}

// sendNotHave tells n we do not serve block b of our handle h (blockGone:
// the file at all).
func (l *loop) sendNotHave(n *nbr, h uint8, b int) {
	l.sendCtrl(n, appendNotHave(l.buf[:0], h, b))
	l.counters.NotHaveOut++
}

// dropJobsOf drops every job for f, a file we no longer hold.
func (l *loop) dropJobsOf(n *nbr, f *file) {
	k := 0
	for _, j := range n.jobs {
		if j.f == f {
			if !j.manifest {
				n.jobChunks -= j.end - j.next
			}
			continue
		}
		n.jobs[k] = j
		k++
	}
	clear(n.jobs[k:])
	n.jobs = n.jobs[:k]
	if n.cache.f == f {
		n.cache.f, n.cache.n = nil, 0
	}
}

// popJob drops n's first job, done.
func (l *loop) popJob(n *nbr) {
	j := n.jobs[0]
	if !j.manifest {
		n.jobChunks -= j.end - j.next
	}
	copy(n.jobs, n.jobs[1:])
	n.jobs = n.jobs[:len(n.jobs)-1]
}

// cached makes sure n's cache holds block b of f, read and verified.
func (l *loop) cached(n *nbr, f *file, b int) bool {
	c := &n.cache
	if c.f == f && c.block == b && c.n > 0 {
		return true
	}
	c.f, c.n = nil, 0
	if !f.holds(b) {
		return false
	}
	if cap(c.buf) < f.m.BlockSize {
		c.buf = make([]byte, f.m.BlockSize)
	}
	c.buf = c.buf[:cap(c.buf)]
	if k := l.recent.get(f, b, c.buf); k > 0 {
		l.counters.ReadsSaved++
		c.f, c.block, c.n = f, b, k
		return true
	}
	l.counters.BlockReads++
	var k int
	var err error
	if f.receiving() {
		k, err = f.partial.ReadBlock(b, c.buf)
	}
	if !f.receiving() || errors.Is(err, mfz.ErrDone) {
		// Complete: read it from live/, if live/ holds this very file.
		if e, ok := l.st.Lookup(f.name); ok && fidOf(e.Hash) == f.id {
			k, err = l.st.ReadBlock(f.name, b, c.buf)
		} else {
			err = mfz.ErrNotFound
		}
	}
	if err != nil {
		l.counters.ReadErrors++
		return false
	}
	c.f, c.block, c.n = f, b, k
	return true
}

// request: n asks for chunks of a block.
func (l *loop) request(n *nbr, m *requestMsg) {
	l.counters.RequestsIn++
	f := l.files.byHandle(m.handle)
	b := int(m.block)
	if f == nil || f.phase == phaseTombstone {
		l.sendNotHave(n, m.handle, blockGone)
		return
	}
	if b >= f.blocks || int(m.chunk)+m.span() > chunkCount(f.m.BlockLen(b)) {
		l.counters.Malformed++
		return
	}
	if m.count == 0 {
		// A mark: answered in its turn, held or not (what was asked
		// before it got its NOTHAVE).
		if len(n.jobs) >= l.t.serveQueue {
			l.counters.RequestsDropped++
			return
		}
		n.jobs = append(n.jobs, job{f: f, block: b, next: int(m.chunk), end: int(m.chunk), mark: true})
		return
	}
	if !f.holds(b) {
		l.sendNotHave(n, m.handle, b)
		return
	}
	if len(n.jobs) >= l.t.serveQueue || n.jobChunks+int(m.count) > l.t.serveChunks {
		// A receiver keeping to its window never gets here.
		l.counters.RequestsDropped++
		return
	}
	n.jobs = append(n.jobs, job{f: f, block: b, next: int(m.chunk), end: int(m.chunk) + int(m.count), short: m.short})
	n.jobChunks += int(m.count)
	if f.seed != nil {
		l.seedAsked(f, b)
	}
}

// getManifest: n asks for segments of a signed manifest. An ask for a
// manifest already being sent to n adds to what is still to go, so
// re-asks never send a segment twice over.
func (l *loop) getManifest(n *nbr, m *getManifestMsg) {
	f := l.files.byHandle(m.handle)
	if f == nil || int(m.offset) >= len(f.signed) {
		return
	}
	first := int(m.offset) / manifestSeg
	for i := range n.jobs {
		if n.jobs[i].manifest && n.jobs[i].f == f {
			n.jobs[i].ask(first, int(m.count))
			return
		}
	}
	if len(n.jobs) >= l.t.serveQueue {
		l.counters.RequestsDropped++
		return
	}
	j := manifestJob(f)
	j.ask(first, int(m.count))
	n.jobs = append(n.jobs, j)
}
