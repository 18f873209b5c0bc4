package tilegrid

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/t2tiles/itcd/itc/packet"
)

// Coord is a tile's place in the grid: column X from the left, row Y from
// the top, both from 0.
type Coord struct{ X, Y int }

// Name is the tile's name, "t-X-Y": the name of its directory under the
// grid's directory and the name the simulator shows and reports.
func (c Coord) Name() string { return "t-" + strconv.Itoa(c.X) + "-" + strconv.Itoa(c.Y) }

func (c Coord) String() string { return c.Name() }

// ParseCoord parses a tile name, "t-X-Y", or "X,Y".
func ParseCoord(s string) (Coord, error) {
	var parts []string
	switch {
	case strings.HasPrefix(s, "t-"):
		parts = strings.Split(s[2:], "-")
	default:
		parts = strings.Split(s, ",")
	}
	if len(parts) == 2 {
		x, errx := strconv.Atoi(strings.TrimSpace(parts[0]))
		y, erry := strconv.Atoi(strings.TrimSpace(parts[1]))
		if errx == nil && erry == nil && x >= 0 && y >= 0 {
			return Coord{x, y}, nil
		}
	}
	return Coord{}, fmt.Errorf("tile %q: want a name like t-2-3 (column 2, row 3) or 2,3", s)
}

// Geometry is a W x H brick-wall grid of T2 tiles. Rows run from y = 0 at
// the top to H-1 at the bottom; odd rows are shifted half a tile to the
// right. ET and WT are in the tile's own row, NE and NW in the row above,
// SE and SW in the row below:
//
//	even row y: NE (x, y-1)   NW (x-1, y-1)   SE (x, y+1)   SW (x-1, y+1)
//	odd row y:  NE (x+1, y-1) NW (x, y-1)     SE (x+1, y+1) SW (x, y+1)
//	any row:    ET (x+1, y)   WT (x-1, y)
//
// A tile at an edge has fewer than six neighbours.
type Geometry struct{ W, H int }

// ParseGeometry parses "WxH", such as "4x4".
func ParseGeometry(s string) (Geometry, error) {
	w, h, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		W, errw := strconv.Atoi(w)
		H, errh := strconv.Atoi(h)
		if errw == nil && errh == nil {
			g := Geometry{W, H}
			return g, g.Validate()
		}
	}
	return Geometry{}, fmt.Errorf("grid %q: want WxH, such as 4x4", s)
}

// MaxTiles bounds W*H: every tile is a daemon with its own socket.
const MaxTiles = 4096

// Validate reports a geometry that cannot be built.
func (g Geometry) Validate() error {
	if g.W < 1 || g.H < 1 || g.W*g.H > MaxTiles || g.W > MaxTiles || g.H > MaxTiles {
		return fmt.Errorf("grid %dx%d: want W, H >= 1 and at most %d tiles", g.W, g.H, MaxTiles)
	}
	return nil
}

func (g Geometry) String() string { return fmt.Sprintf("%dx%d", g.W, g.H) }

// Len is the number of tiles.
func (g Geometry) Len() int { return g.W * g.H }

// Contains reports whether c is a tile of the grid.
func (g Geometry) Contains(c Coord) bool { return c.X >= 0 && c.Y >= 0 && c.X < g.W && c.Y < g.H }

// Index is c's position in row-major order, the order of Coords.
func (g Geometry) Index(c Coord) int { return c.Y*g.W + c.X }

// Coords lists every tile in row-major order: row 0 left to right, then
// row 1 and so on.
func (g Geometry) Coords() []Coord {
	out := make([]Coord, 0, g.Len())
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			out = append(out, Coord{x, y})
		}
	}
	return out
}

// Step returns the place next to c in direction d, whether or not it is in
// the grid; ok is false for NT, ST and invalid directions.
func Step(c Coord, d packet.Dir) (n Coord, ok bool) {
	odd := c.Y&1 == 1
	switch d {
	case packet.ET:
		return Coord{c.X + 1, c.Y}, true
	case packet.WT:
		return Coord{c.X - 1, c.Y}, true
	case packet.NE:
		if odd {
			return Coord{c.X + 1, c.Y - 1}, true
		}
		return Coord{c.X, c.Y - 1}, true
	case packet.NW:
		if odd {
			return Coord{c.X, c.Y - 1}, true
		}
		return Coord{c.X - 1, c.Y - 1}, true
	case packet.SE:
		if odd {
			return Coord{c.X + 1, c.Y + 1}, true
		}
		return Coord{c.X, c.Y + 1}, true
	case packet.SW:
		if odd {
			return Coord{c.X, c.Y + 1}, true
		}
		return Coord{c.X - 1, c.Y + 1}, true
	}
	return c, false
}

// Neighbour returns the tile next to c in direction d, if the grid has one.
func (g Geometry) Neighbour(c Coord, d packet.Dir) (Coord, bool) {
	n, ok := Step(c, d)
	return n, ok && g.Contains(c) && g.Contains(n)
}

// Link is one direction of a link: From's outbound side on Dir, which
// arrives at To on Dir.Opposite().
type Link struct {
	From Coord
	Dir  packet.Dir
	To   Coord
}

func (l Link) String() string { return fmt.Sprintf("%v %v->%v", l.From, l.Dir, l.To) }

