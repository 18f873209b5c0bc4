package routes

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/tokens"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// spfGap is the least time between two route computations: a burst of
// LSAs (a neighbour's whole table at connect) costs one, not hundreds.
const spfGap = 20 * time.Millisecond

// batch is how many packets one turn of the loop takes before it sends:
// their acknowledgements go out together.
const batch = 32

// maxAcksHeld bounds the acknowledgements waiting for one neighbour; past
// it the neighbour's LSAs go unacknowledged and it sends them again.
const maxAcksHeld = 4 * maxAcks

// Options are what the tile gives the service beyond its Config.
type Options struct {
	// Key is the tile's signing key, whose identity (p2p.IdentityOf) must
	// be the tile's: the service signs its LSAs with it.
	Key ed25519.PrivateKey
	// Verified, if not nil, is a cache of checked LSAs shared with the
	// other tiles of this process (the simulator's); nil checks each LSA
	// that is news, as a tile does.
	Verified *Verified
	// Clock times LSAs, their refresh and their acknowledgements; nil is
	// the machine's time. A simulator slows it (internal/clock).
	Clock *clock.Clock
}

// Service is the routing service. New makes one; the daemon runs Serve.
type Service struct {
	cfg      Config
	key      ed25519.PrivateKey
	verified *Verified // nil: no cache
	clk      *clock.Clock

	changed chan struct{} // a value when a new graph is published

	mu     sync.Mutex // guards what Status and Control read
	graph  *Graph
	counts Counts
	seq    uint32

	// Owned by Serve's goroutine.
	h     p2p.Host
	log   *slog.Logger
	db    *DB
	self  p2p.TileID
	now   time.Time
	peers [8]*peer
	// allow is each link's allowance of news: NeighbourRate LSAs a
	// second, up to MaxTiles saved. It belongs to the link, not the
	// peer, so a neighbour that reconnects gets no fresh burst.
	allow   [8]tokens.Bucket
	timer   *clock.Timer
	lastOwn time.Time // when this tile last made its LSA
	ownDue  bool      // its neighbours changed since
	// ownFirst and ownLast are when the neighbours first and last changed
	// since the last LSA: it waits for them to settle (ownAt).
	ownFirst, ownLast time.Time
	ownForce          bool // an LSA must go even if it lists the links held (a clash)
	spfDue            bool
	lastSPF           time.Time
	expire            time.Time // when Expire next removes something, zero for never
	refresh           time.Time
	scratch           []byte
	// clashFrom and clashes count LSAs of this tile it did not make.
	clashFrom time.Time
	clashes   int
}

// Counts are the service's counters, in status.
type Counts struct {
	LSAsIn      uint64 `json:"lsas_in"`
	LSAsOut     uint64 `json:"lsas_out"`
	BytesOut    uint64 `json:"bytes_out"` // service payload bytes sent, LSAs and ACKs
	AcksIn      uint64 `json:"acks_in"`
	AcksOut     uint64 `json:"acks_out"`
	Retransmits uint64 `json:"retransmits"`
	Originated  uint64 `json:"originated"`
	Computed    uint64 `json:"computed"`
	Bad         uint64 `json:"bad"`          // packets that did not parse
	Forged      uint64 `json:"forged"`       // LSAs not signed by their origin
	RateLimited uint64 `json:"rate_limited"` // LSAs dropped: the neighbour sent too many
	TableFull   uint64 `json:"table_full"`   // LSAs of new tiles not kept
	Expired     uint64 `json:"expired"`
	// OwnClashes counts LSAs of this tile it did not make: one after a
	// restart; more mean another tile has this tile's key.
	OwnClashes uint64 `json:"own_clashes"`
	// NoRouting counts connects of neighbours that run no routing
	// service: nothing is flooded to them.
	NoRouting uint64 `json:"no_routing"`
}

// New returns the service with cfg.
func New(cfg Config, opt Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(opt.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("routes: no signing key: the tile's LSAs must be signed")
	}
	return &Service{cfg: cfg, key: opt.Key, verified: opt.Verified, clk: opt.Clock, changed: make(chan struct{}, 1)}, nil
}

