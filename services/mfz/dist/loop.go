package dist

import (
	"context"
	"errors"
	"log/slog"
	"math/rand"
	"sort"
	"sync"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// rfile is what a neighbour announced about one of its files.
type rfile struct {
	handle   uint8
	id       fileID
	name     string
	version  int64
	complete bool
	tomb     bool
	blocks   int
	have     mfz.Bitmap // its blocks; nil when complete
}

func (r *rfile) holds(b int) bool {
	if b < 0 || b >= r.blocks || r.tomb {
		return false
	}
	return r.complete || r.have.Has(b)
}

func (r *rfile) held() int {
	if r.complete {
		return r.blocks
	}
	return r.have.Count(r.blocks)
}

// loop is the protocol state; only Serve's goroutine touches it.
type loop struct {
	s   *Service
	h   p2p.Host
	st  *mfz.Store
	log *slog.Logger
	t   *tuning
	wg  *sync.WaitGroup
	ctx context.Context
	now time.Time
	rng *rand.Rand

	files      fileTable
	nbrs       [8]*nbr
	fetches    fetchTable
	refused    refusals
	remembered conductBook // the conduct of disconnected tiles
	done       chan completion
	haves      map[*file][]int        // blocks verified since the last HAVE flush
	begins     pause                  // the disk failed creating a transfer: no new one before begins.until
	starts     map[fileID]*startPause // the store could not create the transfer of this file (pause.go)

	roomMax  int
	rr       int
	counters Counters
	buf      [maxMsg]byte
	lastSnap time.Time
}

func newLoop(s *Service, h p2p.Host, wg *sync.WaitGroup) *loop {
	return &loop{
		s: s, h: h, st: s.store, log: h.Logger(), t: &s.t, wg: wg,
		rng:        rand.New(rand.NewSource(time.Now().UnixNano())),
		files:      newFileTable(),
		fetches:    fetchTable{},
		refused:    refusals{},
		remembered: conductBook{},
		done:       make(chan completion, 16),
		haves:      map[*file][]int{},
		starts:     map[fileID]*startPause{},
	}
}

func (l *loop) run(ctx context.Context, in p2p.Inbox, events <-chan mfz.Event) error {
	l.ctx = ctx
	l.now = time.Now()
	l.resync()
	for _, n := range l.h.Neighbours() {
		l.connect(n.Dir, n.Tile)
	}
	// Tick fast only while something is in flight: everything else
	// arrives as an event, and 200 wakeups a second would be most of an
	// idle tile's CPU.
	tick := time.NewTicker(l.t.tick)
	defer tick.Stop()
	fast := true
	var lastResync, lastSlow time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-in.Packets:
			l.now = time.Now()
			l.receive(&m)
			// Take what else is waiting before pumping, so replies batch.
			for i := 0; i < 64; i++ {
				select {
				case m := <-in.Packets:
					l.receive(&m)
					continue
				default:
				}
				break
			}
		case ev := <-in.Events:
			l.now = time.Now()
			switch ev.Kind {
			case packet.EventConnect:
				l.connect(ev.Dir, ev.Tile)
			case packet.EventDisconnect:
				l.disconnect(ev.Dir)
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			l.now = time.Now()
			if ev.Kind == mfz.EventTrust {
				clear(l.refused) // a newly trusted key may make a refused file good
			}
			l.resync()
		case c := <-l.done:
			l.now = time.Now()
			l.completed(c)
		case <-l.s.wake:
			l.now = time.Now()
			l.resync()
		case <-l.h.Drained():
			l.now = time.Now()
		case <-tick.C:
			l.now = time.Now()
			l.timeouts()
			if l.now.Sub(lastSlow) >= 250*time.Millisecond {
				lastSlow = l.now
				l.slowTick()
			}
			if l.now.Sub(lastResync) >= l.t.resyncEvery {
				lastResync = l.now
				l.resync()
			}
		}
		l.flushHaves()
		for _, n := range l.nbrs {
			if n != nil {
				l.fill(n)
				l.pump(n)
			}
		}
		if l.now.Sub(l.lastSnap) >= l.t.snapEvery {
			l.snapshot()
		}
		if busy := l.busy(); busy != fast {
			fast = busy
			if fast {
				tick.Reset(l.t.tick)
			} else {
				tick.Reset(l.t.idleTick)
			}
		}
	}
}

