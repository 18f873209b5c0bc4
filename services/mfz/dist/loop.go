package dist

import (
	"context"
	"errors"
	"log/slog"
	"math/rand"
	"sync"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/tick"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// The loop is the service's one goroutine of protocol state: it owns
// every room below and is the only one to touch them, so none of them
// locks. Each packet is parsed once (parseMessage) and handed to the
// handler of its kind; the timers run from one ticker, fast only while
// anything is in flight. After every event the loop asks each neighbour
// for what its window has room for (fill) and moves what waits for it
// into the daemon's queue (pump).
//
//	files.go, phase.go, transfer.go  the file table and its phases, against the store
//	remote.go                        what each neighbour announced
//	announce.go                      what this tile announces
//	fetch.go, manifests.go           manifest fetching
//	recv.go, window.go, rtt.go       blocks: which to fetch, the request window, arrivals
//	send.go                          serving what neighbours ask
//	conduct.go                       strikes and avoidance, remembered by tile
//	pause.go, refused.go             local store failures; refused files
//	nbr.go                           a live neighbour: connect, disconnect, SYNC

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

	files      fileTable   // what this tile holds or receives
	nbrs       [8]*nbr     // the live neighbours, by link
	fetches    fetchTable  // manifests being fetched
	refused    refusals    // files not fetched again for a while
	remembered conductBook // the conduct of disconnected tiles
	done       chan completion
	synced     chan synced            // results of the syncs run off the loop (sync.go)
	syncs      int                    // syncs running (sync.go)
	haves      map[*file][]int        // blocks verified since the last HAVE flush
	haveList   []int                  // flushHaves: the blocks of one HAVE's list, reused
	recent     recentBlocks           // the last blocks verified, to serve without a read
	begins     pause                  // the disk failed creating a transfer: no new one before begins.until
	starts     map[fileID]*startPause // the store could not create the transfer of this file (pause.go)

	running bool // the first resync is done: a file found after it was pushed or dropped in
	roomMax int  // the most room the daemon's queue to a link ever had (pump)
	rr      int  // round robin of transfers among blocks to assign
	// assignGen counts the changes that may give a neighbour a block to
	// fetch (recv.go tryAssign): a neighbour found with none is not
	// searched again until it moves.
	assignGen uint64
	counters  Counters
	buf       [maxMsg]byte
	// pkt is the packet being handled. Received into a local, it went
	// to the heap, one allocation a packet: parsed messages alias the
	// payload, and escape analysis cannot tell that only copies of it
	// are kept.
	pkt      p2p.Message
	lastSnap time.Time
	// reannounceUntil: no announcement repeat is due after it (it bounds
	// the fast tick and the scan of the files for due repeats).
	reannounceUntil time.Time
}

// newLoop makes the loop of s on host h; its completion and sync
// goroutines join wg.
func newLoop(s *Service, h p2p.Host, wg *sync.WaitGroup) *loop {
	return &loop{
		s: s, h: h, st: s.store, log: h.Logger(), t: &s.t, wg: wg,
		rng:        rand.New(rand.NewSource(time.Now().UnixNano())),
		files:      newFileTable(),
		fetches:    fetchTable{},
		refused:    refusals{},
		remembered: conductBook{},
		done:       make(chan completion, 16),
		synced:     make(chan synced, maxSyncs), // a sync's goroutine never waits to report
		haves:      map[*file][]int{},
		starts:     map[fileID]*startPause{},
		assignGen:  1, // past a new neighbour's zero noBlock
	}
}

