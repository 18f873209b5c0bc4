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

// file is a signed file this tile holds or is receiving. Only the loop
// goroutine touches it.
type file struct {
	id      fileID
	name    string
	version int64
	tomb    bool
	m       *mfz.Manifest
	signed  []byte
	handle  uint8
	blocks  int

	// partial is set while the file is being received.
	partial    *mfz.Partial
	completing bool
	have       mfz.Bitmap   // verified blocks (receiving only)
	nhave      int          // blocks held
	fetching   []packet.Dir // per block: the neighbour fetching it, 0 none
	low        int          // every block below low is held
	bytesHave  int64
	resumed    int // blocks held when the transfer was (re)started here
	started    time.Time
	changedAt  time.Time // a block verified
	sources    [8]SourceStatus

	pause pause // a local store failure stopped it (a full disk): pause.go

	completedAt time.Time // completed by transfer or push in this run
	// reannounce: a change this important (complete, new) is announced
	// again a few times soon after, in case the first was lost.
	reannounceAt   time.Time
	reannounceLeft int
}

func (f *file) receiving() bool { return f.partial != nil }

// holds reports whether block b is verified here.
func (f *file) holds(b int) bool {
	if b < 0 || b >= f.blocks {
		return false
	}
	if f.partial == nil {
		return !f.tomb
	}
	return f.have.Has(b)
}

// dominates reports whether version v1 with file id id1 wins over v2 with
// id2 by the dominance order of mfz.CompareVersions.
func dominates(v1 int64, id1 fileID, v2 int64, id2 fileID) bool {
	return mfz.CompareVersions(v1, id1[:], v2, id2[:]) > 0
}

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

// refusal remembers a file id whose manifest was refused.
type refusal struct {
	until  time.Time
	reason string
}

