package tubes

import (
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Hostile neighbours and hostile far tiles against forwarding and tubes
// by routes, on a service the test drives (fakehost_test.go). Each test
// checks that what the attacker can make the tile hold stays bounded, and
// that tubes of other tiles are untouched.

var (
	selfTile = tileID(1)
	westTile = tileID(2)
	eastTile = tileID(3)
)

// middle is a tile with live neighbours west and east.
func middle(t *testing.T) (*Service, *fakeHost) {
	return newDriven(t, selfTile, map[packet.Dir]p2p.TileID{packet.WT: westTile, packet.ET: eastTile})
}

// routedTo is a ROUTED message along path, hop links taken, from src to
// dst, carrying inner.
func routedTo(path []packet.Dir, hop int, src, dst p2p.TileID, inner []byte) []byte {
	b := appendRouted(nil, path, src, dst, inner, 0)
	b[2] = byte(hop)
	return b
}

// TestForwardFloodBounded: a neighbour floods packets to forward. The
// queue for the next link never holds more than fwdMax, the rest are
// counted dropped, and what is forwarded has one more link taken.
func TestForwardFloodBounded(t *testing.T) {
	s, h := middle(t)
	through := []packet.Dir{packet.ET, packet.ET, packet.ET}
	inner := appendData(nil, 1, 0, 0, make([]byte, 100))
	const flood = 1000
	for i := range flood {
		deliver(s, packet.WT, routedTo(through, 1, tileID(100+i), tileID(7), inner))
		if s.fwd[packet.ET].len() > fwdMax {
			t.Fatalf("after %d: %d queued, over %d", i+1, s.fwd[packet.ET].len(), fwdMax)
		}
	}
	if c := s.counters; c.Forwarded != 0 || c.FwdDropped != flood-fwdMax || s.fwd[packet.ET].len() != fwdMax {
		t.Fatalf("forwarded %d dropped %d queued %d", c.Forwarded, c.FwdDropped, s.fwd[packet.ET].len())
	}
	if len(h.sent) != 0 || len(s.tubes) != 0 || s.counters.RoutedIn != 0 {
		t.Fatalf("a packet to forward made the tile send %d, hold %d tubes", len(h.sent), len(s.tubes))
	}
	// The link takes them: each leaves with two links taken.
	var out []sentPacket
	for range fwdMax {
		s.pump()
		h.room[packet.ET] = 1000
		out = append(out, h.take()...)
	}
	if len(out) != fwdMax || s.fwd[packet.ET].len() != 0 || s.counters.Forwarded != fwdMax {
		t.Fatalf("pump sent %d, %d still queued", len(out), s.fwd[packet.ET].len())
	}
	for _, p := range out {
		hd, _, err := parseRouted(p.payload)
		if p.to != packet.ET || err != nil || hd.hop != 2 {
			t.Fatalf("forwarded on %v: %+v %v", p.to, hd, err)
		}
	}
	// A slow link (3 packets a round) under a flood that never stops:
	// the queue stays bounded however long it lasts.
	s.roomMax[packet.ET], h.room[packet.ET] = linkQueue, linkQueue
	sent := s.counters.Forwarded
	for round := range 200 {
		drainLink(h, packet.ET, 3)
		for i := range 20 {
			deliver(s, packet.WT, routedTo(through, 1, tileID(5000+round*20+i), tileID(7), inner))
		}
		s.blocked = [8]bool{}
		s.pump()
		if s.fwd[packet.ET].len() > fwdMax || cap(s.fwd[packet.ET].pkts) > 4*fwdMax {
			t.Fatalf("round %d: %d queued (capacity %d)", round, s.fwd[packet.ET].len(), cap(s.fwd[packet.ET].pkts))
		}
	}
	if n := s.counters.Forwarded - sent; n < 3*200-linkQueue {
		t.Fatalf("%d forwarded in 200 rounds of three", n)
	}
	// To a link with nobody on it, or back to a neighbour that is gone:
	// dropped at once.
	before := s.counters.FwdDropped
	deliver(s, packet.WT, routedTo([]packet.Dir{packet.ET, packet.NE}, 1, tileID(9), tileID(7), inner))
	if s.counters.FwdDropped != before+1 {
		t.Fatal("a packet for a link without a neighbour was not dropped")
	}
	// A flood on every link at once holds at most fwdMax packets of at
	// most a packet's size per link.
	all := map[packet.Dir]p2p.TileID{}
	for i, d := range packet.Links {
		all[d] = tileID(200 + i)
	}
	s2, _ := newDriven(t, selfTile, all)
	for i := range 5000 {
		in := packet.Links[i%6]
		next := packet.Links[(i/6)%6]
		deliver(s2, in, routedTo([]packet.Dir{in.Opposite(), next, next}, 1, tileID(i), tileID(7), appendData(nil, 1, 0, 0, make([]byte, segmentFor(3)))))
	}
	held := 0
	for _, q := range s2.fwd {
		if q.len() > fwdMax {
			t.Fatalf("%d queued on one link", q.len())
		}
		for _, p := range q.pkts {
			held += cap(p.p)
		}
	}
	if held > 6*fwdMax*maxMsg {
		t.Fatalf("%d bytes held for forwarding, over %d", held, 6*fwdMax*maxMsg)
	}
}

// linkQueue is the size of a link's queue in the tests that drain it.
const linkQueue = 12

// drainLink: the link on d sent n packets of its queue.
func drainLink(h *fakeHost, d packet.Dir, n int) {
	h.room[d] = min(h.room[d]+n, linkQueue)
}

// TestRoutedGarbageForHere: packets whose path ends here but whose inner
// message is not for this tile, or no message at all, are counted and do
// nothing else.
func TestRoutedGarbageForHere(t *testing.T) {
	s, h := middle(t)
	c := acceptOn(s, 7)
	rng := rand.New(rand.NewSource(1))
	path := []packet.Dir{packet.ET, packet.ET}
	open := appendOpen(nil, 5, 49152, 7, KindStream, 1<<16)
	cases := [][]byte{
		// A good OPEN for another tile: the CRC covers DST.
		routedTo(path, 2, tileID(50), tileID(51), open),
		// Random bytes after a good header.
		append(routedTo(path, 2, tileID(50), selfTile, open)[:routedLen(2)], 1, 2, 3, 4, 5, 6, 7, 8, 9),
		// Too short to be a message.
		append(routedTo(path, 2, tileID(50), selfTile, open)[:routedLen(2)], 1, 2),
		routedTo(path, 2, tileID(50), selfTile, open)[:routedLen(2)],
	}
	for range 500 {
		g := make([]byte, rng.Intn(maxMsg-routedLen(2)))
		rng.Read(g)
		cases = append(cases, append(routedTo(path, 2, tileID(50+rng.Intn(1000)), selfTile, open)[:routedLen(2)], g...))
	}
	for _, p := range cases {
		deliver(s, packet.WT, p)
	}
	s.pump()
	if n := s.counters.CRCErrors + s.counters.Malformed; n != uint64(len(cases)) {
		t.Fatalf("%d counted of %d (crc %d, malformed %d)", n, len(cases), s.counters.CRCErrors, s.counters.Malformed)
	}
	if len(h.sent) != 0 || len(s.tubes) != 0 || len(s.pending[viaRoutes]) != 0 || s.counters.RoutedIn != 0 || s.counters.Forwarded != 0 || s.accepts[7] == nil || final(c) != "" {
		t.Fatalf("garbage did something: %d sent, %d tubes, %d pending, %d in", len(h.sent), len(s.tubes), len(s.pending[viaRoutes]), s.counters.RoutedIn)
	}
	// The same OPEN sealed for this tile is taken.
	deliver(s, packet.WT, routedTo(path, 2, tileID(50), selfTile, open))
	if len(s.tubes) != 1 || s.counters.RoutedIn != 1 {
		t.Fatalf("the true OPEN: %d tubes", len(s.tubes))
	}
}

// TestRoutedOpenFlood: OPENs from a thousand made-up far tiles to a port
// nobody accepts keep at most pendingMax; one far tile opening over and
// over holds at most max_tubes tubes however many programs accept.
func TestRoutedOpenFlood(t *testing.T) {
	s, h := middle(t)
	path := []packet.Dir{packet.ET, packet.ET}
	for i := range 1000 {
		src := tileID(1000 + i)
		deliver(s, packet.WT, routedTo(path, 2, src, selfTile, appendOpen(nil, uint16(1+i), 49152, 7, KindStream, 1<<16)))
		if len(s.pending[viaRoutes]) > pendingMax {
			t.Fatalf("after %d: %d OPENs kept", i+1, len(s.pending[viaRoutes]))
		}
	}
	if len(s.pending[viaRoutes]) != pendingMax || s.counters.Refused != 1000-pendingMax || len(h.sent) != 0 {
		t.Fatalf("%d kept, %d refused, %d sent", len(s.pending[viaRoutes]), s.counters.Refused, len(h.sent))
	}
	// They expire.
	s.now = s.now.Add(pendingKeep)
	s.timers()
	if len(s.pending[viaRoutes]) != 0 {
		t.Fatalf("%d OPENs kept after %v", len(s.pending[viaRoutes]), pendingKeep)
	}
	// One far tile, many programs accepting: it gets max_tubes, no more.
	s.cfg.MaxTubes = 8
	hostile := tileID(77)
	for i := range 50 {
		c := acceptOn(s, uint16(100+i))
		deliver(s, packet.WT, routedTo(path, 2, hostile, selfTile, appendOpen(nil, uint16(1+i), 49152, uint16(100+i), KindStream, 1<<16)))
		_ = c
	}
	if n := s.count(from{dir: viaRoutes, tile: hostile}); n != s.cfg.MaxTubes || len(s.tubes) != s.cfg.MaxTubes {
		t.Fatalf("the far tile holds %d tubes (%d in all), max_tubes %d", n, len(s.tubes), s.cfg.MaxTubes)
	}
	// Another far tile is not held back by the first.
	acceptOn(s, 999)
	deliver(s, packet.WT, routedTo(path, 2, tileID(78), selfTile, appendOpen(nil, 1, 49152, 999, KindStream, 1<<16)))
	if s.count(from{dir: viaRoutes, tile: tileID(78)}) != 1 {
		t.Fatal("another far tile's OPEN was refused")
	}
	// Each tube holds one path back, of at most MaxHops links.
	for _, tb := range s.tubes {
		if len(tb.paths) != 1 || len(tb.paths[0]) > MaxHops {
			t.Fatalf("tube %d holds paths %v", tb.id, tb.paths)
		}
	}
}

// farTube has the tile accept a tube by routes from far, arriving from
// the west over path; it returns the tube and the far side's id for it.
func farTube(t *testing.T, s *Service, far p2p.TileID, path []packet.Dir, port uint16) (*tube, uint16) {
	t.Helper()
	acceptOn(s, port)
	const peer = 4242
	deliver(s, packet.WT, routedTo(path, len(path), far, selfTile, appendOpen(nil, peer, 49152, port, KindStream, 1<<16)))
	tb := s.byPeer[peerKey{viaRoutes, far, peer}]
	if tb == nil || tb.st != stOpen {
		t.Fatalf("no tube accepted from %v", far)
	}
	return tb, peer
}

// TestRoutedForgedEnds: a tile other than a tube's far end, by routes or
// as a neighbour, names the tube by its id in RESETs, ACKs, DATA and
// CANCELs: nothing of the tube changes.
func TestRoutedForgedEnds(t *testing.T) {
	s, h := middle(t)
	far, liar := tileID(60), tileID(61)
	path := []packet.Dir{packet.ET, packet.ET, packet.ET}
	tb, peer := farTube(t, s, far, path, 7)
	tb.handOver(make([]byte, 3000))
	s.pump()
	h.take()
	snd := tb.snd
	snd.segs = slices.Clone(tb.snd.segs)
	back := slices.Clone(tb.back)
	attacks := []struct {
		name string
		msg  []byte
	}{
		{"RESET", appendReset(nil, tb.id, resetAborted, "forged")},
		{"RESET unknown", appendReset(nil, peer, resetUnknown, "")},
		{"ACK", appendAck(nil, tb.id, tb.snd.nxt, tb.snd.nxt, tb.snd.nxt+1<<20, nil)},
		{"ACK holding", appendAck(nil, tb.id, tb.snd.una, tb.snd.una, tb.snd.una+1<<20, []span{{tb.snd.una + 1, tb.snd.nxt}})},
		{"DATA", appendData(nil, tb.id, 0, flagFin, []byte("forged"))},
		{"CANCEL", appendCancel(nil, peer)},
	}
	for _, a := range attacks {
		// From another far tile, on the same path and on another.
		deliver(s, packet.WT, routedTo(path, len(path), liar, selfTile, a.msg))
		deliver(s, packet.ET, routedTo([]packet.Dir{packet.WT}, 1, liar, selfTile, a.msg))
		// From a neighbour, as its own tube's message.
		deliver(s, packet.WT, seal(a.msg[:len(a.msg)-crcLen]))
		deliver(s, packet.ET, seal(a.msg[:len(a.msg)-crcLen]))
		if tb.st != stOpen {
			t.Fatalf("a forged %s: %v %q", a.name, tb.st, tb.reason)
		}
		if tb.snd.una != snd.una || tb.snd.limit != snd.limit || !slices.Equal(tb.back, back) || tb.rcv.nxt != 0 || len(tb.snd.segs) != len(snd.segs) {
			t.Fatalf("a forged %s changed the tube: state %v una %d limit %d back %v rcv %d", a.name, tb.st, tb.snd.una, tb.snd.limit, tb.back, tb.rcv.nxt)
		}
		for i, g := range tb.snd.segs {
			if g.lost != snd.segs[i].lost || g.held != snd.segs[i].held {
				t.Fatalf("a forged %s changed segment %d: %+v", a.name, i, g)
			}
		}
	}
	// Whatever was answered went back toward the liars, never to the
	// far tile by the tube's path... and within the reset budget.
	out := h.take()
	if len(out) > resetBurst*3 {
		t.Fatalf("%d answers to forgeries", len(out))
	}
	for _, p := range out {
		if p.payload[0] != msgRouted {
			continue
		}
		hd, in, err := parseRouted(p.payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseRoutedMsg(in, far, selfTile); err == nil {
			t.Fatalf("a forgery made the tile send %x to the tube's far end", in)
		}
		_ = hd
	}
	// The true far end still ends it.
	deliver(s, packet.WT, routedTo(path, len(path), far, selfTile, appendReset(nil, tb.id, resetAborted, "true")))
	if tb.st != stFailed {
		t.Fatalf("the true RESET: state %v", tb.st)
	}
}

// TestRoutedPingPong: a packet whose path turns back on the link it came
// by goes back and forth between two tiles, one more link taken each
// time, and dies when it has taken N: never more than N-1 forwards.
func TestRoutedPingPong(t *testing.T) {
	west, hw := newDriven(t, westTile, map[packet.Dir]p2p.TileID{packet.ET: eastTile})
	east, he := newDriven(t, eastTile, map[packet.Dir]p2p.TileID{packet.WT: westTile})
	for _, n := range []int{2, 3, 17, MaxHops} {
		path := make([]packet.Dir, n)
		for i := range path {
			path[i] = []packet.Dir{packet.WT, packet.ET}[i%2] // east to west, back, ...
		}
		f0 := west.counters.Forwarded + east.counters.Forwarded
		e0 := west.counters.CRCErrors + east.counters.CRCErrors
		deliver(west, packet.ET, routedTo(path, 1, tileID(90), tileID(91), appendCancel(nil, 1)))
		for round := 0; ; round++ {
			if round > 2*MaxHops {
				t.Fatalf("N %d: still moving after %d rounds", n, round)
			}
			west.pump()
			east.pump()
			hw.room[packet.ET], he.room[packet.WT] = 1000, 1000
			a, b := hw.take(), he.take()
			if len(a)+len(b) == 0 {
				break
			}
			for _, p := range a {
				deliver(east, packet.WT, p.payload)
			}
			for _, p := range b {
				deliver(west, packet.ET, p.payload)
			}
		}
		if f := west.counters.Forwarded + east.counters.Forwarded - f0; f != uint64(n-1) {
			t.Errorf("N %d: forwarded %d times, want %d", n, f, n-1)
		}
		if e := west.counters.CRCErrors + east.counters.CRCErrors - e0; e != 1 {
			t.Errorf("N %d: %d CRC errors at the end of the path, want 1", n, e)
		}
	}
	if west.counters.RoutedIn+east.counters.RoutedIn != 0 || len(west.tubes)+len(east.tubes) != 0 {
		t.Fatal("a ping-pong packet was taken")
	}
	_ = time.Second
}

// TestForwardFloodSparesOthers: a neighbour floods packets to forward on
// a link faster than it drains, sent just before an honest neighbour's
// each time. The flood takes no more than its share of the queue: the
// honest neighbour's packets still go through.
func TestForwardFloodSparesOthers(t *testing.T) {
	s, h := newDriven(t, selfTile, map[packet.Dir]p2p.TileID{packet.WT: westTile, packet.NE: tileID(4), packet.ET: eastTile})
	honest, hostile := tileID(40), tileID(41)
	inner := appendData(nil, 1, 0, 0, make([]byte, 50))
	s.roomMax[packet.ET], h.room[packet.ET] = linkQueue, linkQueue
	const rounds = 300
	got := 0
	for range rounds {
		for range 10 {
			deliver(s, packet.WT, routedTo([]packet.Dir{packet.ET, packet.ET, packet.ET}, 1, hostile, tileID(7), inner))
		}
		deliver(s, packet.NE, routedTo([]packet.Dir{packet.SW, packet.ET, packet.ET}, 1, honest, tileID(7), inner))
		if n := s.fwd[packet.ET].len(); n > fwdMax {
			t.Fatalf("%d queued", n)
		}
		drainLink(h, packet.ET, 3)
		s.blocked = [8]bool{}
		s.pump()
		for _, p := range h.take() {
			if hd, _, err := parseRouted(p.payload); err == nil && hd.src == honest {
				got++
			}
		}
	}
	if got < rounds*9/10 {
		t.Fatalf("%d of the honest neighbour's %d packets forwarded", got, rounds)
	}
	t.Logf("%d of %d honest packets forwarded, %d dropped in all", got, rounds, s.counters.FwdDropped)
}