// run serves until ctx ends.
func (l *loop) run(ctx context.Context, in p2p.Inbox, events <-chan mfz.Event) error {
	l.ctx = ctx
	l.now = l.s.clk.Now()
	l.resync()
	l.running = true
	for _, n := range l.h.Neighbours() {
		l.connect(n.Dir, n.Tile)
	}
	// Tick fast only while something is in flight: everything else
	// arrives as an event, and 50 wakeups a second would be most of an
	// idle tile's CPU. Idle ticks fall on the wall-clock grid of idleTick
	// (internal/tick), where the daemon's hellos fall too: one wakeup
	// serves both.
	timer := l.s.clk.NewTimer(l.t.tick)
	defer timer.Stop()
	fast := true
	// Idle ticks on the machine's time come from the process's tick grid
	// (a timerfd): a Go timer costs an idle tile about six thread
	// switches a tick (internal/tick).
	var grid *tick.Sub
	if l.s.clk == nil {
		if sub, err := tick.Subscribe(l.t.idleTick); err == nil {
			grid = sub
			defer sub.Stop()
		}
	}
	var idle <-chan struct{} // grid.C while idle on the grid, else nil
	var lastResync, lastSlow time.Time
	onTick := func() {
		l.now = l.s.clk.Now()
		l.fastTimers()
		// Ticks wobble around the grid: with no slack, one early by a
		// little skipped the slow timers to every 500 ms.
		if l.now.Sub(lastSlow) >= 250*time.Millisecond-l.t.tick {
			lastSlow = l.now
			l.slowTick()
		}
		if l.now.Sub(lastResync) >= l.t.resyncEvery {
			lastResync = l.now
			l.resync()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case l.pkt = <-in.Packets:
			l.now = l.s.clk.Now()
			l.receive(&l.pkt)
			// Take what else is waiting before pumping, so replies batch.
			for i := 0; i < 64; i++ {
				select {
				case l.pkt = <-in.Packets:
					l.receive(&l.pkt)
					continue
				default:
				}
				break
			}
		case ev := <-in.Events:
			l.now = l.s.clk.Now()
			l.assignGen++
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
			l.now = l.s.clk.Now()
			l.assignGen++
			if ev.Kind == mfz.EventTrust {
				clear(l.refused) // a newly trusted key may make a refused file good
			}
			l.resync()
		case c := <-l.done:
			l.now = l.s.clk.Now()
			l.assignGen++
			l.completed(c)
		case r := <-l.synced:
			l.now = l.s.clk.Now()
			l.syncDone(r)
		case <-l.s.wake:
			l.now = l.s.clk.Now()
			l.assignGen++
			l.resync()
		case <-l.h.Drained():
			l.now = l.s.clk.Now()
		case <-timer.C:
			if fast || grid == nil {
				l.armTick(timer, fast)
			}
			onTick()
		case <-idle:
			onTick()
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
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			idle = nil
			if fast || grid == nil {
				l.armTick(timer, fast)
			} else {
				idle = grid.C
			}
		}
	}
}

// armTick sets timer to the next tick: t.tick from now while busy, else
// the next multiple of t.idleTick on the wall clock.
func (l *loop) armTick(timer *clock.Timer, fast bool) {
	if fast {
		timer.Reset(l.t.tick)
		return
	}
	now := l.s.clk.Now()
	timer.Reset(tick.Next(now, l.t.idleTick).Sub(now))
}

// busy reports whether anything is in flight that the fast tick serves:
// retries, pacing of queued sends, HAVEs to flush.
func (l *loop) busy() bool {
	if len(l.fetches) > 0 || len(l.haves) > 0 {
		return true
	}
	if !l.now.After(l.reannounceUntil) {
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
	case msgData, msgShortData, msgRequest, msgRequests, msgGetManifest:
		// A chunk changes what may be assigned only when it ends a block
		// (releaseAsm) or a stall (tryAssign); asks change nothing.
	default:
		l.assignGen++
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
	case msgRequests:
		l.requests(n, &m.requests)
	case msgData, msgShortData:
		l.data(n, &m.data)
	case msgNotHave:
		l.notHave(n, &m.notHave)
	}
}

// fastTimers runs the timers of every tick: request timeouts, manifest
// retries, the repeats of a new announcement.
func (l *loop) fastTimers() {
	l.timeouts()
	l.manifestTimeouts()
	l.reannounce()
}

// slowTick runs the timers that need no haste (every 250 ms):
// announcement refreshes and repairs, pauses that end, fetches to
// consider again. Manifest retries and the repeats of a new announcement
// run on every tick: a quarter of a second each cost the tiles a few hops
// out most of their start at 20% loss.
func (l *loop) slowTick() {
	l.assignGen++ // a pause or an avoidance may have ended
	l.refreshAnnouncements()
	l.showStale()
	l.retryPaused()
	l.forgetStarts()
	l.reconsiderAll()
}
