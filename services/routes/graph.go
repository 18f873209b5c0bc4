package routes

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Graph is the grid as a set of LSAs shows it, seen from one tile: only
// links both ends list count. It is immutable once built, so the service
// publishes it for status and control to read from other goroutines.
type Graph struct {
	self  int // index of this tile
	ids   []p2p.TileID
	index map[p2p.TileID]int
	// adj[i][d] is the tile on link d of tile i, -1 for none.
	adj [][8]int32
	// dist[i] is the hops from self, -1 for unreachable.
	dist []int32
}

// NewGraph builds the graph of lsas seen from self. lsas holds at most one
// LSA per origin; self's own is among them.
func NewGraph(self p2p.TileID, lsas []*LSA) *Graph {
	g := &Graph{index: make(map[p2p.TileID]int, len(lsas)+1)}
	g.self = g.node(self)
	for _, l := range lsas {
		g.node(l.Origin)
	}
	byOrigin := make([]*LSA, len(g.ids))
	for _, l := range lsas {
		byOrigin[g.index[l.Origin]] = l
	}
	g.adj = make([][8]int32, len(g.ids))
	for i := range g.adj {
		g.adj[i] = [8]int32{-1, -1, -1, -1, -1, -1, -1, -1}
	}
	// A link counts when its far end lists it back from the opposite
	// direction: a tile cannot claim a neighbour alone.
	for i, l := range byOrigin {
		if l == nil {
			continue
		}
		for _, k := range l.Neighbours() {
			j, ok := g.index[k.Tile]
			if !ok || byOrigin[j] == nil || j == i {
				continue
			}
			if lists(byOrigin[j], k.Dir.Opposite(), l.Origin) {
				g.adj[i][k.Dir] = int32(j)
			}
		}
	}
	g.dist = g.bfs(g.self)
	return g
}

func (g *Graph) node(id p2p.TileID) int {
	if i, ok := g.index[id]; ok {
		return i
	}
	g.index[id] = len(g.ids)
	g.ids = append(g.ids, id)
	return len(g.ids) - 1
}

func lists(l *LSA, d packet.Dir, tile p2p.TileID) bool {
	for _, k := range l.Neighbours() {
		if k.Dir == d && k.Tile == tile {
			return true
		}
	}
	return false
}

// bfs returns hops from src to every tile, -1 for unreachable.
func (g *Graph) bfs(src int) []int32 {
	dist := make([]int32, len(g.ids))
	for i := range dist {
		dist[i] = -1
	}
	dist[src] = 0
	queue := []int32{int32(src)}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, d := range packet.Links {
			v := g.adj[u][d]
			if v < 0 || dist[v] >= 0 {
				continue
			}
			dist[v] = dist[u] + 1
			queue = append(queue, v)
		}
	}
	return dist
}

// same reports whether o is the grid g is: the same tiles, linked the
// same way, seen from the same tile (the order of the LSAs it was built
// from does not matter).
func (g *Graph) same(o *Graph) bool {
	if o == nil || len(g.ids) != len(o.ids) || g.Self() != o.Self() {
		return false
	}
	for i, id := range g.ids {
		j, ok := o.index[id]
		if !ok {
			return false
		}
		for d, v := range g.adj[i] {
			w := o.adj[j][d]
			if (v < 0) != (w < 0) || v >= 0 && g.ids[v] != o.ids[w] {
				return false
			}
		}
	}
	return true
}

// Self is the tile the graph is seen from.
func (g *Graph) Self() p2p.TileID { return g.ids[g.self] }

// Known is how many tiles the LSAs name (reachable or not).
func (g *Graph) Known() int { return len(g.ids) }

// Links counts the links both ends list, each once.
func (g *Graph) Links() int {
	n := 0
	for _, a := range g.adj {
		for _, v := range a {
			if v >= 0 {
				n++
			}
		}
	}
	return n / 2
}

// Reachable reports whether tile can be reached, and in how many hops.
func (g *Graph) Reachable(tile p2p.TileID) (hops int, ok bool) {
	i, ok := g.index[tile]
	if !ok || g.dist[i] < 0 {
		return 0, false
	}
	return int(g.dist[i]), true
}

// Route is how to reach one tile.
type Route struct {
	Tile p2p.TileID `json:"tile"`
	Hops int        `json:"hops"`
	// Next is the link a shortest path leaves by; Path is that path.
	Next packet.Dir   `json:"-"`
	Path []packet.Dir `json:"-"`
	// Alternatives are the other links that reach the tile without
	// coming back through this one: as short (equal cost) or one hop
	// longer (loop-free).
	Alternatives []packet.Dir `json:"-"`
}