// busy reports whether anything is in flight that the fast tick serves:
// retries, pacing of queued sends, HAVEs to flush.
func (l *loop) busy() bool {
	if len(l.fetches) > 0 || len(l.haves) > 0 {
		return true
	}
	for _, n := range l.nbrs {
		if n != nil && (len(n.ctrl) > n.ctrlHead || len(n.jobs) > 0 || n.win.busy()) {
			return true
		}
	}
	return false
}

// receive handles one packet from a neighbour.
func (l *loop) receive(pm *p2p.Message) { l.handle(pm.From, pm.Tile, pm.Payload()) }

// handle handles the payload of one packet that tile sent on link from.
func (l *loop) handle(from packet.Dir, tile p2p.TileID, payload []byte) {
	if !from.IsLink() {
		l.counters.NotLive++
		return
	}
	n := l.nbrs[from]
	if n != nil && n.tile != tile {
		// The last packets of a tile another one replaced on this link,
		// read after the new tile's connect: not the new tile's handles
		// or requests.
		n = nil
	}
	m, err := parseMessage(payload)
	switch {
	case errors.Is(err, errCRC):
		l.counters.CRCErrors++
		return
	case errors.Is(err, errUnknown):
		l.counters.Unknown++
		return
	case err != nil:
		l.counters.Malformed++
		return
	}
	if n == nil {
		// Not live here (yet): its SYNC and announcements come again
		// when we send ours on connect.
		l.counters.NotLive++
		return
	}
	switch m.typ {
	case msgSync:
		l.sync(n)
	case msgAnnounce:
		l.announced(n, &m.announce)
	case msgGetManifest:
		l.getManifest(n, &m.getManifest)
	case msgManifest:
		l.manifestSeg(n, &m.manifest)
	case msgBitfield:
		l.bitfield(n, &m.bitfield)
	case msgHave:
		l.have(n, &m.have)
	case msgRequest:
		l.request(n, &m.request)
	case msgData:
		l.data(n, &m.data)
	case msgNotHave:
		l.notHave(n, &m.notHave)
	}
}

// --- neighbours ---

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

func (l *loop) disconnect(d packet.Dir) {
	n := l.nbrs[d]
	if n == nil {
		return
	}
	l.cancelAsms(n, nil)
	l.remembered.remember(n.tile, n.conduct, l.now, l.t)
	l.nbrs[d] = nil
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

func (l *loop) answerSync(n *nbr) {
	n.syncAt, n.syncPending = l.now, false
	l.announceTo(n)
}

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
		f.reannounceAt, f.reannounceLeft = l.now.Add(time.Second), 2
	}
}

func (l *loop) announceAll(f *file) {
	for _, n := range l.nbrs {
		if n != nil {
			l.announce(n, f)
		}
	}
}