type completion struct {
	f   *file
	err error
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

	files      map[fileID]*file
	byName     map[string]*file // the dominant file of each name: what we announce
	handles    [maxHandle + 1]*file
	nextH      int
	nbrs       [8]*nbr
	fetches    fetchTable
	refused    map[fileID]refusal
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
		files:      map[fileID]*file{},
		byName:     map[string]*file{},
		fetches:    fetchTable{},
		refused:    map[fileID]refusal{},
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

// --- files and the store ---

// resync reconciles the file table with the store: live files and
// tombstones from List, transfers from Partials. The store is the
// authority; its events only say when to look.
func (l *loop) resync() {
	present := map[fileID]bool{}
	for _, e := range l.st.List() {
		id := fidOf(e.Hash)
		present[id] = true
		f := l.files[id]
		if f != nil {
			if f.receiving() && !f.completing {
				// Installed behind our back (pushed, or dropped into
				// live/) while it was being received.
				l.installedAside(f)
			}
			continue
		}
		f = &file{id: id, name: e.Name, version: e.Version, tomb: e.Deleted,
			m: e.Manifest, signed: e.Signed, blocks: e.Manifest.BlockCount(), handle: noHandle}
		f.nhave = f.blocks
		f.bytesHave = e.Manifest.BodyLen
		if old := l.byName[e.Name]; old == nil || dominates(f.version, f.id, old.version, old.id) {
			f.completedAt = l.now // newly installed while we run (push, hand, or startup)
		}
		l.addFile(f)
	}
	for _, p := range l.st.Partials() {
		m := p.Manifest()
		h := m.Hash()
		id := fidOf(h)
		present[id] = true
		if f := l.files[id]; f != nil {
			if f.partial == nil && !f.tomb {
				continue
			}
			if f.partial != p && !f.completing {
				f.partial = p
			}
			continue
		}
		if l.isRefused(id) {
			// Its final check failed and the store kept it (a disk
			// error): try again when the refusal ends, not at once.
			continue
		}
		l.addTransfer(p, m, h)
	}
	for id, f := range l.files {
		if !present[id] && !f.completing {
			l.removeFile(f)
		}
	}
	l.rebuildNames()
}

func (l *loop) addFile(f *file) {
	f.handle = l.allocHandle(f)
	l.files[f.id] = f
}

// addTransfer starts (or resumes) receiving the partial p.
func (l *loop) addTransfer(p *mfz.Partial, m *mfz.Manifest, h mfz.Hash) *file {
	f := &file{id: fidOf(h), name: m.Name, version: m.Version, m: m, signed: p.Signed(),
		blocks: m.BlockCount(), partial: p, started: l.now, handle: noHandle}
	f.have = p.Have()
	if len(f.have) != (f.blocks+7)/8 {
		f.have = mfz.NewBitmap(f.blocks)
	}
	for b := 0; b < f.blocks; b++ {
		if f.have.Has(b) {
			f.nhave++
			f.bytesHave += int64(m.BlockLen(b))
		}
	}
	f.resumed = f.nhave
	l.counters.BlocksResumed += uint64(f.nhave)
	f.fetching = make([]packet.Dir, f.blocks)
	f.advanceLow()
	l.addFile(f)
	l.log.Info("mfz transfer", "name", f.name, "version", f.version, "blocks", f.blocks, "held", f.nhave)
	if f.nhave == f.blocks {
		l.startComplete(f)
	}
	return f
}

func (f *file) advanceLow() {
	for f.low < f.blocks && f.have.Has(f.low) {
		f.low++
	}
}

// removeFile forgets a file the store no longer holds.
func (l *loop) removeFile(f *file) {
	l.endTransfer(f)
	delete(l.files, f.id)
	if f.handle != noHandle && l.handles[f.handle] == f {
		l.handles[f.handle] = nil
	}
	delete(l.haves, f)
}

// finishTransfer makes f, now complete in the store, a file we hold.
func (l *loop) finishTransfer(f *file) {
	l.endTransfer(f)
	f.partial, f.have, f.fetching = nil, nil, nil
	f.nhave, f.bytesHave = f.blocks, f.m.BodyLen
	f.completedAt = l.now
}

// installedAside ends the transfer of f, which the store now holds whole
// because the same file was pushed or dropped into live/ meanwhile (the
// store dropped the partial), and tells the neighbours at once, as for a
// completion: they may be waiting for its blocks.
func (l *loop) installedAside(f *file) {
	l.log.Info("mfz transfer ended: the same file was installed (push or live/)", "name", f.name, "version", f.version)
	l.finishTransfer(f)
	l.announceHeld(f)
}

// announceHeld announces f, now held whole, to every neighbour, and again
// a few times soon after in case the first was lost.
func (l *loop) announceHeld(f *file) {
	if l.byName[f.name] == f {
		l.announceAll(f)
		f.reannounceAt, f.reannounceLeft = l.now.Add(time.Second), 2
	}
}

// endTransfer stops fetching blocks of f from anyone.
func (l *loop) endTransfer(f *file) {
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		l.cancelAsms(n, func(a *asm) bool { return a.f == f })
	}
}

// allocHandle gives f a handle, going round 0..254 so a handle freed is
// reused as late as possible.
func (l *loop) allocHandle(f *file) uint8 {
	for i := 0; i <= maxHandle; i++ {
		h := (l.nextH + i) % (maxHandle + 1)
		if l.handles[h] == nil {
			l.handles[h] = f
			l.nextH = h + 1
			return uint8(h)
		}
	}
	// More than 255 files: the oldest complete ones go unannounced.
	return noHandle
}

// rebuildNames recomputes the dominant file of each name and announces
// those that changed.
func (l *loop) rebuildNames() {
	best := map[string]*file{}
	for _, f := range l.files {
		if b := best[f.name]; b == nil || dominates(f.version, f.id, b.version, b.id) {
			best[f.name] = f
		}
	}
	for name, f := range best {
		if l.byName[name] != f {
			l.byName[name] = f
			f.reannounceAt, f.reannounceLeft = l.now.Add(time.Second), 2
			// An older transfer of the name is pointless now.
			for _, o := range l.files {
				if o.name == name && o != f && o.receiving() && !o.completing {
					l.abandon(o)
				}
			}
			l.announceAll(f)
		}
	}
	for name := range l.byName {
		if best[name] == nil {
			delete(l.byName, name)
		}
	}
}

