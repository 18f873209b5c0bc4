package routes

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// fakeHost records what the service sends, per link.
type fakeHost struct {
	self    p2p.TileID
	mu      sync.Mutex
	sent    map[packet.Dir][][]byte
	full    map[packet.Dir]bool // links whose queue is full
	drained chan struct{}
	nbrs    []p2p.Neighbour // what Neighbours says; empty: no neighbour is known
}

func (f *fakeHost) Send(to packet.Dir, p []byte) error {
	if len(p) > packet.MaxServicePayload {
		return p2p.ErrPayloadTooLong
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full[to] {
		return p2p.ErrQueueFull
	}
	f.sent[to] = append(f.sent[to], append([]byte(nil), p...))
	return nil
}
func (f *fakeHost) Broadcast(p []byte) []packet.Dir { panic("the routing service sends per link") }
func (f *fakeHost) Room(d packet.Dir) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full[d] {
		return 0
	}
	return 1 << 20
}
func (f *fakeHost) Drained() <-chan struct{} { return f.drained }

// setFull fills (or drains, and says so) the queue of link d.
func (f *fakeHost) setFull(d packet.Dir, full bool) {
	f.mu.Lock()
	f.full[d] = full
	f.mu.Unlock()
	if !full {
		f.drained <- struct{}{}
	}
}
func (f *fakeHost) Neighbours() []p2p.Neighbour {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]p2p.Neighbour(nil), f.nbrs...)
}

// setNeighbour makes Neighbours list tile on d, offering services.
func (f *fakeHost) setNeighbour(d packet.Dir, tile p2p.TileID, services uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nbrs = append(f.nbrs, p2p.Neighbour{Dir: d, Tile: tile, Services: services})
}
func (f *fakeHost) Neighbour(d packet.Dir) (p2p.Neighbour, bool) {
	return p2p.FindNeighbour(f.Neighbours(), d)
}
func (f *fakeHost) Self() p2p.TileID     { return f.self }
func (f *fakeHost) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// messages parses everything sent on d.
func (f *fakeHost) messages(t *testing.T, d packet.Dir) []Message {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	for _, p := range f.sent[d] {
		m, err := ParseMessage(p)
		if err != nil {
			t.Fatalf("sent on %v a message that does not parse: %v", d, err)
		}
		out = append(out, m)
	}
	return out
}

// harness runs a Service on a fakeHost for tile self (id(1)).
type harness struct {
	t      *testing.T
	s      *Service
	h      *fakeHost
	pk     chan p2p.Message
	ev     chan p2p.Event
	tiles  [8]p2p.TileID // the live neighbour per link
	probes uint64
}