func (l *loop) announce(n *nbr, f *file) {
	if f.handle == noHandle {
		return
	}
	var flags byte
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

func (l *loop) sendBitfield(n *nbr, f *file) {
	n.bfSent[f.id] = l.now
	if f.nhave == 0 {
		return
	}
	for off := 0; off < len(f.have); off += bitfieldBytes {
		end := min(off+bitfieldBytes, len(f.have))
		chunk := f.have[off:end]
		if mfz.Bitmap(chunk).Empty() {
			continue
		}
		l.sendCtrl(n, appendBitfield(l.buf[:0], f.handle, off*8, chunk))
	}
}

func (l *loop) refreshDelay() time.Duration {
	span := l.t.refreshMax - l.t.refreshMin
	if span <= 0 {
		return l.t.refreshMin
	}
	return l.t.refreshMin + time.Duration(l.rng.Int63n(int64(span)))
}

// flushHaves tells every neighbour which blocks verified since the last
// flush, one HAVE per file.
func (l *loop) flushHaves() {
	for f, bs := range l.haves {
		delete(l.haves, f)
		if f.handle == noHandle || l.files.byName[f.name] != f || !f.receiving() {
			continue
		}
		for len(bs) > 0 {
			k := min(len(bs), maxHaves)
			msg := appendHave(l.buf[:0], f.handle, f.low, bs[:k])
			for _, n := range l.nbrs {
				if n != nil {
					l.sendCtrl(n, msg)
				}
			}
			bs = bs[k:]
		}
	}
}

// slowTick: refreshes, bitfield repairs, manifest retries, expiries.
func (l *loop) slowTick() {
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
	for _, f := range l.files.byName {
		if f.reannounceLeft > 0 && l.now.After(f.reannounceAt) {
			f.reannounceLeft--
			f.reannounceAt = l.now.Add(2 * time.Second)
			l.announceAll(f)
		}
	}
	l.manifestTimeouts()
	l.retryPaused()
	l.forgetStarts()
	l.reconsiderAll()
}

// --- announcements from neighbours ---

func (l *loop) announced(n *nbr, m *announceMsg) {
	l.counters.AnnouncesIn++
	rf := n.rh[m.handle]
	if rf == nil || rf.id != m.fid {
		if rf != nil {
			l.dropRemote(n, rf)
		}
		if old := n.byFid[m.fid]; old != nil {
			l.dropRemote(n, old)
		}
		rf = &rfile{handle: m.handle, id: m.fid}
		n.rh[m.handle] = rf
		n.byFid[m.fid] = rf
		// It announces only the dominant file of a name: what it said
		// of an older one of that name is void.
		for _, o := range n.byFid {
			if o != rf && o.name == m.name && dominates(m.version, m.fid, o.version, o.id) {
				l.dropRemote(n, o)
			}
		}
	}
	rf.name, rf.version = m.name, m.version
	rf.tomb = m.flags&flagTombstone != 0
	rf.complete = m.flags&flagComplete != 0
	if int(m.blocks) != rf.blocks {
		rf.have = nil
	}
	rf.blocks = int(m.blocks)
	if rf.complete {
		rf.have = nil
	} else if rf.have == nil {
		rf.have = mfz.NewBitmap(rf.blocks)
	}
	l.consider(n, rf)
}

// dropRemote forgets a neighbour's handle mapping (it was remapped).
func (l *loop) dropRemote(n *nbr, rf *rfile) {
	if n.rh[rf.handle] == rf {
		n.rh[rf.handle] = nil
	}
	if n.byFid[rf.id] == rf {
		delete(n.byFid, rf.id)
	}
	l.cancelAsms(n, func(a *asm) bool { return a.f.id == rf.id })
}

func (l *loop) bitfield(n *nbr, m *bitfieldMsg) {
	rf := n.rh[m.handle]
	if rf == nil || rf.complete || rf.have == nil {
		return
	}
	first, bits := int(m.first), mfz.Bitmap(m.bits)
	for i := 0; i < 8*len(bits); i++ {
		if bits.Has(i) && first+i < rf.blocks {
			rf.have.Set(first + i)
		}
	}
}

func (l *loop) have(n *nbr, m *haveMsg) {
	rf := n.rh[m.handle]
	if rf == nil || rf.complete || rf.have == nil {
		return
	}
	// The low mark repairs HAVEs lost before this one.
	for b := 0; b < int(m.low) && b < rf.blocks; b++ {
		rf.have.Set(b)
	}
	m.blocks(func(b int) {
		if b < rf.blocks {
			rf.have.Set(b)
		}
	})
}
