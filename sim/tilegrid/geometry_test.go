package tilegrid

import (
	"math"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestNeighbourTable(t *testing.T) {
	g := Geometry{W: 4, H: 4}
	cases := []struct {
		c    Coord
		d    packet.Dir
		want Coord
		ok   bool
	}{
		// even row
		{Coord{1, 2}, packet.NE, Coord{1, 1}, true},
		{Coord{1, 2}, packet.NW, Coord{0, 1}, true},
		{Coord{1, 2}, packet.SE, Coord{1, 3}, true},
		{Coord{1, 2}, packet.SW, Coord{0, 3}, true},
		{Coord{1, 2}, packet.ET, Coord{2, 2}, true},
		{Coord{1, 2}, packet.WT, Coord{0, 2}, true},
		// odd row
		{Coord{1, 1}, packet.NE, Coord{2, 0}, true},
		{Coord{1, 1}, packet.NW, Coord{1, 0}, true},
		{Coord{1, 1}, packet.SE, Coord{2, 2}, true},
		{Coord{1, 1}, packet.SW, Coord{1, 2}, true},
		// edges
		{Coord{0, 0}, packet.NE, Coord{}, false},
		{Coord{0, 0}, packet.WT, Coord{}, false},
		{Coord{0, 0}, packet.SW, Coord{}, false},
		{Coord{3, 1}, packet.ET, Coord{}, false},
		{Coord{3, 1}, packet.NE, Coord{}, false},
		{Coord{0, 3}, packet.SE, Coord{}, false},
		{Coord{0, 0}, packet.NT, Coord{}, false},
		{Coord{0, 0}, packet.ST, Coord{}, false},
	}
	for _, tc := range cases {
		got, ok := g.Neighbour(tc.c, tc.d)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%v %v: got %v %v, want %v %v", tc.c, tc.d, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNeighbourSymmetry(t *testing.T) {
	for _, g := range []Geometry{{1, 1}, {1, 5}, {5, 1}, {2, 2}, {3, 3}, {4, 7}, {7, 4}, {10, 10}} {
		links := 0
		for _, c := range g.Coords() {
			seen := map[Coord]bool{}
			for _, l := range g.Links(c) {
				links++
				if seen[l.To] {
					t.Errorf("%v: %v is a neighbour twice", g, l.To)
				}
				seen[l.To] = true
				back, ok := g.Neighbour(l.To, l.Dir.Opposite())
				if !ok || back != c {
					t.Errorf("%v: %v is %v's %v neighbour, but %v's %v is %v %v", g, l.To, c, l.Dir, l.To, l.Dir.Opposite(), back, ok)
				}
			}
			if n := g.Degree(c); n > 6 {
				t.Errorf("%v: %v has %d neighbours", g, c, n)
			}
		}
		if len(g.AllLinks()) != links || links%2 != 0 {
			t.Errorf("%v: %d link directions", g, links)
		}
	}
}

func TestDegrees(t *testing.T) {
	g := Geometry{W: 4, H: 4}
	for c, want := range map[Coord]int{
		{0, 0}: 2, // top-left corner: ET, SE
		{3, 0}: 3, // WT, SW, SE
		{0, 1}: 5, // odd row, left end: no WT
		{3, 1}: 3, // odd row, right end: WT, NW, SW
		{1, 1}: 6,
		{2, 2}: 6,
		{0, 3}: 3, // odd bottom row, left: NW, NE, ET
	} {
		if got := g.Degree(c); got != want {
			t.Errorf("degree of %v = %d, want %d", c, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"t-2-3", "2,3"} {
		c, err := ParseCoord(s)
		if err != nil || c != (Coord{2, 3}) {
			t.Errorf("ParseCoord(%q) = %v, %v", s, c, err)
		}
	}
	for _, s := range []string{"", "t-2", "t-a-3", "t--1-3", "2,3,4", "x2y3"} {
		if _, err := ParseCoord(s); err == nil {
			t.Errorf("ParseCoord(%q) did not fail", s)
		}
	}
	if c := (Coord{12, 7}); c.Name() != "t-12-7" {
		t.Errorf("name %q", c.Name())
	}
	g, err := ParseGeometry("10x4")
	if err != nil || g != (Geometry{10, 4}) {
		t.Errorf("ParseGeometry = %v, %v", g, err)
	}
	for _, s := range []string{"", "4", "0x4", "4x-1", "axb", "100x100"} {
		if _, err := ParseGeometry(s); err == nil {
			t.Errorf("ParseGeometry(%q) did not fail", s)
		}
	}
}

func TestEccentricityAndFlow(t *testing.T) {
	cases := []struct {
		g            Geometry
		src          Coord
		ecc, lambda  int
		flowTo       Coord
		flow         int
		corner, near int
	}{
		{g: Geometry{1, 1}, src: Coord{0, 0}, ecc: 0, lambda: 0},
		{g: Geometry{5, 1}, src: Coord{0, 0}, ecc: 4, lambda: 1, flowTo: Coord{4, 0}, flow: 1},
		{g: Geometry{2, 2}, src: Coord{0, 0}, ecc: 2, lambda: 2, flowTo: Coord{1, 1}, flow: 2},
		// 4x4 from the top-left corner: the source has degree 2, so
		// nothing gets more than 2; the far corner (3,3) is 5 hops away
		// (three rows down gain one column and a half at most).
		{g: Geometry{4, 4}, src: Coord{0, 0}, ecc: 5, lambda: 2, flowTo: Coord{2, 2}, flow: 2},
		// from the middle: the corner (0,0) with degree 2 limits lambda.
		{g: Geometry{4, 4}, src: Coord{1, 1}, ecc: 3, lambda: 2, flowTo: Coord{2, 2}, flow: 6},
		{g: Geometry{10, 10}, src: Coord{0, 0}, ecc: 14, lambda: 2},
	}
	for _, tc := range cases {
		if got := tc.g.Eccentricity(tc.src); got != tc.ecc {
			t.Errorf("%v from %v: eccentricity %d, want %d", tc.g, tc.src, got, tc.ecc)
		}
		if got := tc.g.Lambda(tc.src); got != tc.lambda {
			t.Errorf("%v from %v: lambda %d, want %d", tc.g, tc.src, got, tc.lambda)
		}
		if tc.flow > 0 {
			if got := tc.g.MaxFlow(tc.src, tc.flowTo); got != tc.flow {
				t.Errorf("%v: max flow %v->%v = %d, want %d", tc.g, tc.src, tc.flowTo, got, tc.flow)
			}
		}
	}
	// Max flow is symmetric and at most the smaller degree.
	g := Geometry{5, 4}
	for _, a := range g.Coords() {
		for _, b := range g.Coords() {
			if a == b {
				continue
			}
			f := g.MaxFlow(a, b)
			if f != g.MaxFlow(b, a) || f > min(g.Degree(a), g.Degree(b)) || f < 1 {
				t.Fatalf("max flow %v<->%v = %d / %d, degrees %d %d", a, b, f, g.MaxFlow(b, a), g.Degree(a), g.Degree(b))
			}
		}
	}
}

// TestDistancesHex checks the hop counts against the hexagonal distance of
// the "odd rows shifted right" layout in cube coordinates.
func TestDistancesHex(t *testing.T) {
	cube := func(c Coord) (int, int) { return c.X - (c.Y-c.Y&1)/2, c.Y }
	abs := func(a int) int { return max(a, -a) }
	for _, g := range []Geometry{{4, 4}, {7, 3}, {3, 8}, {10, 10}} {
		for _, a := range g.Coords() {
			dist := g.Distances(a)
			qa, ra := cube(a)
			for _, b := range g.Coords() {
				qb, rb := cube(b)
				dq, dr := qb-qa, rb-ra
				if want := (abs(dq) + abs(dr) + abs(dq+dr)) / 2; dist[g.Index(b)] != want {
					t.Fatalf("%v: %v->%v = %d hops, hex distance %d", g, a, b, dist[g.Index(b)], want)
				}
			}
		}
	}
}

func TestBounds(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9*max(1, math.Abs(b)) }
	g := Geometry{4, 4}
	src := Coord{0, 0}
	// 1 MiB at 64 KiB/s: B_eff = 65536*253/255, t_c = 255/65536, D = 5.
	const S = 1 << 20
	beff := 65536.0 * 253 / 255
	tc := 255.0 / 65536
	if got, want := g.LowerBound(src, 65536, S), S/beff+5*tc; !near(got, want) {
		t.Errorf("LowerBound = %v, want %v", got, want)
	}
	if got, want := g.MultipathBound(src, 65536, S), S/(2*beff)+5*tc; !near(got, want) {
		t.Errorf("MultipathBound = %v, want %v", got, want)
	}
	// About 16.1 s and 8.1 s: the S/B_eff term dominates.
	if lb := g.LowerBound(src, 65536, S); lb < 16 || lb > 16.2 {
		t.Errorf("LowerBound = %v s, want about 16.1", lb)
	}
	// A line has one path: both bounds agree.
	line := Geometry{6, 1}
	if a, b := line.LowerBound(src, 1000, 5000), line.MultipathBound(src, 1000, 5000); !near(a, b) || !near(a, 5000/(1000.0*253/255)+5*0.255) {
		t.Errorf("line bounds %v %v", a, b)
	}
	if b := (Geometry{1, 1}).LowerBound(src, 65536, S); b != 0 {
		t.Errorf("one tile: bound %v, want 0", b)
	}
	if b := g.LowerBound(src, 0, S); !math.IsNaN(b) {
		t.Errorf("unlimited links: bound %v, want NaN", b)
	}
	if b := g.LowerBound(Coord{9, 9}, 65536, S); !math.IsNaN(b) {
		t.Errorf("source outside: bound %v, want NaN", b)
	}
}
