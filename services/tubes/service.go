package tubes

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/tokens"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// SocketName is the tube service's socket in the run dir.
const SocketName = "tube.sock"

// The interfaces Service implements, checked by the compiler.
var (
	_ p2p.Service        = (*Service)(nil)
	_ p2p.StatusReporter = (*Service)(nil)
	_ p2p.SocketServer   = (*Service)(nil)
)

// Service is the tube service. Make it with New; the daemon runs Serve
// and hands it the connections on tube.sock (ServeConn).
type Service struct {
	cfg       Config
	events    chan cevent      // from the clients' goroutines
	statusReq chan chan Status // from Status
	stopped   chan struct{}    // closed when Serve returns
	seed      int64
	clk       *clock.Clock // Options.Clock

	// Everything below belongs to Serve's goroutine.
	h        p2p.Host
	log      *slog.Logger
	now      time.Time
	tubes    map[uint16]*tube
	byPeer   map[peerKey]*tube // tubes the far side opened, by its id for them
	accepts  map[uint16]*waitAccept
	pending  [slots][]pendingOpen
	nextID   uint16
	nextPort uint16
	blocked  [8]bool // the link's send queue is full until Drained
	roomMax  [8]int  // the most room each link's queue has had: its size
	paced    bool    // a link's queue is as deep as it should be: look again in paceTick
	resets   [slots]tokens.Bucket
	closed   [slots]closedRing // tubes closed cleanly, for their repeats (closed.go)
	fwd      [8]fwdQueue       // ROUTED packets waiting to be forwarded on each link (via.go)
	routes   Router
	dropFwd  bool
	counters Counters
	timer    *clock.Timer
}

// waitAccept is a program waiting on tube.sock for a tube to a port.
type waitAccept struct {
	c        *client
	req      request
	deadline time.Time // zero: none
}

// pendingOpen is an OPEN no accept has taken yet. Its opener sends it
// again until accepted, so it is kept only briefly, to let an accept that
// comes a moment later answer at once.
type pendingOpen struct {
	m    msg
	from from
	seen time.Time
}

const (
	pendingMax  = 16              // OPENs kept per link
	pendingKeep = 2 * time.Second // and for how long after the last repeat
	openRetry   = 200 * time.Millisecond
	openRetryMx = time.Second
	ephemeralLo = 49152
	// queueDepth is how many packets of this service may wait in a
	// link's queue; paceTick how soon a link held back at it is looked at
	// again (at 64 KB/s a packet leaves every 4 ms).
	queueDepth = 12
	paceTick   = 4 * time.Millisecond
)

// Options are what the tile gives the service beyond its Config.
type Options struct {
	// Seed seeds the first tube id, so tests repeat; 0 picks one.
	Seed int64
	// Routes, if set, lets tubes reach tiles beyond the neighbours.
	Routes Router
	// DropForwarded makes the tile a black hole for tests: it routes as
	// usual but forwards nothing it is asked to.
	DropForwarded bool
	// Clock times the tubes' retransmissions, acknowledgements and
	// deadlines; nil is the machine's time. A simulator slows it
	// (internal/clock).
	Clock *clock.Clock
}

// New makes the tube service.
func New(cfg Config, opt Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := opt.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	return &Service{cfg: cfg, events: make(chan cevent, 64), statusReq: make(chan chan Status), stopped: make(chan struct{}), seed: seed, routes: opt.Routes, dropFwd: opt.DropForwarded, clk: opt.Clock}, nil
}

// Number implements p2p.Service.
func (s *Service) Number() packet.Service { return packet.ServiceTube }

// Name implements p2p.Service.
func (s *Service) Name() string { return "tube" }

// SocketName implements p2p.SocketServer.
func (s *Service) SocketName() string { return SocketName }

// Serve implements p2p.Service: one goroutine owns every tube.
func (s *Service) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	s.h, s.log = h, h.Logger()
	s.tubes = make(map[uint16]*tube)
	s.byPeer = make(map[peerKey]*tube)
	s.accepts = make(map[uint16]*waitAccept)
	rng := rand.New(rand.NewSource(s.seed))
	// Tube ids start at random, so a restarted tile does not reuse the
	// ids its neighbours still hold from before.
	s.nextID = uint16(rng.Intn(1 << 16))
	s.nextPort = ephemeralLo + uint16(rng.Intn(1<<16-ephemeralLo))
	s.timer = s.clk.NewTimer(time.Hour)
	defer s.timer.Stop()
	defer close(s.stopped)
	var changed <-chan struct{} // nil without routes: never ready
	if s.routes != nil {
		changed = s.routes.Changed()
	}
	for {
		s.now = s.clk.Now()
		s.pump()
		s.arm()
		select {
		case <-ctx.Done():
			s.stopAll("itcd is stopping")
			return nil
		case m := <-in.Packets:
			s.now = s.clk.Now()
			s.packet(&m)
		case ev := <-in.Events:
			s.now = s.clk.Now()
			s.neighbourEvent(ev)
		case ev := <-s.events:
			s.now = s.clk.Now()
			s.clientEvent(ev)
		case <-h.Drained():
			s.blocked = [8]bool{}
		case <-changed:
			s.now = s.clk.Now()
			s.repath()
		case <-s.timer.C:
			s.now = s.clk.Now()
			s.counters.Wakeups++
			s.timers()
		case r := <-s.statusReq:
			r <- s.status()
		}
	}
}