// Number implements p2p.Service.
func (s *Service) Number() packet.Service { return packet.ServiceRoute }

// Name implements p2p.Service.
func (s *Service) Name() string { return "route" }

// Graph returns the latest graph of the grid (nil before the service
// starts). Any goroutine may call it.
func (s *Service) Graph() *Graph {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.graph
}

// Changed receives a value after a new graph is published (one reader:
// the tube service, which re-checks the paths its tubes use).
func (s *Service) Changed() <-chan struct{} { return s.changed }

// Serve implements p2p.Service.
func (s *Service) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	s.h, s.log, s.self = h, h.Logger(), h.Self()
	if id := p2p.IdentityOf(s.key.Public().(ed25519.PublicKey)); id != s.self {
		return fmt.Errorf("routes: the signing key is tile %v's, not this tile's (%v)", id, s.self)
	}
	s.db = NewDB(s.self, s.cfg.MaxTiles)
	s.now = s.clk.Now()
	for _, n := range h.Neighbours() {
		s.connect(n.Dir, n.Tile)
	}
	// The first LSA waits for the links to settle like any other (one
	// made at once would flood the grid with a tile of no links, then
	// again with its links); the graph of this tile alone exists meanwhile.
	s.linksChanged()
	s.mu.Lock()
	s.graph = NewGraph(s.self, nil)
	s.mu.Unlock()
	s.timer = s.clk.NewTimer(time.Hour)
	defer s.timer.Stop()
	for {
		s.now = s.clk.Now()
		s.work()
		s.pump()
		s.arm()
		select {
		case <-ctx.Done():
			return nil
		case m := <-in.Packets:
			s.now = s.clk.Now()
			s.packet(&m)
			// Take what else waits, so its acknowledgements share packets.
			for i := 1; i < batch && len(in.Packets) > 0; i++ {
				m := <-in.Packets // Serve is the only reader: it is there
				s.packet(&m)
			}
		case ev := <-in.Events:
			s.now = s.clk.Now()
			s.event(ev)
		case <-h.Drained():
			for _, p := range s.peers {
				if p != nil {
					p.blocked = false
				}
			}
		case <-s.timer.C:
		}
	}
}

// event follows a neighbour's coming and going.
func (s *Service) event(ev p2p.Event) {
	switch ev.Kind {
	case packet.EventConnect:
		s.connect(ev.Dir, ev.Tile)
	case packet.EventDisconnect:
		s.peers[ev.Dir] = nil
	default:
		return
	}
	s.linksChanged()
}

// connect starts a neighbour off with the whole table, so a tile that
// joins learns the grid at once, and first with a summary of it (ACKs of
// every LSA held), so that the neighbour sends us only what we lack.
//
// A neighbour whose hellos say it runs no routing service (an itcd from
// before it, or one configured without) gets nothing: it would never
// acknowledge an LSA, and each would go again every Retransmit for as
// long as the link lived. Nor does this tile's LSA list the link: the
// graph takes a link only when both ends list it, and that neighbour
// lists none.
func (s *Service) connect(d packet.Dir, tile p2p.TileID) {
	if !d.IsLink() {
		return
	}
	if n, ok := s.h.Neighbour(d); ok && n.Tile == tile && !n.Offers(packet.ServiceRoute) {
		s.peers[d] = nil
		s.count(func(c *Counts) { c.NoRouting++ })
		return
	}
	p := newPeer(tile)
	for _, l := range s.db.All() {
		p.enqueue(l.Origin)
		p.summary = append(p.summary, Ack{Origin: l.Origin, Seq: l.Seq})
	}
	s.peers[d] = p
}

// work does what is due: the tile's own LSA, expiry, the route
// computation, retransmissions.
func (s *Service) work() {
	refresh := !s.refresh.IsZero() && !s.now.Before(s.refresh)
	if refresh || s.ownDue && !s.now.Before(s.ownAt()) {
		s.originate(refresh || s.ownForce)
	}
	if !s.expire.IsZero() && !s.now.Before(s.expire) {
		s.runExpire()
	}
	if s.spfDue && !s.now.Before(s.lastSPF.Add(spfGap)) {
		s.compute()
	}
	for _, p := range s.peers {
		if p == nil {
			continue
		}
		if n := p.resendDue(s.now); n > 0 {
			s.count(func(c *Counts) { c.Retransmits += uint64(n) })
		}
	}
}

