package routes

import (
	"slices"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

func TestGridHelperMatchesBrickWall(t *testing.T) {
	g := newTestGrid(t, 6, 6)
	for _, tc := range []struct {
		c     xy
		links int
	}{{xy{0, 0}, 2}, {xy{5, 0}, 3}, {xy{0, 5}, 3}, {xy{5, 5}, 2}, {xy{2, 2}, 6}, {xy{0, 2}, 3}, {xy{0, 3}, 5}, {xy{5, 2}, 5}, {xy{5, 3}, 3}} {
		if n := int(g.at[tc.c].N); n != tc.links {
			t.Errorf("tile %v has %d links, want %d", tc.c, n, tc.links)
		}
	}
	// If B is A's neighbour on d, A is B's on d.Opposite().
	for c := range g.at {
		for _, d := range packet.Links {
			if n := step(c, d); step(n, d.Opposite()) != c {
				t.Errorf("%v %v -> %v, back %v -> %v", c, d, n, d.Opposite(), step(n, d.Opposite()))
			}
		}
	}
}

func TestGraphCountsOnlyLinksBothEndsList(t *testing.T) {
	a, b, c := id(1), id(2), id(3)
	one := func(o p2p.TileID, links ...Link) *LSA {
		l := &LSA{Origin: o, Seq: 1}
		l.N = uint8(copy(l.Links[:], links))
		return l
	}
	tests := []struct {
		name string
		lsas []*LSA
		want bool // b reachable from a
	}{
		{"both list it", []*LSA{one(a, Link{packet.ET, b}), one(b, Link{packet.WT, a})}, true},
		{"only a lists it", []*LSA{one(a, Link{packet.ET, b}), one(b)}, false},
		{"only b lists it", []*LSA{one(a), one(b, Link{packet.WT, a})}, false},
		{"b has no LSA", []*LSA{one(a, Link{packet.ET, b})}, false},
		{"directions not opposite", []*LSA{one(a, Link{packet.ET, b}), one(b, Link{packet.NW, a})}, false},
		{"same direction both ends", []*LSA{one(a, Link{packet.ET, b}), one(b, Link{packet.ET, a})}, false},
		{"b lists a third tile there", []*LSA{one(a, Link{packet.ET, b}), one(b, Link{packet.WT, c}), one(c)}, false},
		{"a lists itself", []*LSA{one(a, Link{packet.ET, a})}, false},
	}
	for _, tc := range tests {
		g := NewGraph(a, tc.lsas)
		if _, ok := g.Reachable(b); ok != tc.want {
			t.Errorf("%s: b reachable %v, want %v", tc.name, ok, tc.want)
		}
		if tc.name == "a lists itself" && len(g.Routes()) != 0 {
			t.Errorf("a self-link made routes %v", g.Routes())
		}
	}
}

func TestGraphHopsNextPath(t *testing.T) {
	for _, size := range []xy{{3, 3}, {6, 6}} {
		grid := newTestGrid(t, size.X, size.Y)
		for from := range grid.at {
			g := grid.graph(from)
			routes := g.Routes()
			if len(routes) != size.X*size.Y-1 {
				t.Fatalf("%v from %v: %d routes", size, from, len(routes))
			}
			for i, r := range routes {
				to := xy{int(r.Tile[2]), int(r.Tile[3])}
				if want := hexDist(from, to); r.Hops != want {
					t.Errorf("%v from %v to %v: %d hops, want %d", size, from, to, r.Hops, want)
				}
				if i > 0 && routes[i-1].Hops > r.Hops {
					t.Errorf("routes not nearest first: %d then %d hops", routes[i-1].Hops, r.Hops)
				}
				if len(r.Path) != r.Hops || r.Path[0] != r.Next {
					t.Errorf("%v from %v to %v: path %v, next %v, hops %d", size, from, to, FormatRoute(r.Path), r.Next, r.Hops)
				}
				if end, err := g.Follow(r.Path); err != nil || end != r.Tile {
					t.Errorf("%v from %v: path %v ends at %v, %v; want %v", size, from, FormatRoute(r.Path), end, err, r.Tile)
				}
				if hops, ok := g.Reachable(r.Tile); !ok || hops != r.Hops {
					t.Errorf("Reachable(%v) = %d, %v; route has %d", to, hops, ok, r.Hops)
				}
			}
		}
	}
	g := newTestGrid(t, 3, 3).graph(xy{0, 0})
	if g.Self() != tileAt(xy{0, 0}) || g.Known() != 9 {
		t.Errorf("Self %v, Known %d", g.Self(), g.Known())
	}
	if _, ok := g.Reachable(id(99)); ok {
		t.Errorf("an unknown tile is reachable")
	}
	if hops, ok := g.Reachable(g.Self()); !ok || hops != 0 {
		t.Errorf("self: %d hops, %v", hops, ok)
	}
}

// Every alternative next hop is loop-free: the neighbour it leads to is no
// farther from the destination than this tile, so it never sends the
// packet straight back.
func TestGraphAlternativesLoopFree(t *testing.T) {
	grid := newTestGrid(t, 6, 6)
	total := 0
	for from := range grid.at {
		g := grid.graph(from)
		for _, r := range g.Routes() {
			for i, d := range r.Alternatives {
				total++
				if d == r.Next || slices.Contains(r.Alternatives[:i], d) {
					t.Errorf("from %v to %v: alternatives %v repeat next %v", from, r.Tile, r.Alternatives, r.Next)
				}
				n, err := g.Follow([]packet.Dir{d})
				if err != nil {
					t.Fatalf("alternative %v is no link: %v", d, err)
				}
				hops, ok := NewGraph(n, grid.lsas).Reachable(r.Tile)
				if !ok || hops > r.Hops {
					t.Errorf("from %v to %v (%d hops): alternative %v is %d hops away", from, r.Tile, r.Hops, d, hops)
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("a 6x6 grid gave no alternatives")
	}
	// From the centre to a tile 2 hops straight east, the only
	// equal-cost first links are NE..SE round; NW and WT go farther.
	g := grid.graph(xy{2, 2})
	for _, r := range g.Routes() {
		if r.Tile == tileAt(xy{4, 2}) {
			all := append([]packet.Dir{r.Next}, r.Alternatives...)
			slices.Sort(all)
			if !slices.Equal(all, []packet.Dir{packet.NE, packet.ET, packet.SE}) {
				t.Errorf("(2,2) to (4,2): next and alternatives %v", all)
			}
		}
	}
}

func TestFollowAndResolve(t *testing.T) {
	grid := newTestGrid(t, 6, 6)
	// Two known tiles no route reaches, sharing the prefix beef01.
	far1 := &LSA{Origin: p2p.TileID{0xbe, 0xef, 0x01, 0x10}, Seq: 1}
	far2 := &LSA{Origin: p2p.TileID{0xbe, 0xef, 0x01, 0x20}, Seq: 1}
	g := NewGraph(tileAt(xy{0, 0}), append(slices.Clone(grid.lsas), far1, far2))
	tests := []struct {
		name  string
		want  p2p.TileID
		fails string // part of the error, "" for none
	}{
		{"", g.Self(), ""},
		{"here", g.Self(), ""},
		{" here ", g.Self(), ""},
		{"ET,ET", tileAt(xy{2, 0}), ""},
		{"et, se", tileAt(xy{1, 1}), ""},
		{"SE,SE,SE", tileAt(xy{1, 3}), ""},
		{"NW", p2p.TileID{}, "no link there"},
		{"ET,NE", p2p.TileID{}, "step 2"},
		{"ET,XX", p2p.TileID{}, "not a link direction"},
		{"ET,NT", p2p.TileID{}, "not a link direction"},
		{"ET,", p2p.TileID{}, "not a link direction"},
		{tileAt(xy{3, 4}).String(), tileAt(xy{3, 4}), ""},
		{strings.ToUpper(tileAt(xy{3, 4}).String()), tileAt(xy{3, 4}), ""},
		{"0123456789abcdef", p2p.TileID{1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, ""}, // a full identity need not be known
		{"347a", tileAt(xy{3, 4}), ""},
		{"347A03", tileAt(xy{3, 4}), ""},
		{"beef0110", far1.Origin, ""},
		{"beef01", p2p.TileID{}, "2 known tiles"},
		{"beef", p2p.TileID{}, "2 known tiles"},
		{"9999", p2p.TileID{}, "no known tile"},
		{"347", p2p.TileID{}, "want a tile identity"},
		{"zz", p2p.TileID{}, "want a tile identity"},
	}
	for _, tc := range tests {
		got, err := g.Resolve(tc.name)
		switch {
		case tc.fails == "" && (err != nil || got != tc.want):
			t.Errorf("Resolve(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		case tc.fails != "" && (err == nil || !strings.Contains(err.Error(), tc.fails)):
			t.Errorf("Resolve(%q) = %v, %v; want an error with %q", tc.name, got, err, tc.fails)
		}
	}
	if end, err := g.Follow(nil); err != nil || end != g.Self() {
		t.Errorf("Follow(nil) = %v, %v", end, err)
	}
}

func TestParseFormatRoute(t *testing.T) {
	for _, s := range []string{"ET", "ET,ET,SE", "NE,ET,SE,SW,WT,NW"} {
		r, err := ParseRoute(s)
		if err != nil || FormatRoute(r) != s {
			t.Errorf("ParseRoute(%q) = %v, %v; formats as %q", s, r, err, FormatRoute(r))
		}
	}
	for _, s := range []string{"", "ET,,SE", "NT", "ST", "north", "ET;SE"} {
		if r, err := ParseRoute(s); err == nil {
			t.Errorf("ParseRoute(%q) = %v, want an error", s, r)
		}
	}
	if FormatRoute(nil) != "" {
		t.Errorf("FormatRoute(nil) = %q", FormatRoute(nil))
	}
}

func TestGraphSame(t *testing.T) {
	edges := []edge{{1, packet.ET, 2}, {2, packet.ET, 3}, {1, packet.SE, 3}}
	base := lsasOf(edges)
	reversed := slices.Clone(base)
	slices.Reverse(reversed)
	refreshed := slices.Clone(base)
	r := *refreshed[2]
	r.Seq = 7
	refreshed[2] = &r
	lonely := append(slices.Clone(base), &LSA{Origin: id(9), Seq: 1})
	g := NewGraph(id(1), base)
	for _, c := range []struct {
		name string
		o    *Graph
		want bool
	}{
		{"itself", g, true},
		{"LSAs in another order", NewGraph(id(1), reversed), true},
		{"a newer LSA listing the same links", NewGraph(id(1), refreshed), true},
		{"nil", nil, false},
		{"seen from another tile", NewGraph(id(2), base), false},
		{"a link gone", NewGraph(id(1), lsasOf(edges[:2])), false},
		{"a link moved", NewGraph(id(1), lsasOf([]edge{{1, packet.ET, 2}, {2, packet.ET, 3}, {1, packet.NE, 3}})), false},
		{"an unreachable tile more", NewGraph(id(1), lonely), false},
	} {
		if got := g.same(c.o); got != c.want {
			t.Errorf("%s: same %v, want %v", c.name, got, c.want)
		}
	}
}
