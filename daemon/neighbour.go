package daemon

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// NeighbourState is what the daemon knows of the tile at the far end of a
// link.
type NeighbourState uint8

const (
	// Absent: the link is down.
	Absent NeighbourState = iota
	// LinkUp: the link is synchronised but no itcd has been heard on it.
	LinkUp
	// Live: the far tile's itcd says hello on the liveness service.
	Live
)

func (s NeighbourState) String() string {
	return [...]string{"absent", "link-up", "live"}[s]
}

// MarshalText prints the state by name.
func (s NeighbourState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the name MarshalText writes.
func (s *NeighbourState) UnmarshalText(b []byte) error {
	for v := Absent; v <= Live; v++ {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("neighbour state %q: want absent, link-up or live", b)
}

// maxHelloSkew: an echoed timestamp older than this is ignored.
const maxHelloSkew = 10 * time.Minute

type neighbour struct {
	state     NeighbourState
	tile      p2p.TileID
	version   uint8
	services  uint64
	uptime    uint32
	since     time.Time // entered the current state
	lastHeard time.Time
	srtt      time.Duration
	peerTS    uint32
	peerTSAt  time.Time
	hellos    uint64
	badHellos uint64
	connects  uint64
	// connectedAt is when the last tile connected (tile is that tile,
	// live or not). identityRefused counts hellos that claimed another
	// identity within IdentityHold of it; refusing is set once the log
	// has said so for the current tile.
	connectedAt     time.Time
	identityRefused uint64
	refusing        bool
}

// neighbours is the model of the six far tiles. Events are published while
// mu is held, so every consumer sees them in the order they happened.
type neighbours struct {
	mu    sync.Mutex
	n     [8]neighbour
	poked chan struct{}
	epoch time.Time
	// peer holds the identity of the live tile on each link (0: none) for
	// the read loop, which tags every service packet with it without
	// taking mu. A tile identity is never all zero.
	peer [8]atomic.Uint64
}

// livePeer returns the identity of the live tile on link d.
func (ns *neighbours) livePeer(d packet.Dir) (p2p.TileID, bool) {
	var id p2p.TileID
	v := ns.peer[d&7].Load()
	binary.BigEndian.PutUint64(id[:], v)
	return id, v != 0
}

func (ns *neighbours) init() {
	ns.poked = make(chan struct{}, 1)
	ns.epoch = time.Now()
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

func (ns *neighbours) liveLocked() []p2p.Neighbour {
	var out []p2p.Neighbour
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
	defer ns.mu.Unlock()
	if !to.IsLink() || ns.n[to].state != Live {
		return p2p.ErrNotLive
	}
	if !dm.out.enqueueService(to, s, pkt) {
		return p2p.ErrQueueFull
	}
	return nil
}

// helloVerdict is what a valid hello does to the neighbour on its link.
type helloVerdict uint8

const (
	// helloRefresh: the live tile says hello again.
	helloRefresh helloVerdict = iota
	// helloConnect: no tile is live on the link; the sender connects.
	helloConnect
	// helloReplace: another tile took the link's place; the live one is
	// gone and the sender connects.
	helloReplace
	// helloRefuse: another identity sooner than a tile can be replaced;
	// the hello is ignored and counted, the live tile keeps the link.
	helloRefuse
)

// judgeHello decides what a hello from tile from does to a link in state
// st, whose last connected tile was last, at lastConnect (zero: never);
// elsewhere says from is live on another link of this tile. Another
// identity within hold of the last connect is refused whether or not that
// tile is still live: a neighbour alone on its link must not connect a new
// identity each time its last one times out. A tile cannot sit on two
// links at once, so an identity live on another link is an impostor's. A
// pure function of its inputs, tested by a table.
func judgeHello(st NeighbourState, last p2p.TileID, lastConnect time.Time, from p2p.TileID, elsewhere bool, now time.Time, hold time.Duration) helloVerdict {
	switch {
	case elsewhere:
		return helloRefuse
	case st == Live && from == last:
		return helloRefresh
	case from != last && !lastConnect.IsZero() && now.Sub(lastConnect) < hold:
		return helloRefuse
	case st != Live:
		return helloConnect
	}
	return helloReplace
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

// heard handles a hello from the tile on link d.
func (ns *neighbours) heard(dm *Daemon, d packet.Dir, payload []byte) {
	now := time.Now()
	h, ok := ParseHello(payload)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := &ns.n[d]
	if !ok {
		n.badHellos++
		return
	}
	n.hellos++
	verdict := judgeHello(n.state, n.tile, n.connectedAt, h.Tile, ns.liveElsewhereLocked(h.Tile, d), now, dm.cfg.IdentityHold.D())
	if verdict == helloRefuse {
		// Not heard: if the live tile is really gone, the liveness
		// deadline ends it, and a successor connects once the hold
		// since the last connect is over.
		n.identityRefused++
		if !n.refusing {
			n.refusing = true
			dm.log.Warn("neighbour claims an identity it cannot have (changed sooner than a tile can be replaced, or live on another link): ignoring its hellos",
				"dir", d.String(), "live", n.tile.String(), "claimed", h.Tile.String(), "identity_hold", dm.cfg.IdentityHold.String())
		}
		return
	}
	n.lastHeard = now
	n.peerTS, n.peerTSAt = h.TS, now
	if h.EchoTS != 0 {
		rtt := time.Duration(ns.clock(now)-h.EchoTS-h.EchoHold) * time.Millisecond
		if rtt >= 0 && rtt < maxHelloSkew {
			if n.srtt == 0 {
				n.srtt = rtt
			} else {
				n.srtt += (rtt - n.srtt) / 8
			}
		}
	}
	if verdict == helloReplace {
		dm.emit(n, d, packet.EventDisconnect, now)
	}
	n.version, n.services, n.uptime = h.Version, h.Services, h.Uptime
	if verdict == helloConnect || verdict == helloReplace {
		if n.tile != h.Tile {
			n.refusing = false // a new tile: its own refusals are news
		}
		n.tile = h.Tile
		n.srtt = 0
		n.connectedAt = now
		dm.emit(n, d, packet.EventConnect, now)
	}
}

// emit moves n to its new state and publishes the event. ns.mu is held.
func (dm *Daemon) emit(n *neighbour, d packet.Dir, kind packet.Event, now time.Time) {
	e := p2p.Event{Kind: kind, Dir: d, Tile: n.tile}
	if kind == packet.EventConnect {
		n.state = Live
		n.connects++
		dm.nbr.peer[d].Store(binary.BigEndian.Uint64(n.tile[:]))
	} else {
		n.state = LinkUp
		n.srtt = 0
		dm.nbr.peer[d].Store(0)
		// What the services queued for that tile is moot now. A sender
		// waiting for its full queue to drain is woken: no packet will
		// leave that queue to do it.
		dm.wakeSenders(dm.out.clearLink(d, true))
	}
	n.since = now
	dm.log.Info("neighbour "+kind.String(), "dir", d.String(), "peer", n.tile.String())
	dm.hub.Publish(e)
	dm.mfm.event(e)
	for _, h := range dm.inproc {
		h.event(e)
	}
}

// neighbourLoop says hello on every link that is up, notices neighbours
// that fall silent and follows the device's link status.
func (dm *Daemon) neighbourLoop(ctx context.Context) {
	ns := &dm.nbr
	tick := time.NewTicker(dm.cfg.HelloInterval.D())
	defer tick.Stop()
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
		case <-tick.C:
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
	now := time.Now()
	dead := dm.cfg.DeadAfter.D()
	var hi []packet.Dir
	ns.mu.Lock()
	for _, d := range packet.Links {
		n := &ns.n[d]
		up := st.Up(d)
		if n.state == Live && (!up || now.Sub(n.lastHeard) > dead) {
			dm.emit(n, d, packet.EventDisconnect, now)
		}
		switch {
		case !up && n.state != Absent:
			n.state, n.since = Absent, now
			dm.out.clearLink(d, false)
		case up && n.state == Absent:
			n.state, n.since = LinkUp, now
			hi = append(hi, d)
		}
	}
	ns.mu.Unlock()
	for _, d := range hi {
		dm.helloTo(d, now)
	}
}

func (dm *Daemon) sayHello() {
	st := dm.dev.Status()
	now := time.Now()
	for _, d := range packet.Links {
		if st.Up(d) {
			dm.helloTo(d, now)
		}
	}
}

func (dm *Daemon) helloTo(d packet.Dir, now time.Time) {
	ns := &dm.nbr
	h := Hello{
		Version:  ProtocolVersion,
		Tile:     dm.self,
		Uptime:   uint32(now.Sub(dm.started).Seconds()),
		Services: dm.offered(),
		TS:       ns.clock(now),
	}
	if h.TS == 0 {
		h.TS = 1 // 0 means "no timestamp" in echoTS
	}
	ns.mu.Lock()
	if n := &ns.n[d]; !n.peerTSAt.IsZero() && now.Sub(n.peerTSAt) < dm.cfg.DeadAfter.D() {
		h.EchoTS = n.peerTS
		h.EchoHold = uint32(now.Sub(n.peerTSAt).Milliseconds())
	}
	ns.mu.Unlock()
	var payload, buf [packet.MaxLen]byte
	pkt, err := packet.AppendService(buf[:0], d, packet.ServiceLiveness, AppendHello(payload[:0], h))
	if err == nil {
		dm.out.enqueueOwn(d, pkt)
	}
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
