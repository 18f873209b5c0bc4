package daemon

// The neighbour model's wiring: the six links' models (linkmodel.go) under
// one lock, what their steps ask done (queues dropped, events published
// to the hub, mfm.sock and the services), the hellos this tile says and
// the loop that follows the device's link status and the clock.

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/internal/tick"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// neighbours is the model of the six far tiles. Events are published while
// mu is held, so every consumer sees them in the order they happened.
type neighbours struct {
	// Set by init, never modified after.
	poked chan struct{}
	epoch time.Time
	rules linkRules

	// helloMu orders this tile's hellos: each takes its time and is
	// queued under it, so on every link their ts and uptime never go
	// back, which a neighbour would read as a restart (restartedSince).
	// Two goroutines say hello: the neighbour loop and setMFZID.
	helloMu sync.Mutex

	mu sync.Mutex
	n  [8]linkModel // by packet.Dir; mu guards them
	// peer holds the identity of the live tile on each link (0: none) for
	// the read loop, which tags every service packet with it without
	// taking mu. A tile identity is never all zero.
	peer [8]atomic.Uint64
	// compat mirrors each link's MFM compatibility for the mfm.sock
	// reader, which checks every packet without taking mu.
	compat [8]atomic.Bool
}

// compatLocked returns a TEP 3 for each MFM-compatible link, for a new
// mfm.sock client; ns.mu is held.
func (ns *neighbours) compatLocked() []p2p.Event {
	var out []p2p.Event
	for _, d := range packet.Links {
		n := &ns.n[d]
		if n.mfm {
			e := p2p.Event{Kind: packet.EventMFMCompatible, Dir: d}
			if n.state == Live {
				e.Tile = n.tile
			}
			out = append(out, e)
		}
	}
	return out
}

// livePeer returns the identity of the live tile on link d.
func (ns *neighbours) livePeer(d packet.Dir) (p2p.TileID, bool) {
	var id p2p.TileID
	v := ns.peer[d&7].Load()
	binary.BigEndian.PutUint64(id[:], v)
	return id, v != 0
}

func (ns *neighbours) init(now time.Time, r linkRules) {
	ns.poked = make(chan struct{}, 1)
	ns.epoch = now
	ns.rules = r
	for d := range ns.n {
		ns.n[d].dir = packet.Dir(d)
	}
}

func (ns *neighbours) poke() { notify(ns.poked) }

func (ns *neighbours) clock(t time.Time) uint32 { return uint32(t.Sub(ns.epoch).Milliseconds()) }

func (ns *neighbours) live() []p2p.Neighbour {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.liveLocked()
}

// attach runs f with the live neighbours while no event can be published
// (events are published under ns.mu). A consumer that registers inside f
// and queues a connect for each of them sees every later event after
// those, exactly once and in order.
func (ns *neighbours) attach(f func(live []p2p.Neighbour)) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	f(ns.liveLocked())
}