// arm sets the timer for the earliest thing due; an idle service (no
// tube with anything outstanding) sets none.
func (s *Service) arm() {
	var at time.Time
	early := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	for _, t := range s.tubes {
		early(t.deadline)
		early(t.retryAt)
		if t.st != stOpening && !t.st.finished() {
			early(t.snd.deadline(&s.cfg))
			early(s.silentCheck(t))
			early(t.allPathsAt)
			if d := t.snd.silentFor(s.now); d > 0 {
				early(s.now.Add(s.cfg.GiveUpAfter.D() - d))
			}
		}
		if !t.rcv.ackNow {
			early(t.rcv.ackAt)
		}
	}
	for _, w := range s.accepts {
		early(w.deadline)
	}
	for d := range s.pending {
		for _, p := range s.pending[d] {
			early(p.seen.Add(pendingKeep))
		}
	}
	if !s.timer.Stop() {
		select {
		case <-s.timer.C:
		default:
		}
	}
	if s.paced {
		s.paced = false
		early(s.now.Add(paceTick))
	}
	if !at.IsZero() {
		s.timer.Reset(max(at.Sub(s.now), 0))
	}
}

// timers does what is due.
func (s *Service) timers() {
	for _, t := range s.tubes {
		switch {
		case t.st == stOpening:
			if !s.now.Before(t.deadline) {
				s.fail(t, fmt.Sprintf("nobody accepted port %d on %v within the open timeout", t.remotePort, t.where()), 0)
				continue
			}
			if !s.now.Before(t.retryAt) {
				s.rotatePath(t) // an OPEN lost on one path may pass on another
				s.sendOpen(t)
			}
		case t.st.finished():
			if !t.deadline.IsZero() && !s.now.Before(t.deadline) {
				s.remove(t)
			}
		default:
			if d := t.snd.silentFor(s.now); d >= s.cfg.GiveUpAfter.D() {
				s.fail(t, fmt.Sprintf("the far itcd acknowledged nothing for %v", d.Round(time.Second)), resetTimedOut)
				continue
			}
			s.allPaths(t)
			s.dropSilent(t)
			if fired, probe := t.snd.timeout(s.now, &s.cfg); fired {
				s.counters.Timeouts++
				if probe {
					// A far program that reads nothing is no bad path.
					s.sendProbe(t)
				} else {
					s.nextPath(t)
				}
			}
		}
	}
	for port, w := range s.accepts {
		if !w.deadline.IsZero() && !s.now.Before(w.deadline) {
			delete(s.accepts, port)
			s.refuseClient(w.c, fmt.Sprintf("nobody opened a tube to port %d within %v", port, w.req.timeout))
		}
	}
	for d := range s.pending {
		kept := s.pending[d][:0]
		for _, p := range s.pending[d] {
			if s.now.Sub(p.seen) < pendingKeep {
				kept = append(kept, p)
			}
		}
		s.pending[d] = kept
	}
}

// neighbourEvent ends the tubes of a neighbour that left or was replaced.
func (s *Service) neighbourEvent(ev p2p.Event) {
	if !ev.Dir.IsLink() {
		return
	}
	s.pending[ev.Dir] = nil
	s.closed[ev.Dir] = closedRing{}
	s.fwd[ev.Dir].clear()
	for _, t := range s.tubes {
		if t.dir != ev.Dir || t.st == stClosed {
			continue
		}
		switch {
		case ev.Kind == packet.EventDisconnect:
			s.fail(t, fmt.Sprintf("the neighbour on %v disconnected", ev.Dir), 0)
		case ev.Tile != t.tile:
			s.fail(t, fmt.Sprintf("the tile on %v was replaced by %v", ev.Dir, ev.Tile), 0)
		}
		if ev.Kind == packet.EventDisconnect || ev.Tile != t.tile {
			s.remove(t) // nothing more can be said to that tile
		}
	}
}

// stopAll tells every program the service stops.
func (s *Service) stopAll(reason string) {
	for _, t := range s.tubes {
		if !t.st.finished() {
			s.fail(t, reason, resetAborted)
		}
	}
	for _, w := range s.accepts {
		s.refuseClient(w.c, reason)
	}
}

// newID returns a tube id not in use.
func (s *Service) newID() uint16 {
	for {
		s.nextID++
		if _, used := s.tubes[s.nextID]; !used && s.nextID != 0 {
			return s.nextID
		}
	}
}

// newPort returns an ephemeral port for an open.
func (s *Service) newPort() uint16 {
	s.nextPort++
	if s.nextPort < ephemeralLo {
		s.nextPort = ephemeralLo
	}
	return s.nextPort
}

// count returns how many tubes the far side f holds: the neighbour on
// a link, or a tile by routes.
func (s *Service) count(f from) int {
	n := 0
	for _, t := range s.tubes {
		if t.dir == f.dir && (f.dir != viaRoutes || t.tile == f.tile) {
			n++
		}
	}
	return n
}

// remove forgets a tube.
func (s *Service) remove(t *tube) {
	if t.st == stLinger {
		s.rememberClosed(t)
	}
	delete(s.tubes, t.id)
	if !t.opener {
		if k := (peerKey{t.dir, t.tile, t.peer}); s.byPeer[k] == t {
			delete(s.byPeer, k)
		}
	}
	t.st = stClosed
	if t.cl != nil {
		t.cl.tube = nil
	}
}
