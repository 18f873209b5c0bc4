package routes

import (
	"crypto/ed25519"
	"sync"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// xy is a tile's place in a test grid: column X, row Y.
type xy struct{ X, Y int }

// step is the place next to c on d in the T2 brick wall, as
// sim/tilegrid.Step has it: odd rows are shifted half a tile right.
func step(c xy, d packet.Dir) xy {
	odd := c.Y&1 == 1
	switch d {
	case packet.ET:
		return xy{c.X + 1, c.Y}
	case packet.WT:
		return xy{c.X - 1, c.Y}
	case packet.NE:
		if odd {
			return xy{c.X + 1, c.Y - 1}
		}
		return xy{c.X, c.Y - 1}
	case packet.NW:
		if odd {
			return xy{c.X, c.Y - 1}
		}
		return xy{c.X - 1, c.Y - 1}
	case packet.SE:
		if odd {
			return xy{c.X + 1, c.Y + 1}
		}
		return xy{c.X, c.Y + 1}
	case packet.SW:
		if odd {
			return xy{c.X, c.Y + 1}
		}
		return xy{c.X - 1, c.Y + 1}
	}
	panic("step on a direction with no link")
}

// hexDist is the hop distance between two places of an unbounded brick
// wall (odd rows shifted right), by axial coordinates.
func hexDist(a, b xy) int {
	q := func(c xy) int { return c.X - (c.Y-(c.Y&1))/2 }
	dq, dr := q(b)-q(a), b.Y-a.Y
	abs := func(v int) int { return max(v, -v) }
	return (abs(dq) + abs(dr) + abs(dq+dr)) / 2
}

// tileAt is the identity of the tile at c: its first byte is column and
// row (so 4 hex digits name it), then 7a and the column and row again.
func tileAt(c xy) p2p.TileID {
	return p2p.TileID{byte(c.X)<<4 | byte(c.Y&15), 0x7a, byte(c.X), byte(c.Y), 0, 0, 0, 1}
}

// testGrid is a W x H brick-wall grid of tiles with an LSA each listing its
// neighbours by direction, seq 1.
type testGrid struct {
	w, h int
	lsas []*LSA
	at   map[xy]*LSA
}

func newTestGrid(t testing.TB, w, h int) *testGrid {
	t.Helper()
	if w > 16 || h > 16 {
		t.Fatalf("test grid %dx%d: tileAt names at most 16x16", w, h)
	}
	g := &testGrid{w: w, h: h, at: make(map[xy]*LSA)}
	for y := range h {
		for x := range w {
			c := xy{x, y}
			l := &LSA{Origin: tileAt(c), Seq: 1}
			for _, d := range packet.Links {
				if n := step(c, d); g.contains(n) {
					l.Links[l.N] = Link{Dir: d, Tile: tileAt(n)}
					l.N++
				}
			}
			g.lsas = append(g.lsas, l)
			g.at[c] = l
		}
	}
	return g
}

func (g *testGrid) contains(c xy) bool { return c.X >= 0 && c.Y >= 0 && c.X < g.w && c.Y < g.h }

// graph is the grid seen from c.
func (g *testGrid) graph(c xy) *Graph { return NewGraph(tileAt(c), g.lsas) }

// edge is one link of a hand-drawn topology: a's link d reaches b.
type edge struct {
	a byte
	d packet.Dir
	b byte
}

// keyOf is tile n's signing key, the same in every run.
func keyOf(n int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1], seed[2] = 0xbb, byte(n), byte(n>>8)
	return ed25519.NewKeyFromSeed(seed)
}

// byID maps the identities id gives back to their tile numbers.
var byID sync.Map

// id names tile n of a hand-drawn topology: the identity its key gives,
// so LSAs signed with keyOf(n) are its own.
func id(n byte) p2p.TileID { return idN(int(n)) }

// idN is id for numbers past a byte.
func idN(n int) p2p.TileID {
	t := p2p.IdentityOf(keyOf(n).Public().(ed25519.PublicKey))
	byID.Store(t, n)
	return t
}

// signed returns l signed by its origin's key (an origin id made).
func signed(l *LSA) *LSA {
	n, ok := byID.Load(l.Origin)
	if !ok {
		panic("an origin id did not make: " + l.Origin.String())
	}
	c := *l
	c.Sign(keyOf(n.(int)))
	return &c
}

// lsasOf makes the LSAs of a hand-drawn topology: both ends list each edge.
func lsasOf(edges []edge) []*LSA {
	by := map[byte]*LSA{}
	var out []*LSA
	get := func(n byte) *LSA {
		if l, ok := by[n]; ok {
			return l
		}
		l := &LSA{Origin: id(n), Seq: 1}
		by[n] = l
		out = append(out, l)
		return l
	}
	for _, e := range edges {
		a, b := get(e.a), get(e.b)
		a.Links[a.N] = Link{Dir: e.d, Tile: b.Origin}
		a.N++
		b.Links[b.N] = Link{Dir: e.d.Opposite(), Tile: a.Origin}
		b.N++
	}
	return out
}
