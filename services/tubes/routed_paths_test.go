package tubes

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/routes"
)

// staticRouter is a Router whose graph never changes.
type staticRouter struct{ g *routes.Graph }

func (r staticRouter) Graph() *routes.Graph     { return r.g }
func (r staticRouter) Changed() <-chan struct{} { return nil }

// diamond is the graph of stripedTube's paths: self reaches far through
// tiles 3 (ET,ET), 4 (NE,SE) and 5 (SE,NE).
func diamond(far p2p.TileID) *routes.Graph {
	lsa := func(origin p2p.TileID, links ...routes.Link) *routes.LSA {
		l := &routes.LSA{Origin: origin, Seq: 1}
		l.N = uint8(copy(l.Links[:], links))
		return l
	}
	a, b, c := tileID(3), tileID(4), tileID(5)
	return routes.NewGraph(selfTile, []*routes.LSA{
		lsa(selfTile, routes.Link{Dir: packet.ET, Tile: a}, routes.Link{Dir: packet.NE, Tile: b}, routes.Link{Dir: packet.SE, Tile: c}),
		lsa(a, routes.Link{Dir: packet.WT, Tile: selfTile}, routes.Link{Dir: packet.ET, Tile: far}),
		lsa(b, routes.Link{Dir: packet.SW, Tile: selfTile}, routes.Link{Dir: packet.SE, Tile: far}),
		lsa(c, routes.Link{Dir: packet.NW, Tile: selfTile}, routes.Link{Dir: packet.NE, Tile: far}),
		lsa(far, routes.Link{Dir: packet.WT, Tile: a}, routes.Link{Dir: packet.NW, Tile: b}, routes.Link{Dir: packet.SW, Tile: c}),
	})
}

// TestGivenUpPathOfferedAgain: a striped tube gives up a path that
// answers nothing; the graph does not change (a tile's refresh is no
// change), yet a while later the tube is offered every path again, so a
// path that lost packets for a while is not lost to it for good.
func TestGivenUpPathOfferedAgain(t *testing.T) {
	s, h, tb, far := stripedTube(t, 1<<20)
	g := diamond(far)
	if n := len(g.Paths(far, routes.MaxPaths)); n != 3 {
		t.Fatalf("the test graph has %d paths, want 3", n)
	}
	s.routes = staticRouter{g}
	hole := func(d packet.Dir) bool { return d == packet.NE }
	var got farEnd
	s.pump()
	got.answer(t, s, h, far, tb, hole)
	for i := 0; len(tb.paths) == 3; i++ {
		if i > 50 {
			t.Fatalf("the silent path was never given up: paths %v", tb.paths)
		}
		s.now = s.now.Add(100 * time.Millisecond)
		s.timers()
		s.pump()
		got.answer(t, s, h, far, tb, hole)
	}
	for _, p := range tb.paths {
		if p[0] == packet.NE {
			t.Fatalf("gave up a path that answers, kept NE: %v", tb.paths)
		}
	}
	// The hole is mended; the graph stays as it was.
	for i := 0; len(tb.paths) < 3; i++ {
		if i > 1200 {
			t.Fatalf("never offered every path again: paths %v", tb.paths)
		}
		s.now = s.now.Add(100 * time.Millisecond)
		s.timers()
		s.pump()
		got.answer(t, s, h, far, tb, func(packet.Dir) bool { return false })
	}
}

// farEnd is the far tile's receiver, enough of it to acknowledge what
// arrived: the bytes in order, and up to maxSacks ranges beyond a hole.
type farEnd struct{ have []bool }

// answer is like answer above, with ACKs of what arrived only.
func (f *farEnd) answer(t *testing.T, s *Service, h *fakeHost, far p2p.TileID, tb *tube, drop func(packet.Dir) bool) {
	t.Helper()
	for _, p := range h.take() {
		hd, in, err := parseRouted(p.payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseRoutedMsg(in, far, selfTile)
		if err != nil || m.typ != msgData || drop(p.to) {
			continue
		}
		for end := int(m.seq) + len(m.data); len(f.have) < end; {
			f.have = append(f.have, false)
		}
		for i := range m.data {
			f.have[int(m.seq)+i] = true
		}
		ack := 0
		for ack < len(f.have) && f.have[ack] {
			ack++
		}
		var sacks []span
		for i := ack; i < len(f.have) && len(sacks) < maxSacks; {
			for i < len(f.have) && !f.have[i] {
				i++
			}
			j := i
			for j < len(f.have) && f.have[j] {
				j++
			}
			if j > i {
				sacks = append(sacks, span{uint32(i), uint32(j)})
			}
			i = j
		}
		a := appendAck(nil, tb.id, uint32(ack), uint32(ack), uint32(ack)+1<<20, sacks)
		deliver(s, p.to, routedTo(hd.back(), hd.n, far, selfTile, a))
	}
	h.room = [8]int{}
	for _, d := range packet.Links {
		if h.live(d) {
			h.room[d] = 1000
		}
	}
}

// TestRotatedPathsComeBack: an OPEN retried on its next path leaves the
// tube's paths turned round; on one path at a time, that is a longer
// path than the shortest for as long as the graph stays. A while after
// it opened, it is offered the paths in their order again.
func TestRotatedPathsComeBack(t *testing.T) {
	s, h, tb, far := stripedTube(t, 1<<20)
	s.routes = staticRouter{diamond(far)}
	s.cfg.Paths = 1
	tb.paths = s.candidates(s.graph(), far)
	tb.stripe = 1
	first := routes.FormatRoute(tb.paths[0])
	s.rotatePath(tb)
	if routes.FormatRoute(tb.primary()) == first {
		t.Fatal("rotatePath kept the first path")
	}
	var got farEnd
	for i := 0; routes.FormatRoute(tb.primary()) != first; i++ {
		if i > 1200 {
			t.Fatalf("still on %v, not %s", tb.primary(), first)
		}
		s.now = s.now.Add(100 * time.Millisecond)
		s.timers()
		s.pump()
		got.answer(t, s, h, far, tb, func(packet.Dir) bool { return false })
	}
}
