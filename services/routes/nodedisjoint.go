package routes

import (
	"slices"

	"github.com/t2tiles/itcd/itc/packet"
)

// nodeDisjoint returns up to k paths from self to tile t (an index) that
// share no tile but the two ends, with the least total hops: the same
// minimum-cost flow as Paths, on a graph where each tile between is a
// door only one path may pass. Fewer than k when fewer exist.
func (g *Graph) nodeDisjoint(t, k int) [][]packet.Dir {
	n := len(g.ids)
	s := g.self
	// Nodes: 2i is tile i's way in, 2i+1 its way out. Arcs: in -> out
	// (capacity 1, or k at the ends), and out -> in of each neighbour
	// (capacity 1, cost 1). A unit of flow on an arc shows as capacity
	// taken from it and given to its reverse.
	type arc struct {
		to, rev int
		cap     int
		cost    int
		dir     packet.Dir // the link, for link arcs
	}
	arcs := make([]arc, 0, 2*n+2*6*n)
	adj := make([][]int, 2*n)
	add := func(a, b, capacity, cost int, d packet.Dir) {
		adj[a] = append(adj[a], len(arcs))
		arcs = append(arcs, arc{to: b, rev: len(arcs) + 1, cap: capacity, cost: cost, dir: d})
		adj[b] = append(adj[b], len(arcs))
		arcs = append(arcs, arc{to: a, rev: len(arcs) - 1, cap: 0, cost: -cost, dir: d})
	}
	for i := range n {
		c := 1
		if i == s || i == t {
			c = k
		}
		add(2*i, 2*i+1, c, 0, 0)
		for _, d := range packet.Links {
			if j := g.adj[i][d]; j >= 0 {
				add(2*i+1, 2*int(j), 1, 1, d)
			}
		}
	}
	src, dst := 2*s, 2*t+1
	found := 0
	for ; found < k; found++ {
		// Bellman-Ford (queue-based) for the cheapest augmenting path.
		dist := make([]int, 2*n)
		via := make([]int, 2*n)
		inQ := make([]bool, 2*n)
		for i := range dist {
			dist[i], via[i] = 1<<30, -1
		}
		dist[src] = 0
		q := []int{src}
		inQ[src] = true
		for steps := 0; len(q) > 0 && steps < 4*n*n+16; steps++ {
			u := q[0]
			q = q[1:]
			inQ[u] = false
			for _, ai := range adj[u] {
				a := &arcs[ai]
				if a.cap > 0 && dist[u]+a.cost < dist[a.to] {
					dist[a.to], via[a.to] = dist[u]+a.cost, ai
					if !inQ[a.to] {
						inQ[a.to] = true
						q = append(q, a.to)
					}
				}
			}
		}
		if via[dst] < 0 {
			break
		}
		for v, hops := dst, 0; v != src; hops++ {
			if hops > 2*n {
				return nil // a broken chain; cannot happen with a valid flow
			}
			ai := via[v]
			arcs[ai].cap--
			arcs[arcs[ai].rev].cap++
			v = arcs[arcs[ai].rev].to
		}
	}
	// Each unit of flow is a path: follow used link arcs from self.
	paths := make([][]packet.Dir, 0, found)
	for range found {
		var p []packet.Dir
		for v := s; v != t; {
			next := -1
			for _, ai := range adj[2*v+1] {
				a := &arcs[ai]
				if a.cost == 1 && a.cap == 0 { // a link arc in use
					a.cap = 1 // taken: the next path follows another
					p = append(p, a.dir)
					next = a.to / 2
					break
				}
			}
			if next < 0 || len(p) > n {
				return paths
			}
			v = next
		}
		paths = append(paths, p)
	}
	slices.SortStableFunc(paths, func(a, b []packet.Dir) int { return len(a) - len(b) })
	return paths
}
