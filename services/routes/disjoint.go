package routes

import (
	"slices"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// MaxPaths is the most link-disjoint paths Paths looks for.
const MaxPaths = 3

// Paths returns up to k (at most MaxPaths) paths from self to tile that
// share no link, shortest first, with the least total hops among all sets
// of that many: a minimum-cost flow of k units, one per link. Taking the
// shortest path and then the shortest avoiding it can find fewer: the
// first may block both ways round. When as many paths exist that share
// no tile either, those are returned instead, so one tile that stops
// costs one path, not two. Nil when tile cannot be reached.
func (g *Graph) Paths(tile p2p.TileID, k int) [][]packet.Dir {
	t, ok := g.index[tile]
	if !ok || g.dist[t] <= 0 {
		return nil
	}
	k = min(max(k, 1), MaxPaths)
	links := g.linkDisjoint(t, k)
	if len(links) > 1 {
		if nodes := g.nodeDisjoint(t, len(links)); len(nodes) == len(links) {
			return nodes
		}
	}
	return links
}

// linkDisjoint is Paths without the preference for paths sharing no tile.
func (g *Graph) linkDisjoint(t, k int) [][]packet.Dir {
	// flow[u][d]: one path uses the link of u on d, from u.
	flow := make([][8]bool, len(g.ids))
	found := 0
	for ; found < k; found++ {
		if !g.augment(g.self, t, flow) {
			break
		}
	}
	paths := make([][]packet.Dir, 0, found)
	for range found {
		var p []packet.Dir
		for v := g.self; v != t; {
			next := -1
			for _, d := range packet.Links {
				if flow[v][d] {
					flow[v][d] = false
					p = append(p, d)
					next = int(g.adj[v][d])
					break
				}
			}
			if next < 0 || len(p) > len(g.ids) {
				return paths // cannot happen with a valid flow; never loop
			}
			v = next
		}
		paths = append(paths, p)
	}
	slices.SortStableFunc(paths, func(a, b []packet.Dir) int { return len(a) - len(b) })
	return paths
}

// augment finds the cheapest path from s to t in the residual graph of
// flow (a free link costs 1, undoing a used one in reverse costs -1) by
// Bellman-Ford, and adds it to flow. It reports false when there is none.
func (g *Graph) augment(s, t int, flow [][8]bool) bool {
	n := len(g.ids)
	dist := make([]int32, n)
	via := make([]int32, n) // the tile before, -1 none
	viaDir := make([]packet.Dir, n)
	for i := range dist {
		dist[i], via[i] = 1<<30, -1
	}
	dist[s] = 0
	inQueue := make([]bool, n)
	queue := []int32{int32(s)}
	inQueue[s] = true
	// With no negative cycle (the flow is of least cost) each tile is
	// relaxed at most n times; the bound keeps a bug from looping.
	for steps := 0; len(queue) > 0 && steps < n*n*8+8; steps++ {
		u := queue[0]
		queue = queue[1:]
		inQueue[u] = false
		for _, d := range packet.Links {
			v := g.adj[u][d]
			if v < 0 || flow[u][d] {
				continue
			}
			cost := int32(1)
			if flow[v][d.Opposite()] {
				cost = -1
			}
			if nd := dist[u] + cost; nd < dist[v] {
				dist[v], via[v], viaDir[v] = nd, u, d
				if !inQueue[v] {
					inQueue[v] = true
					queue = append(queue, v)
				}
			}
		}
	}
	if via[t] < 0 {
		return false
	}
	for v, hops := t, 0; v != s; v, hops = int(via[v]), hops+1 {
		if via[v] < 0 || hops > n {
			return false // a broken chain; cannot happen with a valid flow
		}
		u, d := int(via[v]), viaDir[v]
		if flow[v][d.Opposite()] {
			flow[v][d.Opposite()] = false
		} else {
			flow[u][d] = true
		}
	}
	return true
}