func startService(t *testing.T, cfg Config) *harness {
	t.Helper()
	s, err := New(cfg, Options{Key: keyOf(1)})
	if err != nil {
		t.Fatal(err)
	}
	x := &harness{t: t, s: s, h: &fakeHost{self: id(1), sent: map[packet.Dir][][]byte{},
		full: map[packet.Dir]bool{}, drained: make(chan struct{}, 1)},
		pk: make(chan p2p.Message, 256), ev: make(chan p2p.Event, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, x.h, p2p.Inbox{Packets: x.pk, Events: x.ev}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return x
}

// testConfig has no timer fire on its own during a test.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MinInterval = 0
	cfg.Retransmit = conf.Duration(time.Hour)
	return cfg
}

// connect connects tile on d and waits until the service has sent it an
// LSA of its own: the connect is handled, so packets from tile will be
// read (packets and events come on two channels).
func (x *harness) connect(d packet.Dir, tile p2p.TileID) {
	x.t.Helper()
	before := len(x.lsasTo(d, id(1)))
	x.tiles[d] = tile
	x.ev <- p2p.Event{Kind: packet.EventConnect, Dir: d, Tile: tile}
	x.waitFor("an LSA to a new neighbour", func() bool { return len(x.lsasTo(d, id(1))) > before })
}

func (x *harness) disconnect(d packet.Dir) {
	x.ev <- p2p.Event{Kind: packet.EventDisconnect, Dir: d, Tile: x.tiles[d]}
	x.tiles[d] = p2p.TileID{}
}

func (x *harness) send(d packet.Dir, payload []byte) {
	x.pk <- p2p.NewMessage(d, x.tiles[d], payload)
}

func (x *harness) sendLSA(d packet.Dir, l *LSA) { x.send(d, AppendLSA(nil, signed(l))) }

// waitFor polls cond for a generous deadline.
func (x *harness) waitFor(what string, cond func() bool) {
	x.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			x.t.Fatalf("timed out waiting for %s; counts %+v", what, x.s.status().Counts)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sync returns once the service has handled everything sent to it before
// and sent what that made it send: a bad packet from d is counted on a
// later turn of its loop.
func (x *harness) sync(d packet.Dir) {
	x.t.Helper()
	x.probes++
	want := x.probes
	x.send(d, []byte{'?', 0, 0, 0, 0})
	x.waitFor("a probe to be counted", func() bool { return x.s.status().Counts.Bad >= want })
}

// reachable asks the graph the service published last.
func (x *harness) reachable(tile p2p.TileID) (int, bool) {
	g := x.s.Graph()
	if g == nil {
		return 0, false
	}
	return g.Reachable(tile)
}

// lsasTo are the LSAs of origin sent on d, in order.
func (x *harness) lsasTo(d packet.Dir, origin p2p.TileID) []LSA {
	var out []LSA
	for _, m := range x.h.messages(x.t, d) {
		if m.Type == msgLSA && m.LSA.Origin == origin {
			out = append(out, m.LSA)
		}
	}
	return out
}

// acksTo counts the acknowledgements of a sent on d.
func (x *harness) acksTo(d packet.Dir, a Ack) int {
	n := 0
	for _, m := range x.h.messages(x.t, d) {
		for _, got := range m.Acks[:m.N] {
			if got == a {
				n++
			}
		}
	}
	return n
}

// lastOwn is the newest of this tile's LSAs sent on d.
func (x *harness) lastOwn(d packet.Dir) (LSA, bool) {
	l := x.lsasTo(d, id(1))
	if len(l) == 0 {
		return LSA{}, false
	}
	return l[len(l)-1], true
}

// lastOwnSent counts the times the newest own LSA sent on d went there
// (0 if none did).
func (x *harness) lastOwnSent(d packet.Dir) int {
	own, ok := x.lastOwn(d)
	if !ok {
		return 0
	}
	n := 0
	for _, l := range x.lsasTo(d, id(1)) {
		if l.Seq == own.Seq {
			n++
		}
	}
	return n
}

// ownLists reports whether the newest own LSA sent on d lists exactly
// links.
func (x *harness) ownLists(d packet.Dir, links ...Link) bool {
	l, ok := x.lastOwn(d)
	if !ok || int(l.N) != len(links) {
		return false
	}
	for i := range links {
		if l.Links[i] != links[i] {
			return false
		}
	}
	return true
}

func lsaOf(origin p2p.TileID, seq uint32, links ...Link) *LSA {
	l := &LSA{Origin: origin, Seq: seq}
	l.N = uint8(copy(l.Links[:], links))
	return l
}

func TestServiceFloods(t *testing.T) {
	x := startService(t, testConfig())
	self, a, b, c, far := id(1), id(2), id(3), id(4), id(9)
	x.connect(packet.ET, a)
	x.waitFor("an LSA listing a to a", func() bool { return x.ownLists(packet.ET, Link{packet.ET, a}) })

	// a tells its own LSA and that of a tile beyond it.
	aLSA := lsaOf(a, 1, Link{packet.WT, self}, Link{packet.ET, far})
	x.sendLSA(packet.ET, aLSA)
	x.sendLSA(packet.ET, lsaOf(far, 1, Link{packet.WT, a}))
	x.waitFor("acks to a", func() bool { return x.acksTo(packet.ET, Ack{a, 1}) == 1 && x.acksTo(packet.ET, Ack{far, 1}) == 1 })
	x.waitFor("routes to a and beyond", func() bool { h, ok := x.reachable(far); return ok && h == 2 })

	// b connects: it gets the whole table, and both get the new LSA.
	x.connect(packet.NW, b)
	both := []Link{{packet.ET, a}, {packet.NW, b}}
	x.waitFor("the table to b", func() bool {
		return len(x.lsasTo(packet.NW, a)) == 1 && len(x.lsasTo(packet.NW, far)) == 1 && x.ownLists(packet.NW, both...)
	})
	x.waitFor("the new LSA to a", func() bool { return x.ownLists(packet.ET, both...) })
	x.sync(packet.ET)
	if n := len(x.lsasTo(packet.ET, a)) + len(x.lsasTo(packet.ET, far)); n != 0 {
		t.Fatalf("sent a %d LSAs it sent", n)
	}

	// News from a: acked, flooded to b, not back to a.
	y := lsaOf(id(20), 1)
	x.sendLSA(packet.ET, y)
	x.waitFor("y acked and flooded", func() bool {
		return x.acksTo(packet.ET, Ack{y.Origin, 1}) == 1 && len(x.lsasTo(packet.NW, y.Origin)) == 1
	})
	// The same again: acked, not flooded.
	x.sendLSA(packet.ET, y)
	x.waitFor("y acked again", func() bool { return x.acksTo(packet.ET, Ack{y.Origin, 1}) == 2 })
	x.sync(packet.ET)
	if n, back := len(x.lsasTo(packet.NW, y.Origin)), len(x.lsasTo(packet.ET, y.Origin)); n != 1 || back != 0 {
		t.Fatalf("y sent %d times to b, %d back to a", n, back)
	}

	// y 2 from a, then y 1 from b: b gets an ack and y 2 back.
	x.sendLSA(packet.ET, lsaOf(y.Origin, 2))
	x.waitFor("y 2 to b", func() bool { return len(x.lsasTo(packet.NW, y.Origin)) == 2 })
	x.sendLSA(packet.NW, lsaOf(y.Origin, 1))
	x.waitFor("y 2 back to b", func() bool {
		l := x.lsasTo(packet.NW, y.Origin)
		return x.acksTo(packet.NW, Ack{y.Origin, 1}) == 1 && len(l) == 3 && l[2].Seq == 2
	})

	// Its own LSA, from before a restart, with a higher seq: it goes on
	// above it.
	x.sendLSA(packet.ET, lsaOf(self, 100, Link{packet.SW, c}))
	x.waitFor("own LSA above 100", func() bool {
		la, _ := x.lastOwn(packet.ET)
		lb, _ := x.lastOwn(packet.NW)
		return la.Seq == 101 && lb.Seq == 101 && x.ownLists(packet.ET, both...)
	})
	if st := x.s.status(); st.Seq != 101 || st.Self != self {
		t.Fatalf("status %+v", st)
	}
	x.sync(packet.ET)
	for _, l := range x.lsasTo(packet.NW, self) {
		if l.Seq == 100 {
			t.Fatalf("flooded the stale own LSA")
		}
	}

	// b goes: the LSA to a lists a alone, and b's link is gone.
	x.disconnect(packet.NW)
	x.waitFor("an LSA without b", func() bool { return x.ownLists(packet.ET, Link{packet.ET, a}) })
	if l, _ := x.lastOwn(packet.ET); l.Seq != 102 {
		t.Fatalf("seq %d after the disconnect", l.Seq)
	}
}

func TestServiceRetransmits(t *testing.T) {
	cfg := testConfig()
	cfg.Retransmit = conf.Duration(30 * time.Millisecond)
	x := startService(t, cfg)
	a := id(2)
	x.connect(packet.ET, a)
	// The LSA that lists a (after the links settled), sent and sent again.
	x.waitFor("the LSA sent again", func() bool {
		return x.ownLists(packet.ET, Link{packet.ET, a}) && x.lastOwnSent(packet.ET) >= 3
	})
	own, _ := x.lastOwn(packet.ET)
	x.send(packet.ET, AppendAck(nil, []Ack{{id(1), own.Seq}}))
	x.sync(packet.ET)
	n := len(x.lsasTo(packet.ET, id(1)))
	time.Sleep(10 * cfg.Retransmit.D()) // long enough for several more, were it not acked
	x.sync(packet.ET)
	if again := len(x.lsasTo(packet.ET, id(1))); again != n {
		t.Fatalf("sent %d more after the ack", again-n)
	}
	if c := x.s.status().Counts; c.Retransmits < 2 || c.AcksIn != 1 {
		t.Fatalf("counts %+v", c)
	}
}

// A neighbour whose hellos offer no routing service is sent nothing: it
// would never acknowledge, and every LSA would go again each Retransmit
// for as long as the link lived (one 170-byte packet a second a link).
func TestServiceSendsNothingToANeighbourWithoutRouting(t *testing.T) {
	cfg := testConfig()
	cfg.Retransmit = conf.Duration(30 * time.Millisecond)
	x := startService(t, cfg)
	old, b := id(2), id(3)
	x.h.setNeighbour(packet.ET, old, 1<<packet.ServiceMFZ)
	x.h.setNeighbour(packet.NW, b, 1<<packet.ServiceRoute)
	x.tiles[packet.ET] = old
	x.ev <- p2p.Event{Kind: packet.EventConnect, Dir: packet.ET, Tile: old}
	x.connect(packet.NW, b)
	// b never acknowledges either: once its LSA has gone three times,
	// the old neighbour's would have too.
	x.waitFor("the LSA to b sent three times", func() bool { return x.lastOwnSent(packet.NW) >= 3 })
	x.sync(packet.NW) // a probe from the old neighbour is not even read
	if m := x.h.messages(t, packet.ET); len(m) != 0 {
		t.Fatalf("sent %d messages to a neighbour that runs no routing", len(m))
	}
	if !x.ownLists(packet.NW, Link{packet.NW, b}) {
		own, _ := x.lastOwn(packet.NW)
		t.Fatalf("own LSA lists %v, want b alone", own.Links[:own.N])
	}
	if c := x.s.status().Counts; c.NoRouting == 0 {
		t.Fatal("no_routing 0, want the connect counted")
	}
}

// fakes sends n LSAs of tiles no link reaches from d and returns them.
func (x *harness) fakes(d packet.Dir, from, n int) []*LSA {
	var out []*LSA
	for i := range n {
		l := lsaOf(idN(1000+from+i), 1)
		x.sendLSA(d, l)
		out = append(out, l)
	}
	return out
}

func TestServiceRateLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxTiles, cfg.NeighbourRate = 16, 1
	x := startService(t, cfg)
	self, a, b := id(1), id(2), id(3)
	x.connect(packet.ET, a)
	x.connect(packet.NW, b)
	aLSA := lsaOf(a, 1, Link{packet.WT, self})
	x.sendLSA(packet.ET, aLSA)
	x.waitFor("a reachable", func() bool { _, ok := x.reachable(a); return ok })

	const n = 40
	fakes := x.fakes(packet.ET, 0, n)
	x.sync(packet.ET)
	limited := x.s.status().Counts.RateLimited
	if int(limited) < n-cfg.MaxTiles-10 {
		t.Fatalf("%d of %d rate limited with an allowance of %d", limited, n, cfg.MaxTiles)
	}
	// A dropped one is neither acknowledged nor flooded. (One kept may go
	// unflooded: the table is full, and a newer fake can push it out
	// before it is sent.)
	acked := 0
	for _, f := range fakes {
		ack, flooded := x.acksTo(packet.ET, Ack{f.Origin, 1}), len(x.lsasTo(packet.NW, f.Origin))
		if flooded > ack || ack > 1 {
			t.Errorf("fake %v acked %d times, flooded %d", f.Origin, ack, flooded)
		}
		acked += ack
	}
	if acked+int(limited) != n {
		t.Fatalf("%d acked, %d rate limited, of %d", acked, limited, n)
	}
	// What it already holds is still acknowledged.
	x.sendLSA(packet.ET, aLSA)
	x.waitFor("a's LSA acked again", func() bool { return x.acksTo(packet.ET, Ack{a, 1}) == 2 })
	if _, ok := x.reachable(a); !ok {
		t.Fatalf("a went")
	}
}

// A neighbour that drops its link and comes back does not get a fresh
// allowance: the allowance belongs to the link.
func TestServiceRateLimitOutlivesReconnect(t *testing.T) {
	cfg := testConfig()
	cfg.MaxTiles, cfg.NeighbourRate = 16, 1
	x := startService(t, cfg)
	a := id(2)
	x.connect(packet.ET, a)
	x.fakes(packet.ET, 0, 20)
	x.sync(packet.ET)
	first := x.s.status().Counts.RateLimited
	if first < 1 {
		t.Fatalf("20 fakes, an allowance of 16: none rate limited")
	}
	for round := range 3 {
		x.disconnect(packet.ET)
		x.connect(packet.ET, a)
		x.fakes(packet.ET, 100*(round+1), 20)
		x.sync(packet.ET)
	}
	limited := x.s.status().Counts.RateLimited - first
	if kept := 60 - int(limited); kept > 10 {
		t.Fatalf("after reconnecting, %d of 60 new LSAs were kept with a rate of 1/s", kept)
	}
}

// TestServiceDropsForged: an LSA of a tile not signed by it (a neighbour
// claiming that a's links are gone, with a higher sequence number) is
// dropped and counted, not flooded, and a stays reachable.
func TestServiceDropsForged(t *testing.T) {
	x := startService(t, testConfig())
	self, a, b := id(1), id(2), id(3)
	x.connect(packet.ET, a)
	x.connect(packet.NW, b)
	x.sendLSA(packet.ET, lsaOf(a, 1, Link{packet.WT, self}))
	x.waitFor("a reachable", func() bool { _, ok := x.reachable(a); return ok })

	forged := *lsaOf(a, 50) // a, with no links
	forged.Sign(keyOf(3))   // but signed by b
	forged.Origin = a
	x.send(packet.NW, AppendLSA(nil, &forged))
	x.sync(packet.NW)
	if c := x.s.status().Counts; c.Forged != 1 {
		t.Fatalf("counts %+v: want one forged", c)
	}
	if _, ok := x.reachable(a); !ok {
		t.Error("a forged LSA detached a")
	}
	for _, l := range x.lsasTo(packet.ET, a) {
		if l.Seq == 50 {
			t.Error("the forged LSA was flooded")
		}
	}
}

// A refresh (a newer LSA listing the same links) changes no route: the
// graph is not built or published again, so neither this tile nor the
// tube service (not woken to re-check its tubes' paths) works every time
// any tile of the grid refreshes.
func TestServiceRefreshChangesNothing(t *testing.T) {
	x := startService(t, testConfig())
	self, a, far := id(1), id(2), id(9)
	x.connect(packet.ET, a)
	x.sendLSA(packet.ET, lsaOf(a, 1, Link{packet.WT, self}, Link{packet.ET, far}))
	x.sendLSA(packet.ET, lsaOf(far, 1, Link{packet.WT, a}))
	x.waitFor("a route to far", func() bool { _, ok := x.reachable(far); return ok })
	g := x.s.Graph()
	select {
	case <-x.s.Changed():
	default:
		t.Fatal("no value on Changed after a new graph")
	}
	before := x.s.status().Counts.Computed
	x.sendLSA(packet.ET, lsaOf(far, 2, Link{packet.WT, a}))
	x.sync(packet.ET) // the refresh is handled
	// A computation it asked for would run on a turn spfGap later at
	// most: two more turns after that have run it.
	past := time.Now().Add(spfGap)
	x.waitFor("spfGap to pass", func() bool { return time.Now().After(past) })
	x.sync(packet.ET)
	x.sync(packet.ET)
	if c := x.s.status().Counts.Computed; c != before {
		t.Fatalf("a refresh that changed no link built the graph again (%d computations, want %d)", c, before)
	}
	select {
	case <-x.s.Changed():
		t.Fatal("a refresh that changed no link published a new graph")
	default:
	}
	if x.s.Graph() != g {
		t.Fatal("the graph was replaced by an equal one")
	}
	// A change of links is published.
	x.sendLSA(packet.ET, lsaOf(far, 3))
	x.waitFor("far unreachable", func() bool { _, ok := x.reachable(far); return !ok })
	select {
	case <-x.s.Changed():
	default:
		t.Fatal("no value on Changed after a link went")
	}
}

// TestServiceOwnClash: LSAs of this tile it did not make (a clone with
// its key, here signed with it) are counted, and each time the tile
// continues above them.
func TestServiceOwnClash(t *testing.T) {
	x := startService(t, testConfig())
	self, a := id(1), id(2)
	x.connect(packet.ET, a)
	for i := range 4 {
		own, _ := x.lastOwn(packet.ET)
		clone := lsaOf(self, own.Seq+5, Link{packet.SW, id(byte(50 + i))})
		x.sendLSA(packet.ET, clone)
		x.waitFor("an own LSA above the clone's", func() bool {
			l, ok := x.lastOwn(packet.ET)
			return ok && newer(l.Seq, clone.Seq)
		})
	}
	if c := x.s.status().Counts; c.OwnClashes != 4 {
		t.Errorf("counts %+v: want 4 clashes", c)
	}
}

// A neighbour that connects gets, before any LSA, a summary of the table
// (ACKs of every LSA held), so that it need not send us what we hold.
func TestServiceSummaryAtConnect(t *testing.T) {
	x := startService(t, testConfig())
	a, b, far := id(2), id(3), id(9)
	x.connect(packet.ET, a)
	x.sendLSA(packet.ET, lsaOf(a, 1, Link{packet.WT, id(1)}, Link{packet.ET, far}))
	x.sendLSA(packet.ET, lsaOf(far, 4, Link{packet.WT, a}))
	x.waitFor("both held", func() bool { return x.s.status().Known == 3 })
	x.connect(packet.NW, b)
	ms := x.h.messages(t, packet.NW)
	if len(ms) == 0 || ms[0].Type != msgAck {
		t.Fatalf("the first message to a new neighbour is not a summary: %+v", ms)
	}
	got := map[Ack]bool{}
	for _, m := range ms {
		if m.Type != msgAck {
			break
		}
		for _, ack := range m.Acks[:m.N] {
			got[ack] = true
		}
	}
	if !got[Ack{a, 1}] || !got[Ack{far, 4}] {
		t.Fatalf("summary %v lacks a 1 or far 4", got)
	}
}

// The summary a neighbour sends at connect takes off its queue what it
// holds as new as we do: only the rest is sent.
func TestServiceSummaryReceived(t *testing.T) {
	x := startService(t, testConfig())
	a, b := id(2), id(3)
	x.connect(packet.ET, a)
	old, same, newer := lsaOf(id(20), 5), lsaOf(id(21), 5), lsaOf(id(22), 5)
	for _, l := range []*LSA{old, same, newer} {
		x.sendLSA(packet.ET, l)
	}
	x.waitFor("the three held", func() bool { return x.s.status().Known == 4 })
	// b connects while its link's queue is full: nothing goes yet.
	x.h.setFull(packet.NW, true)
	x.tiles[packet.NW] = b
	x.ev <- p2p.Event{Kind: packet.EventConnect, Dir: packet.NW, Tile: b}
	// Its summary: an older 20, the same 21, a newer 22.
	x.send(packet.NW, AppendAck(nil, []Ack{{id(20), 4}, {id(21), 5}, {id(22), 6}}))
	x.sync(packet.NW)
	x.h.setFull(packet.NW, false)
	x.waitFor("the table to b", func() bool { return len(x.lsasTo(packet.NW, id(20))) == 1 })
	x.sync(packet.NW)
	if n20, n21, n22 := len(x.lsasTo(packet.NW, id(20))), len(x.lsasTo(packet.NW, id(21))), len(x.lsasTo(packet.NW, id(22))); n20 != 1 || n21 != 0 || n22 != 0 {
		t.Fatalf("sent b %d of 20 (it holds an older), %d of 21 (it holds it), %d of 22 (it holds a newer); want 1, 0, 0", n20, n21, n22)
	}
}

// A tile's LSA waits for its links to settle: ownSettle after the last
// change, and at most ownSettleMax after the first, so a link that flaps
// floods the grid once in a while, not at every change.
func TestServiceOwnLSASettles(t *testing.T) {
	x := startService(t, testConfig())
	x.connect(packet.NW, id(4)) // a neighbour to sync with throughout
	start := time.Now()
	x.tiles[packet.ET] = id(2)
	x.ev <- p2p.Event{Kind: packet.EventConnect, Dir: packet.ET, Tile: id(2)}
	x.waitFor("an LSA listing the link", func() bool {
		return x.ownLists(packet.ET, Link{packet.ET, id(2)}, Link{packet.NW, id(4)})
	})
	if took := time.Since(start); took < ownSettle {
		t.Fatalf("the LSA went %v after the link came up, before it settled (%v)", took, ownSettle)
	}
	// A third link flaps every 50 ms for 4 s: few LSAs go (without
	// settling, one a change: 160; when the links are as the last LSA
	// listed them, none).
	before := x.s.status().Counts.Originated
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
		x.ev <- p2p.Event{Kind: packet.EventConnect, Dir: packet.SE, Tile: id(3)}
		time.Sleep(25 * time.Millisecond)
		x.ev <- p2p.Event{Kind: packet.EventDisconnect, Dir: packet.SE, Tile: id(3)}
		time.Sleep(25 * time.Millisecond)
	}
	n := x.s.status().Counts.Originated - before
	if n > 10 {
		t.Fatalf("%d LSAs made while a link flapped for 4 s; want 10 at most (one per %v, some more on a slow machine)", n, ownSettleMax)
	}
	// It ended down: the last LSA lists ET and NW.
	both := []Link{{packet.ET, id(2)}, {packet.NW, id(4)}}
	x.waitFor("an LSA of the links as they ended", func() bool { return x.ownLists(packet.NW, both...) })
	// A link that goes and comes back before it settled changed nothing:
	// no LSA (each floods the grid).
	time.Sleep(ownSettleMax) // any LSA still due from the flapping goes
	x.sync(packet.NW)
	before = x.s.status().Counts.Originated
	x.ev <- p2p.Event{Kind: packet.EventDisconnect, Dir: packet.ET, Tile: id(2)}
	x.ev <- p2p.Event{Kind: packet.EventConnect, Dir: packet.ET, Tile: id(2)}
	x.sync(packet.NW)
	time.Sleep(3 * ownSettle)
	x.sync(packet.NW)
	if n := x.s.status().Counts.Originated - before; n != 0 {
		t.Fatalf("%d LSAs after a link went and came back", n)
	}
}