// abandon stops an older transfer and drops its partial from the store.
func (l *loop) abandon(f *file) {
	l.log.Info("mfz transfer superseded", "name", f.name, "version", f.version)
	l.counters.Superseded++
	l.endTransfer(f)
	if err := l.st.Abandon(f.name, f.version); err != nil && !errors.Is(err, mfz.ErrNotFound) {
		l.log.Warn("mfz abandon", "name", f.name, "err", err)
	}
	l.removeFile(f)
}

func (l *loop) refuse(id fileID, why string) {
	if len(l.refused) >= l.t.refusedMax {
		var oldest fileID
		var t time.Time
		for k, r := range l.refused {
			if t.IsZero() || r.until.Before(t) {
				oldest, t = k, r.until
			}
		}
		delete(l.refused, oldest)
	}
	l.refused[id] = refusal{until: l.now.Add(l.t.refuseFor), reason: why}
	l.counters.Refused++
}

func (l *loop) isRefused(id fileID) bool {
	r, ok := l.refused[id]
	if ok && l.now.After(r.until) {
		delete(l.refused, id)
		return false
	}
	return ok
}

// --- completion ---

func (l *loop) startComplete(f *file) {
	if f.completing || f.partial == nil {
		return
	}
	f.completing = true
	p := f.partial
	ctx := l.ctx
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := p.CompleteContext(ctx) // verifies the whole body: not in the loop; a stop cancels it
		select {
		case l.done <- completion{f, err}:
		case <-ctx.Done():
		}
	}()
}

func (l *loop) completed(c completion) {
	f := c.f
	f.completing = false
	if l.files[f.id] != f {
		return
	}
	if c.err != nil && l.supersededBy(f, c.err) {
		// A newer version was installed (pushed) while the whole-file
		// check ran: the store dropped this partial. Not a bad file.
		l.log.Info("mfz transfer superseded at its final check", "name", f.name, "version", f.version, "err", c.err)
		l.counters.Superseded++
		l.removeFile(f)
		l.resync()
		return
	}
	if c.err != nil && l.heldWhole(f) {
		// The same file was installed (pushed) while the check ran: the
		// store dropped the partial. Not a bad file.
		l.installedAside(f)
		l.resync()
		return
	}
	if c.err != nil && local(c.err) {
		// This tile's disk, not the file: every block is kept, and the
		// check runs again when the pause ends (retryPaused).
		l.storeFailed(f, c.err)
		return
	}
	if c.err != nil {
		l.log.Warn("mfz file failed its final check; refused", "name", f.name, "version", f.version, "err", c.err)
		l.refuse(f.id, c.err.Error())
		l.removeFile(f)
		l.resync()
		return
	}
	l.storeWorked(f)
	l.finishTransfer(f)
	l.counters.Completed++
	l.log.Info("mfz file complete", "name", f.name, "version", f.version, "seconds", l.now.Sub(f.started).Seconds())
	l.announceHeld(f)
	l.resync()
}

// heldWhole reports whether the store holds exactly f, complete.
func (l *loop) heldWhole(f *file) bool {
	e, ok := l.st.Lookup(f.name)
	return ok && !e.Deleted && fidOf(e.Hash) == f.id
}

// supersededBy reports whether the final check of f failed because the
// store holds a newer file of its name (installed meanwhile).
func (l *loop) supersededBy(f *file, err error) bool {
	if errors.Is(err, mfz.ErrStale) {
		return true
	}
	e, ok := l.st.Lookup(f.name)
	return ok && dominates(e.Version, fidOf(e.Hash), f.version, f.id)
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
	names := make([]string, 0, len(l.byName))
	for name := range l.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l.announce(n, l.byName[name])
	}
	n.nextRefresh = l.now.Add(l.refreshDelay())
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
	if f.tomb {
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
		if f.handle == noHandle || l.byName[f.name] != f || !f.receiving() {
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
		for _, f := range l.byName {
			if f.receiving() && f.changedAt.After(n.bfSent[f.id]) && l.now.Sub(n.bfSent[f.id]) >= l.t.bitfieldGap {
				l.sendBitfield(n, f)
			}
		}
		for id := range n.bfSent {
			if l.files[id] == nil {
				delete(n.bfSent, id)
			}
		}
	}
	for _, f := range l.byName {
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