// Reverse is the other direction of the same link.
func (l Link) Reverse() Link { return Link{From: l.To, Dir: l.Dir.Opposite(), To: l.From} }

// Links lists c's links in dir8 order (NE ET SE SW WT NW).
func (g Geometry) Links(c Coord) []Link {
	var out []Link
	for _, d := range packet.Links {
		if n, ok := g.Neighbour(c, d); ok {
			out = append(out, Link{From: c, Dir: d, To: n})
		}
	}
	return out
}

// AllLinks lists every direction of every link: tiles in row-major order,
// each tile's links in dir8 order. Each physical link appears twice, once
// from each end.
func (g Geometry) AllLinks() []Link {
	var out []Link
	for _, c := range g.Coords() {
		out = append(out, g.Links(c)...)
	}
	return out
}

// Degree is the number of c's neighbours.
func (g Geometry) Degree(c Coord) int { return len(g.Links(c)) }

// Distances returns the hop count from src to every tile, indexed by
// Index; every tile is reachable.
func (g Geometry) Distances(src Coord) []int {
	dist := make([]int, g.Len())
	for i := range dist {
		dist[i] = -1
	}
	if !g.Contains(src) {
		return dist
	}
	queue := []Coord{src}
	dist[g.Index(src)] = 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, l := range g.Links(c) {
			if i := g.Index(l.To); dist[i] < 0 {
				dist[i] = dist[g.Index(c)] + 1
				queue = append(queue, l.To)
			}
		}
	}
	return dist
}

// Eccentricity is the hop count from src to the tile farthest from it.
func (g Geometry) Eccentricity(src Coord) int {
	e := 0
	for _, d := range g.Distances(src) {
		e = max(e, d)
	}
	return e
}

// MaxFlow is the maximum flow from src to dst when every link carries one
// unit each way independently: the number of link-disjoint paths between
// them. It is 0 when src == dst.
func (g Geometry) MaxFlow(src, dst Coord) int {
	if src == dst || !g.Contains(src) || !g.Contains(dst) {
		return 0
	}
	// flow[i][d] is the flow on tile i's outbound side of link d: -1, 0
	// or 1, antisymmetric with the far end's flow on d.Opposite().
	flow := make([][8]int8, g.Len())
	prev := make([]int, g.Len()) // the dir the BFS reached a tile by, +1; 0 = unseen
	total := 0
	for {
		for i := range prev {
			prev[i] = 0
		}
		prev[g.Index(src)] = -1
		queue := []Coord{src}
		for len(queue) > 0 && prev[g.Index(dst)] == 0 {
			c := queue[0]
			queue = queue[1:]
			for _, l := range g.Links(c) {
				j := g.Index(l.To)
				if prev[j] == 0 && flow[g.Index(c)][l.Dir] < 1 {
					prev[j] = int(l.Dir) + 1
					queue = append(queue, l.To)
				}
			}
		}
		if prev[g.Index(dst)] == 0 {
			return total
		}
		for c := dst; c != src; {
			d := packet.Dir(prev[g.Index(c)] - 1)
			from, _ := Step(c, d.Opposite())
			flow[g.Index(from)][d]++
			flow[g.Index(c)][d.Opposite()]--
			c = from
		}
		total++
	}
}

// Lambda is the smallest MaxFlow from src to any other tile: how many
// link-disjoint paths the worst-placed tile has from the source. It is 0
// for a one-tile grid.
func (g Geometry) Lambda(src Coord) int {
	lambda := 0
	for _, c := range g.Coords() {
		if c == src {
			continue
		}
		f := g.MaxFlow(src, c)
		if lambda == 0 || f < lambda {
			lambda = f
		}
	}
	return lambda
}

// PayloadPerPacket is c of ../shared/T2-FACTS.md: the file bytes one
// 255-byte packet carries (255 less the two header bytes of a service
// packet).
const PayloadPerPacket = packet.MaxServicePayload

// LowerBound is the single-tree T_min, in seconds, for spreading a file of
// size bytes from src over links of rate bytes per second:
//
//	T_min = S/B_eff + D*(t_c + tau),  B_eff = rate*c/255,  t_c = 255/rate
//
// with c = PayloadPerPacket, tau = 0 and D = Eccentricity(src). It is 0
// for a one-tile grid and NaN when rate is not positive (unlimited links
// have no bound).
func (g Geometry) LowerBound(src Coord, rate int, size int64) float64 {
	return g.bound(src, rate, size, 1)
}

// MultipathBound is T_min for several disjoint paths: LowerBound with the
// S/B_eff term divided by lambda = Lambda(src).
func (g Geometry) MultipathBound(src Coord, rate int, size int64) float64 {
	return g.bound(src, rate, size, g.Lambda(src))
}

func (g Geometry) bound(src Coord, rate int, size int64, lambda int) float64 {
	if rate <= 0 || !g.Contains(src) {
		return math.NaN()
	}
	if g.Len() == 1 {
		return 0
	}
	beff := float64(rate) * PayloadPerPacket / packet.MaxLen
	tc := float64(packet.MaxLen) / float64(rate)
	return float64(size)/(float64(lambda)*beff) + float64(g.Eccentricity(src))*tc
}