// flood queues origin's LSA for every neighbour but the one it came from.
func (s *Service) flood(origin p2p.TileID, from packet.Dir) {
	for d, p := range s.peers {
		if p != nil && packet.Dir(d) != from {
			p.enqueue(origin)
		}
	}
}

// sameLinks reports whether a and b list the same links.
func sameLinks(a, b *LSA) bool { return slices.Equal(a.Links[:a.N], b.Links[:b.N]) }

// compute builds the graph again and publishes it.
func (s *Service) compute() {
	g := NewGraph(s.self, s.db.All())
	s.db.Mark(g, s.now)
	s.spfDue, s.lastSPF = false, s.now
	s.mu.Lock()
	// A link one end lists and the other not yet changes no route: the
	// graph stays, and the tube service is not woken to check its paths.
	same := g.same(s.graph)
	if !same {
		s.graph = g
	}
	s.counts.Computed++
	s.mu.Unlock()
	if !same {
		select {
		case s.changed <- struct{}{}:
		default: // one is waiting already
		}
	}
	s.runExpire()
}

func (s *Service) runExpire() {
	n, next := s.db.Expire(s.now, s.cfg.MaxAge.D(), s.cfg.Hold.D())
	s.expire = next
	if n > 0 {
		s.count(func(c *Counts) { c.Expired += uint64(n) })
		s.spfDue = true
	}
}

// packet handles one message from a neighbour.
func (s *Service) packet(m *p2p.Message) {
	p := s.peers[m.From]
	if p == nil || p.tile != m.Tile {
		return // from a tile that is no longer there
	}
	msg, err := ParseMessage(m.Payload())
	if err != nil {
		s.count(func(c *Counts) { c.Bad++ })
		s.log.Warn("bad route message from a neighbour; dropped", "dir", m.From, "err", err)
		return
	}
	switch msg.Type {
	case msgAck:
		s.count(func(c *Counts) { c.AcksIn++ })
		for _, a := range msg.Acks[:msg.N] {
			l, ok := s.db.Get(a.Origin)
			p.acked(a, l, ok)
		}
	case msgLSA:
		s.count(func(c *Counts) { c.LSAsIn++ })
		s.lsa(m.From, p, &msg.LSA)
	}
}

// lsa handles one LSA from the neighbour p on d.
func (s *Service) lsa(d packet.Dir, p *peer, l *LSA) {
	// Only news costs work (a flood, a route computation): only news
	// spends the neighbour's allowance. Unacknowledged, a dropped LSA
	// comes again.
	have, ok := s.db.Get(l.Origin)
	if !ok || newer(l.Seq, have.Seq) || l.Seq == have.Seq && *l != *have {
		if !s.allow[d].Take(s.now, float64(s.cfg.NeighbourRate), float64(s.cfg.MaxTiles)) {
			s.count(func(c *Counts) { c.RateLimited++ })
			return
		}
		// Only news is checked: an Ed25519 check costs a 32-bit tile
		// milliseconds, and the allowance bounds how many a neighbour
		// can ask for.
		if err := s.verified.Check(l); err != nil {
			s.count(func(c *Counts) { c.Forged++ })
			s.log.Warn("LSA not signed by its origin; dropped", "dir", d, "origin", l.Origin.String(), "err", err)
			return
		}
	}
	held := Ack{Origin: l.Origin, Seq: l.Seq}
	p.owe(held)
	if l.Origin == s.self {
		// Our own LSA coming back. One newer than ours, or as new and not
		// the same, is from before a restart: continue above it. One
		// older: that neighbour needs ours.
		own, _ := s.db.Get(s.self)
		switch {
		case own == nil || newer(l.Seq, own.Seq) || l.Seq == own.Seq && *l != *own:
			s.mu.Lock()
			if newer(l.Seq, s.seq) {
				s.seq = l.Seq
			}
			s.counts.OwnClashes++
			s.mu.Unlock()
			// Not a change of links to settle: a newer one must go
			// soon (MinInterval), even listing the same links.
			s.ownDue, s.ownForce = true, true
			s.clash()
		case newer(own.Seq, l.Seq):
			p.enqueue(s.self)
		}
		p.holds(held)
		return
	}
	// A refresh (the links as held) changes no route: it is flooded and
	// held, and the graph is not built again. Read before Offer
	// overwrites the held LSA.
	moved := !ok || !sameLinks(have, l)
	switch s.db.Offer(l, s.now, s.graph) {
	case Newer:
		p.holds(held)
		p.drop(l.Origin)
		s.flood(l.Origin, d)
		s.spfDue = s.spfDue || moved
	case Same:
		p.holds(held)
		p.drop(l.Origin)
	case Older:
		p.enqueue(l.Origin)
	case Full:
		s.count(func(c *Counts) { c.TableFull++ })
	}
}