// ownAt: the LSA goes ownSettle after the last change, at most
// ownSettleMax after the first, never within MinInterval of the last.
func TestOwnAt(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		first, last, prev time.Duration // since t0; prev: the last LSA
		min, want         time.Duration
	}{
		{0, 0, -time.Hour, 0, ownSettle},                                                          // one change
		{0, 1000 * ms, -time.Hour, 0, 1000*ms + ownSettle},                                        // changes until 1 s
		{0, 1900 * ms, -time.Hour, 0, ownSettleMax},                                               // still changing at the cap
		{0, 5 * time.Second, -time.Hour, 0, ownSettleMax},                                         // the cap holds however long
		{0, 0, 150 * ms, 100 * ms, ownSettle},                                                     // MinInterval passed by then
		{0, 0, 250 * ms, 500 * ms, 750 * ms},                                                      // MinInterval later
		{-10 * time.Second, -10 * time.Second, -time.Hour, 100 * ms, -10*time.Second + ownSettle}, // long due (a clash): at once
	} {
		s := &Service{cfg: Config{MinInterval: conf.Duration(c.min)},
			ownFirst: t0.Add(c.first), ownLast: t0.Add(c.last), lastOwn: t0.Add(c.prev)}
		if got := s.ownAt().Sub(t0); got != c.want {
			t.Errorf("first %v last %v previous %v min %v: at %v, want %v", c.first, c.last, c.prev, c.min, got, c.want)
		}
	}
}
