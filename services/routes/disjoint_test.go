package routes

import (
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// checkDisjoint checks that every path leads from g's self to want, that
// no two share a link (in either direction), and that they come shortest
// first.
func checkDisjoint(t *testing.T, g *Graph, want p2p.TileID, paths [][]packet.Dir) {
	t.Helper()
	type link struct {
		tile int
		d    packet.Dir
	}
	used := map[link]int{}
	for i, p := range paths {
		if end, err := g.Follow(p); err != nil || end != want {
			t.Errorf("path %d %v ends at %v, %v; want %v", i, FormatRoute(p), end, err, want)
			continue
		}
		if i > 0 && len(paths[i-1]) > len(p) {
			t.Errorf("paths not shortest first: %d then %d hops", len(paths[i-1]), len(p))
		}
		v := g.self
		for _, d := range p {
			u := int(g.adj[v][d])
			// A link is one undirected thing: name it from its lower end.
			k := link{v, d}
			if u < v {
				k = link{u, d.Opposite()}
			}
			if j, ok := used[k]; ok && j != i {
				t.Errorf("paths %d and %d share the link %v of tile %v", j, i, k.d, g.ids[k.tile])
			}
			used[k] = i
			v = u
		}
	}
}

func TestPathsOnGrid(t *testing.T) {
	grid := newTestGrid(t, 6, 6)
	tests := []struct {
		name     string
		from, to xy
		k, want  int
		shortest int // hops of the first path
	}{
		{"corners of 2 links", xy{0, 0}, xy{5, 5}, 3, 2, hexDist(xy{0, 0}, xy{5, 5})},
		{"corners of 3 links", xy{5, 0}, xy{0, 5}, 3, 3, hexDist(xy{5, 0}, xy{0, 5})},
		{"centre to centre", xy{2, 2}, xy{3, 3}, 3, 3, 2},
		{"centre to its neighbour", xy{2, 2}, xy{3, 2}, 3, 3, 1},
		{"centre, k clamped to MaxPaths", xy{2, 2}, xy{3, 3}, 6, MaxPaths, 2},
		{"centre, one asked", xy{2, 2}, xy{3, 3}, 1, 1, 2},
		{"k 0 is one", xy{2, 2}, xy{3, 3}, 0, 1, 2},
		{"k negative is one", xy{2, 2}, xy{3, 3}, -5, 1, 2},
		{"neighbours", xy{0, 0}, xy{1, 0}, 3, 2, 1},
	}
	for _, tc := range tests {
		g := grid.graph(tc.from)
		paths := g.Paths(tileAt(tc.to), tc.k)
		if len(paths) != tc.want || len(paths[0]) != tc.shortest {
			t.Errorf("%s: %d paths %v, want %d, the first of %d hops", tc.name, len(paths), paths, tc.want, tc.shortest)
		}
		checkDisjoint(t, g, tileAt(tc.to), paths)
	}
}

// The trap: the one shortest path s-a-b-t uses the link a-b that each of
// the two disjoint paths (s-a-x1-x2-t, s-y1-y2-b-t) needs one end of.
// Shortest-then-avoid finds one path; a minimum-cost flow finds both.
func TestPathsTrap(t *testing.T) {
	const s, a, b, tt, x1, x2, y1, y2 = 1, 2, 3, 4, 5, 6, 7, 8
	lsas := lsasOf([]edge{
		{s, packet.ET, a}, {a, packet.SE, b}, {b, packet.ET, tt},
		{a, packet.ET, x1}, {x1, packet.ET, x2}, {x2, packet.SE, tt},
		{s, packet.SE, y1}, {y1, packet.ET, y2}, {y2, packet.NE, b},
	})
	g := NewGraph(id(s), lsas)
	if hops, _ := g.Reachable(id(tt)); hops != 3 {
		t.Fatalf("t is %d hops away, want 3", hops)
	}
	one := g.Paths(id(tt), 1)
	if len(one) != 1 || FormatRoute(one[0]) != "ET,SE,ET" {
		t.Fatalf("one path: %v", one)
	}
	paths := g.Paths(id(tt), 3)
	if len(paths) != 2 || len(paths[0])+len(paths[1]) != 8 {
		t.Fatalf("paths %v, want two of 4 hops", paths)
	}
	checkDisjoint(t, g, id(tt), paths)
}

func TestPathsNone(t *testing.T) {
	lsas := lsasOf([]edge{{1, packet.ET, 2}, {3, packet.ET, 4}})
	g := NewGraph(id(1), lsas)
	for _, to := range []p2p.TileID{id(3), id(4), id(99), id(1)} {
		if p := g.Paths(to, 3); p != nil {
			t.Errorf("paths to %v: %v, want nil", to, p)
		}
	}
	if p := g.Paths(id(2), 3); len(p) != 1 {
		t.Errorf("one link: %v", p)
	}
}

// Two links between the same two tiles are two disjoint paths.
func TestPathsParallelLinks(t *testing.T) {
	g := NewGraph(id(1), lsasOf([]edge{{1, packet.ET, 2}, {1, packet.SE, 2}}))
	paths := g.Paths(id(2), 3)
	if len(paths) != 2 {
		t.Fatalf("paths %v", paths)
	}
	checkDisjoint(t, g, id(2), paths)
}

// sharedTile returns a tile other than the ends that two paths pass, or
// false.
func sharedTile(g *Graph, paths [][]packet.Dir) (p2p.TileID, bool) {
	seen := map[int]int{}
	for i, p := range paths {
		v := g.self
		for _, d := range p[:len(p)-1] {
			v = int(g.adj[v][d])
			if j, ok := seen[v]; ok && j != i {
				return g.ids[v], true
			}
			seen[v] = i
		}
	}
	return p2p.TileID{}, false
}

// TestPathsShareNoTileWhenTheyCan: on a grid, the paths returned pass no
// tile twice between the ends, as many as link-disjoint paths would be.
func TestPathsShareNoTileWhenTheyCan(t *testing.T) {
	grid := newTestGrid(t, 6, 6)
	for _, c := range []struct{ from, to xy }{
		{xy{0, 0}, xy{5, 5}}, {xy{5, 0}, xy{0, 5}}, {xy{2, 2}, xy{3, 3}}, {xy{0, 2}, xy{5, 2}}, {xy{1, 4}, xy{4, 0}},
	} {
		g := grid.graph(c.from)
		paths := g.Paths(tileAt(c.to), 3)
		if links := g.linkDisjoint(g.index[tileAt(c.to)], 3); len(paths) != len(links) {
			t.Errorf("%v to %v: %d paths, but %d share no link", c.from, c.to, len(paths), len(links))
		}
		if tile, shared := sharedTile(g, paths); shared {
			t.Errorf("%v to %v: paths %v share tile %v", c.from, c.to, paths, tile)
		}
		checkDisjoint(t, g, tileAt(c.to), paths)
	}
}

// TestPathsBowtie: two paths that share no link exist only through one
// tile in the middle (s = a and b = m = c and d = t, a bowtie): then they
// are what Paths returns, sharing that tile.
func TestPathsBowtie(t *testing.T) {
	const s, a, b, m, c, d, tt = 1, 2, 3, 4, 5, 6, 7
	lsas := lsasOf([]edge{
		{s, packet.ET, a}, {s, packet.SE, b}, {a, packet.SE, m}, {b, packet.ET, m},
		{m, packet.ET, c}, {m, packet.SE, d}, {c, packet.SE, tt}, {d, packet.ET, tt},
	})
	g := NewGraph(id(s), lsas)
	paths := g.Paths(id(tt), 3)
	if len(paths) != 2 {
		t.Fatalf("paths %v, want two through the middle", paths)
	}
	if tile, shared := sharedTile(g, paths); !shared || tile != id(m) {
		t.Errorf("paths %v share %v, want the middle %v", paths, tile, id(m))
	}
	checkDisjoint(t, g, id(tt), paths)
	if n := g.nodeDisjoint(g.index[id(tt)], 2); len(n) != 1 {
		t.Errorf("node-disjoint: %v, want one", n)
	}
}