// clashWindow and clashMany: more than clashMany LSAs of this tile that
// it did not make within clashWindow mean another tile signs with its key
// (a copied state dir). After a restart there is one.
const (
	clashWindow = time.Minute
	clashMany   = 3
)

// clash notes an LSA of this tile it did not make, and says so when they
// keep coming.
func (s *Service) clash() {
	if s.now.Sub(s.clashFrom) > clashWindow {
		s.clashFrom, s.clashes = s.now, 0
	}
	s.clashes++
	if s.clashes == clashMany+1 {
		s.log.Error("another tile signs LSAs with this tile's key, so both have one identity: was its state dir copied? Give each tile its own: stop one, remove its tile-key, start it", "tile", s.self.String())
	}
}

// pump sends what each neighbour is owed while its queue has room.
func (s *Service) pump() {
	for d, p := range s.peers {
		if p == nil || p.blocked {
			continue
		}
		to := packet.Dir(d)
		for _, acks := range []*[]Ack{&p.acks, &p.summary} {
			for len(*acks) > 0 && !p.blocked {
				n := min(len(*acks), maxAcks)
				s.scratch = AppendAck(s.scratch[:0], (*acks)[:n])
				if !s.send(to, p) {
					break
				}
				*acks = (*acks)[n:]
				s.count(func(c *Counts) { c.AcksOut++ })
			}
		}
		for !p.blocked {
			if s.h.Room(to) == 0 {
				// Full: Drained says when there is room. Checked first, so
				// an origin is not taken out and put back (a copy of the
				// queue) each time.
				p.blocked = true
				break
			}
			origin, ok := p.next()
			if !ok {
				break
			}
			l, ok := s.db.Get(origin)
			if !ok {
				continue // expired since it was queued
			}
			s.scratch = AppendLSA(s.scratch[:0], l)
			if !s.send(to, p) {
				p.requeue(origin)
				break
			}
			p.sent(origin, l.Seq, s.now.Add(s.cfg.Retransmit.D()))
			s.count(func(c *Counts) { c.LSAsOut++ })
		}
	}
}

// send sends s.scratch to p on d and reports whether it went; a full
// queue blocks p until Drained.
func (s *Service) send(d packet.Dir, p *peer) bool {
	if err := s.h.Send(d, s.scratch); err != nil {
		// Full, or not live any more (its disconnect event is on its
		// way): nothing more goes to p until Drained.
		p.blocked = true
		return false
	}
	s.count(func(c *Counts) { c.BytesOut += uint64(len(s.scratch)) })
	return true
}

// arm sets the timer for the earliest thing due.
func (s *Service) arm() {
	var at time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if s.ownDue {
		soon(s.ownAt())
	}
	soon(s.refresh)
	soon(s.expire)
	if s.spfDue {
		soon(s.lastSPF.Add(spfGap))
	}
	for _, p := range s.peers {
		if p != nil {
			soon(p.due)
		}
	}
	if at.IsZero() {
		at = s.now.Add(time.Hour)
	}
	s.timer.Reset(max(s.clk.Until(at), 0))
}

func (s *Service) count(f func(*Counts)) {
	s.mu.Lock()
	f(&s.counts)
	s.mu.Unlock()
}