// Routes returns a route to every reachable tile but self, nearest first.
func (g *Graph) Routes() []Route {
	// One BFS from each neighbour finds the alternatives: neighbour n is
	// loop-free for tile t when dist(n, t) <= dist(self, t).
	var fromNeighbour [8][]int32
	for _, d := range packet.Links {
		if n := g.adj[g.self][d]; n >= 0 {
			fromNeighbour[d] = g.bfs(int(n))
		}
	}
	var out []Route
	for i, h := range g.dist {
		if h <= 0 {
			continue
		}
		r := Route{Tile: g.ids[i], Hops: int(h), Path: g.path(i)}
		r.Next = r.Path[0]
		for _, d := range packet.Links {
			if d != r.Next && fromNeighbour[d] != nil && fromNeighbour[d][i] >= 0 && fromNeighbour[d][i] <= h {
				r.Alternatives = append(r.Alternatives, d)
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int {
		if a.Hops != b.Hops {
			return a.Hops - b.Hops
		}
		return bytes.Compare(a.Tile[:], b.Tile[:]) // the order of their hex
	})
	return out
}

// path returns the links of a shortest path from self to tile i: walking
// back from i, the lowest-numbered link one hop nearer to self, so every
// computation over the same LSAs picks the same path.
func (g *Graph) path(i int) []packet.Dir {
	if g.dist[i] < 0 {
		return nil
	}
	// Walk back from i along decreasing distance, then reverse.
	rev := make([]packet.Dir, 0, g.dist[i])
	for v := i; v != g.self; {
		for _, d := range packet.Links {
			u := g.adj[v][d]
			if u >= 0 && g.dist[u] == g.dist[v]-1 {
				rev = append(rev, d.Opposite())
				v = int(u)
				break
			}
		}
	}
	slices.Reverse(rev)
	return rev
}

// Follow walks links from self, as a route of directions names a tile
// (ET,ET,SE), and returns the tile it ends at.
func (g *Graph) Follow(route []packet.Dir) (p2p.TileID, error) {
	v := g.self
	for i, d := range route {
		n := g.adj[v][d]
		if n < 0 {
			return p2p.TileID{}, fmt.Errorf("route step %d (%v): no link there from %v", i+1, d, g.ids[v])
		}
		v = int(n)
	}
	return g.ids[v], nil
}

// Resolve names a tile: 16 hex digits, a unique prefix of at least 4 of
// them among the tiles known, or a route of directions from here such as
// "ET,ET,SE" ("" or "here" is this tile).
func (g *Graph) Resolve(name string) (p2p.TileID, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "here" {
		return g.Self(), nil
	}
	route, err := ParseRoute(name)
	switch {
	case err == nil:
		return g.Follow(route)
	case strings.Contains(name, ","):
		return p2p.TileID{}, err // a route, not an identity: say which step is wrong
	}
	if id, err := p2p.ParseTileID(name); err == nil {
		return id, nil
	}
	if len(name) < 4 {
		return p2p.TileID{}, fmt.Errorf("tile %q: want a tile identity (16 hex digits, or a unique prefix of 4 or more) or a route of directions such as ET,ET,SE", name)
	}
	var found []p2p.TileID
	lower := strings.ToLower(name)
	for _, id := range g.ids {
		if strings.HasPrefix(id.String(), lower) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return p2p.TileID{}, fmt.Errorf("tile %q: no known tile's identity starts so", name)
	case 1:
		return found[0], nil
	}
	return p2p.TileID{}, fmt.Errorf("tile %q: %d known tiles start so: give more digits", name, len(found))
}

// ParseRoute parses directions separated by commas, such as "ET,ET,SE".
func ParseRoute(s string) ([]packet.Dir, error) {
	var out []packet.Dir
	for _, f := range strings.Split(s, ",") {
		d, err := packet.ParseDir(strings.TrimSpace(f))
		if err != nil || !d.IsLink() {
			return nil, fmt.Errorf("route %q: %q is not a link direction (NE ET SE SW WT NW)", s, f)
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatRoute prints directions as ParseRoute reads them.
func FormatRoute(r []packet.Dir) string {
	s := make([]string, len(r))
	for i, d := range r {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}