// one returns the live neighbour on link d: what live says of it, for a
// service that asks on every packet, without building the list.
func (ns *neighbours) one(d packet.Dir) (p2p.Neighbour, bool) {
	if !d.IsLink() {
		return p2p.Neighbour{}, false
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := &ns.n[d]
	if n.state != Live {
		return p2p.Neighbour{}, false
	}
	return p2p.Neighbour{Dir: d, Tile: n.tile, Services: n.services, RTT: n.srtt}, true
}

func (ns *neighbours) liveLocked() []p2p.Neighbour {
	out := make([]p2p.Neighbour, 0, len(packet.Links))
	for _, d := range packet.Links {
		n := &ns.n[d]
		if n.state == Live {
			out = append(out, p2p.Neighbour{Dir: d, Tile: n.tile, Services: n.services, RTT: n.srtt})
		}
	}
	return out
}

// enqueueLive queues service packet pkt for the live neighbour on link
// to. The check and the enqueue are one step under ns.mu, so a packet
// cannot slip into a queue after the neighbour's disconnect cleared it
// and go to whatever tile comes next on that link.
func (dm *Daemon) enqueueLive(to packet.Dir, s packet.Service, pkt []byte) error {
	ns := &dm.nbr
	ns.mu.Lock()
	if !to.IsLink() || ns.n[to].state != Live {
		ns.mu.Unlock()
		return p2p.ErrNotLive
	}
	queued := dm.out.enqueueService(to, s, pkt)
	ns.mu.Unlock()
	if !queued {
		return p2p.ErrQueueFull
	}
	dm.writeNow(to)
	return nil
}

// liveElsewhereLocked reports whether tile is live on a link other than d.
func (ns *neighbours) liveElsewhereLocked(tile p2p.TileID, d packet.Dir) bool {
	for _, o := range packet.Links {
		if o != d && ns.n[o].state == Live && ns.n[o].tile == tile {
			return true
		}
	}
	return false
}

// heard handles a liveness packet from the tile on link d.
func (ns *neighbours) heard(dm *Daemon, d packet.Dir, payload []byte) {
	now := dm.clk.Now()
	h, ok := ParseHello(payload)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	// Read under the lock: setMFZID changes it under the same lock, so a
	// step never judges by an identity older than the last change.
	own := dm.ownDigest()
	in := input{kind: inBadHello}
	if ok {
		in = input{kind: inHello, hello: h, elsewhere: ns.liveElsewhereLocked(h.Tile, d), clock: ns.clock(now), own: own}
	}
	dm.applyLocked(d, ns.n[d].step(in, now, ns.rules))
}

// applyLocked does what a step of link d's model asks, in its order, and
// publishes its events. ns.mu is held, so every consumer sees the events
// of all links in the order they happened.
func (dm *Daemon) applyLocked(d packet.Dir, fx effects) {
	ns := &dm.nbr
	if fx.refused {
		dm.log.Warn("neighbour claims an identity it cannot have (changed sooner than a tile can be replaced, or live on another link): ignoring its hellos",
			"dir", d.String(), "live", ns.n[d].tile.String(), "claimed", fx.claimed.String(), "identity_hold", dm.cfg.IdentityHold.String())
	}
	for _, e := range fx.events {
		dm.capture.tapEvent(e)
		if e.Kind == packet.EventMFMCompatible || e.Kind == packet.EventMFMIncompatible {
			// For mfmt2 alone: services care whether an itcd is live.
			ns.compat[d].Store(e.Kind == packet.EventMFMCompatible)
			dm.out.setMFMOpen(d, !fx.clearMFM)
			dm.log.Info("link "+e.Kind.String(), "dir", d.String(), "peer", e.Tile.String())
			dm.mfm.event(e)
			continue
		}
		if e.Kind == packet.EventConnect {
			ns.peer[d].Store(binary.BigEndian.Uint64(e.Tile[:]))
		} else {
			ns.peer[d].Store(0)
			// What the services queued for that tile is moot now. A
			// sender waiting for its full queue to drain is woken: no
			// packet will leave that queue to do it.
			dm.wakeSenders(dm.out.clearLink(d, true))
		}
		dm.log.Info("neighbour "+e.Kind.String(), "dir", d.String(), "peer", e.Tile.String())
		dm.hub.Publish(e)
		dm.mfm.event(e)
		for _, h := range dm.inproc {
			h.event(e)
		}
	}
	if fx.clearOwn {
		dm.out.clearLink(d, false)
	}
}

// neighbourLoop says hello on every link that is up, notices neighbours
// that fall silent and follows the device's link status. Its ticks fall
// on a wall-clock grid of HelloInterval (internal/tick): the hellos of
// all six links leave in one wakeup, on the same grid as the UDP device's
// keepalive ticks and the neighbours' hellos, so an idle tile wakes a few
// times a second rather than once per link and timer.
func (dm *Daemon) neighbourLoop(ctx context.Context) {
	ns := &dm.nbr
	every, phase := dm.cfg.HelloInterval.D(), dm.cfg.TickPhase
	clk := dm.clk
	next := func(t time.Time) time.Duration { return clk.Until(tick.Next(t.Add(-phase), every).Add(phase)) }
	timer := clk.NewTimer(next(clk.Now()))
	defer timer.Stop()
	// On the machine's time and grid (a tile), the process's tick grid
	// (a timerfd) wakes it instead: one wakeup a tick for everything on
	// that grid, where a Go timer costs about six thread switches.
	var grid <-chan struct{}
	if clk == nil && phase == 0 {
		if sub, err := tick.Subscribe(every); err == nil {
			defer sub.Stop()
			timer.Stop()
			grid = sub.C
		} else {
			dm.log.Warn("no tick grid; hellos wake by a Go timer", "err", err)
		}
	}
	dm.beat.Store(time.Now().UnixNano())
	dm.followLinks()
	dm.sayHello()
	for {
		select {
		case <-ctx.Done():
			return
		case <-dm.dev.StatusChanges():
			dm.followLinks()
		case <-ns.poked:
			dm.followLinks()
		case <-grid:
			dm.beat.Store(time.Now().UnixNano())
			dm.followLinks()
			dm.sayHello()
		case <-timer.C:
			timer.Reset(next(clk.Now()))
			dm.beat.Store(time.Now().UnixNano())
			dm.followLinks()
			dm.sayHello()
		}
	}
}

// followLinks applies the device's link status and the liveness deadline.
func (dm *Daemon) followLinks() {
	st := dm.dev.Status()
	ns := &dm.nbr
	now := dm.clk.Now()
	var hi []packet.Dir
	ns.mu.Lock()
	own := dm.ownDigest() // under the lock, as in heard
	for _, d := range packet.Links {
		n := &ns.n[d]
		if !st.Up(d) {
			dm.applyLocked(d, n.step(input{kind: inLinkDown}, now, ns.rules))
			continue
		}
		dm.applyLocked(d, n.step(input{kind: inTick}, now, ns.rules))
		fx := n.step(input{kind: inLinkUp, statusMFM: st[d] == dev.LinkMFM, own: own}, now, ns.rules)
		dm.applyLocked(d, fx)
		if fx.sayHello {
			hi = append(hi, d) // said once mu is released
		}
	}
	ns.mu.Unlock()
	for _, d := range hi {
		dm.helloTo(d)
	}
}

// sayHello says hello on every link that is up.
func (dm *Daemon) sayHello() {
	st := dm.dev.Status()
	for _, d := range packet.Links {
		if st.Up(d) {
			dm.helloTo(d)
		}
	}
}

// helloTo says hello on link d, timed and queued under helloMu.
func (dm *Daemon) helloTo(d packet.Dir) {
	var payload, buf [packet.MaxLen]byte
	dm.nbr.helloMu.Lock()
	defer dm.nbr.helloMu.Unlock()
	pkt, err := packet.AppendService(buf[:0], d, packet.ServiceLiveness, AppendHello(payload[:0], dm.helloFor(d, dm.clk.Now())))
	if err == nil && dm.out.enqueueOwn(d, pkt) {
		dm.writeNow(d) // now, while its timestamp is fresh
	}
}

// helloFor is this tile's hello on link d, echoing the far tile's last
// timestamp.
func (dm *Daemon) helloFor(d packet.Dir, now time.Time) Hello {
	ns := &dm.nbr
	h := Hello{
		Version:  ProtocolVersion,
		Tile:     dm.self,
		Uptime:   uint32(now.Sub(dm.started).Seconds()),
		Services: dm.offered(),
		TS:       ns.clock(now),
	}
	own := dm.ownDigest()
	h.MFZDigest, h.HasMFZDigest = own.b, own.ok
	if h.TS == 0 {
		h.TS = 1 // 0 means "no timestamp" in echoTS
	}
	ns.mu.Lock()
	h.EchoTS, h.EchoHold = ns.n[d].echo(now, ns.rules)
	// Without a digest the version goes only to a neighbour known to read
	// the flag that says so: an older one would take the zeros in its
	// place for a digest and judge the link MFM-incompatible.
	h.Build, h.HasBuild = dm.build, h.HasMFZDigest || ns.n[d].readsHelloFlags()
	h.Sealed = h.HasBuild // older daemons ignore what follows the version
	ns.mu.Unlock()
	return h
}

// offered is the bitmap of services this tile runs.
func (dm *Daemon) offered() uint64 {
	var m uint64
	for s := packet.ServiceLiveness; s <= packet.MaxService; s++ {
		if dm.owners[s].Load() != nil {
			m |= 1 << s
		}
	}
	return m
}
