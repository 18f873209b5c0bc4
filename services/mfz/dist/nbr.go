package dist

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// A live neighbour and its life: it connects (SYNC, everything
// announced), goes away (its blocks and fetches go to the others, its
// conduct is remembered by tile), or restarts (its SYNC voids what it
// announced and asked).

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

	// Receiving: what we asked of it (window.go).
	win     window
	reqLog  requestLog // our numbered requests to it (requests.go)
	noBlock noBlock    // when it last had nothing to fetch (tryAssign)

	reqSeen requestSeen // the newest of its numbered requests we took

	conduct conduct // strikes and avoidance: conduct.go

	tokens tokenBucket // fresh manifest fetches it may start (fetch.go)

	syncAt      time.Time // when we last answered its SYNC
	syncPending bool      // a SYNC came within syncGap of that: answer it when the gap ends

	badBlocks uint64
	notHaves  uint64
}

// newNbr makes the neighbour of tile on link d, its RTT estimate seeded
// from the daemon's hello round trip.
func newNbr(d packet.Dir, tile p2p.TileID, l *loop) *nbr {
	var hello time.Duration
	for _, hn := range l.h.Neighbours() {
		if hn.Dir == d && hn.RTT > 0 {
			hello = hn.RTT
		}
	}
	return &nbr{dir: d, tile: tile, byFid: map[fileID]*rfile{}, bfSent: map[fileID]time.Time{},
		win: newWindow(newRTT(hello), l.now), conduct: newConduct(l.t), tokens: newTokenBucket(l.t),
		reqLog: newRequestLog(l.rng)}
}

// resetRemote forgets everything n announced (it restarted).
func (n *nbr) resetRemote() {
	n.rh = [maxHandle + 1]*rfile{}
	clear(n.byFid)
}

// avoided reports whether nothing may be asked of n at now (conduct).
func (n *nbr) avoided(now time.Time) bool { return n.conduct.avoided(now) }

// connect makes tile on link d a live neighbour; a tile that was there
// before comes back with the conduct it left with.
func (l *loop) connect(d packet.Dir, tile p2p.TileID) {
	if !d.IsLink() {
		return
	}
	if n := l.nbrs[d]; n != nil {
		l.disconnect(d)
	}
	n := newNbr(d, tile, l)
	if c, ok := l.remembered.recall(tile, l.now, l.t); ok {
		n.conduct = c
	}
	l.nbrs[d] = n
	// SYNC first: the other side forgets our old handles, then learns
	// them all again, and answers with its own.
	l.sendCtrl(n, appendSync(l.buf[:0], 0))
	l.announceTo(n)
}

// disconnect ends the neighbour on link d: what it was asked goes to the
// others, and its conduct is remembered by tile.
func (l *loop) disconnect(d packet.Dir) {
	n := l.nbrs[d]
	if n == nil {
		return
	}
	l.cancelAsms(n, nil)
	l.remembered.remember(n.tile, n.conduct, l.now, l.t)
	l.nbrs[d] = nil
	for _, f := range l.files.byID {
		if f.seed != nil {
			f.seed.forget(d) // what it was shown goes to the others
		}
	}
	l.dropFetchesFrom(d) // asked again of whoever else has it
	l.reconsiderAll()
}

// sync: the neighbour's service (re)started or just saw us connect. Its
// handles are new and whatever it asked of us before is void: that is
// forgotten at once, before the announcements that follow the SYNC. The
// answer (everything announced again) goes at most once per syncGap: one
// 4-byte SYNC must not make us send every announcement each time. A SYNC
// within the gap is not lost: one answer goes when the gap ends.
func (l *loop) sync(n *nbr) {
	l.cancelAsms(n, nil)
	n.resetRemote()
	n.reqSeen = requestSeen{} // it numbers its requests afresh
	n.reqLog.forget()         // and dropped what we asked: repeat none of it
	n.jobs = n.jobs[:0]
	n.jobChunks = 0
	l.dropFetchesFrom(n.dir)
	if !n.syncAt.IsZero() && l.now.Sub(n.syncAt) < l.t.syncGap {
		n.syncPending = true
		l.counters.SyncsDeferred++
		return
	}
	l.answerSync(n)
}

// answerSync announces everything to n again, after its SYNC.
func (l *loop) answerSync(n *nbr) {
	n.syncAt, n.syncPending = l.now, false
	l.announceTo(n)
}
