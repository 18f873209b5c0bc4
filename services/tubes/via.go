package tubes

import (
	"fmt"
	"slices"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/routes"
)

// Tubes to tiles beyond the neighbours. Such a tube has dir viaRoutes and
// the far tile's identity; it sends each message in a ROUTED message
// (routed.go) along the path it uses, one of up to routes.MaxPaths that
// share no link. It moves to another when the routing service's graph no
// longer has its path, or when its retransmission timer fires twice in a
// row (a tile on the way that drops what it should forward is routed
// around so). Forwarding tiles keep nothing but a short queue per link
// (fwdqueue.go), where a neighbour that floods keeps only its share.

// viaRoutes is the dir of a tube to a tile by routes, and the slot of the
// per-link tables (pending OPENs, reset budget, closed tubes) those tubes
// share.
const (
	viaRoutes packet.Dir = 8
	slots                = 9
	// fwdMax is how many ROUTED packets wait to be forwarded on a link;
	// more are dropped, the flooding neighbour's first (the end points'
	// retransmission repairs it).
	fwdMax = 32
	// switchAfter is how many retransmission timeouts in a row move a
	// tube to its next path.
	switchAfter = 2
	// maxStripe is the most paths one tube sends on at once.
	maxStripe = routes.MaxPaths
	// pathsAgain is how long a tube that gave up a path waits before it
	// is offered every path the graph has again: what lost packets for a
	// while may carry them now, and a graph that does not change would
	// never offer it back.
	pathsAgain = 30 * time.Second
	// ceAt is how many packets waiting to be forwarded on a link make a
	// forwarder mark the next one CE: a queue that builds is a link
	// asked for more than it carries.
	ceAt = 8
)

// Router is what the tube service needs of the routing service.
type Router interface {
	Graph() *routes.Graph     // nil before its first computation
	Changed() <-chan struct{} // a value after each new graph
}

// from is the far side of a message: a neighbour on a link, or a tile by
// routes (dir viaRoutes) with the path back to it.
type from struct {
	dir  packet.Dir
	tile p2p.TileID
	back []packet.Dir  // viaRoutes: the way the message came, reversed
	hint time.Duration // a first guess of the round-trip time, 0 unknown
	// ce: a tile on the way marked it, its queue building; ece: the far
	// side saw such a mark on what came by the reverse of back.
	ce, ece bool
}

func (f from) String() string {
	if f.dir == viaRoutes {
		return "tile " + f.tile.String()
	}
	return f.dir.String()
}

// peerKey names a tube by the far side's id for it.
type peerKey struct {
	dir  packet.Dir
	tile p2p.TileID
	id   uint16
}

// where names the far side for messages.
func (t *tube) where() string { return from{dir: t.dir, tile: t.tile}.String() }

// primary is the path a tube by routes sends its messages other than
// data by (the first of its paths), nil if it has none.
func (t *tube) primary() []packet.Dir {
	if len(t.paths) == 0 {
		return nil
	}
	return t.paths[0]
}

// sendTube sends a message of t to its far side (a tube by routes with
// no path left sends nothing).
func (s *Service) sendTube(t *tube, payload []byte) {
	if t.dir == viaRoutes && len(t.paths) == 0 {
		return
	}
	s.sendOn(t, 0, payload)
}

// sendOn sends a message of t on its path with index path (a neighbour's
// tube has one, 0).
func (s *Service) sendOn(t *tube, path int, payload []byte) {
	if t.dir != viaRoutes {
		s.send(t.dir, payload)
		return
	}
	s.sendRouted(t.paths[path], t.tile, payload, 0)
}

// reply answers a message from f the way it came.
func (s *Service) reply(f from, payload []byte) {
	if f.dir != viaRoutes {
		s.send(f.dir, payload)
		return
	}
	s.sendRouted(f.back, f.tile, payload, 0)
}

func (s *Service) sendRouted(path []packet.Dir, dst p2p.TileID, inner []byte, flags byte) {
	s.send(path[0], appendRouted(make([]byte, 0, maxMsg), path, s.h.Self(), dst, inner, flags))
}

// routed handles a ROUTED message from the neighbour on pm.From: forward
// it, or take it if this tile is where its path ends.
func (s *Service) routed(pm *p2p.Message, p []byte) {
	h, inner, err := parseRouted(p)
	if err != nil {
		s.unreadable(pm.From, err)
		return
	}
	n, live := s.sender(pm)
	if !live {
		return
	}
	if h.hop < h.n {
		s.forward(pm.From, h.path[h.hop], p)
		return
	}
	m, err := parseRoutedMsg(inner, s.h.Self(), h.src)
	if err != nil {
		s.unreadable(pm.From, err)
		return
	}
	s.counters.RoutedIn++
	s.dispatch(from{dir: viaRoutes, tile: h.src, back: h.back(), hint: time.Duration(h.n) * n.RTT, ce: h.ce, ece: h.ece}, m)
}

// forward queues a ROUTED message that came by link in for its next
// link d, one more link taken.
func (s *Service) forward(in, d packet.Dir, p []byte) {
	if _, live := s.h.Neighbour(d); !live || s.dropFwd {
		s.counters.FwdDropped++
		return
	}
	q := append(make([]byte, 0, len(p)), p...)
	q[2]++
	if s.fwd[d].len() >= ceAt {
		q[1] |= routedCE
		s.counters.CEMarked++
	}
	s.counters.FwdDropped += uint64(s.fwd[d].push(in, q))
}

// sendForward sends the oldest packet waiting to be forwarded on d.
func (s *Service) sendForward(d packet.Dir) bool {
	p, ok := s.fwd[d].pop()
	if !ok {
		return false
	}
	if s.send(d, p) {
		s.counters.Forwarded++
	} else {
		s.counters.FwdDropped++
	}
	return true
}

// graph is the routing service's latest graph, nil without one.
func (s *Service) graph() *routes.Graph {
	if s.routes == nil {
		return nil
	}
	return s.routes.Graph()
}

// openRouted opens a tube to a tile named by identity, prefix or route.
func (s *Service) openRouted(c *client, r request) {
	g := s.graph()
	if g == nil {
		s.refuseClient(c, "no routes: this itcd runs without the routing service, or it has not started")
		return
	}
	tile, err := g.Resolve(r.to)
	if err != nil {
		s.refuseClient(c, err.Error())
		return
	}
	if tile == s.h.Self() {
		s.refuseClient(c, "that is this tile: open a tube to another")
		return
	}
	if _, ok := g.Reachable(tile); !ok {
		s.refuseClient(c, fmt.Sprintf("no route to tile %v (`itcd route` lists the tiles this one reaches)", tile))
		return
	}
	f := from{dir: viaRoutes, tile: tile}
	if s.count(f) >= s.cfg.MaxTubes {
		s.refuseClient(c, fmt.Sprintf("%d tubes to tile %v already, the most tube.max_tubes allows", s.count(f), tile))
		return
	}
	t := newTube(s.newID(), viaRoutes, tile, r.kind, receiveWindow(r.kind, s.cfg.Window), 0, s.now)
	if !s.routeTube(t, nil) {
		s.refuseClient(c, fmt.Sprintf("no path to tile %v of at most %d links", tile, MaxHops))
		return
	}
	s.startOpen(t, c, r)
}

// routeTube gives a new tube by routes its paths and segment size: the
// disjoint paths the graph has (else back, the way its OPEN came), and a
// segment that leaves room for the longest of them and a few links more
// (fitSegments).
func (s *Service) routeTube(t *tube, back []packet.Dir) bool {
	if g := s.graph(); g != nil {
		t.paths = s.candidates(g, t.tile)
	}
	if len(t.paths) == 0 && len(back) > 0 {
		t.paths = [][]packet.Dir{back}
	}
	if len(t.paths) == 0 {
		return false
	}
	t.fitSegments(t.paths)
	t.snd.congestionControl()
	t.stripe = min(len(t.paths), s.cfg.Paths)
	return true
}

// fitSegments sizes the tube's segments for the longest of paths and 4
// links more, if they do not fit already: a later move to a path a little
// longer then costs nothing, and to a path longer still, segments that
// must be sent again are cut to the new size (sender.next).
func (t *tube) fitSegments(paths [][]packet.Dir) {
	longest := 0
	for _, p := range paths {
		longest = max(longest, len(p))
	}
	if longest > t.hops {
		t.hops = min(longest+4, MaxHops)
		t.snd.seg = segmentFor(t.hops)
	}
}

// candidates are the paths a tube to tile may use, of at most MaxHops
// links: striping, the set of disjoint paths with the fewest hops in all;
// on one path at a time, the shortest path first, then that set as the
// ones to move to.
func (s *Service) candidates(g *routes.Graph, tile p2p.TileID) [][]packet.Dir {
	paths := short(g.Paths(tile, routes.MaxPaths))
	if s.cfg.Paths > 1 || len(paths) == 0 {
		return paths
	}
	best := short(g.Paths(tile, 1))
	if len(best) == 0 {
		return paths
	}
	out := [][]packet.Dir{best[0]}
	for _, p := range paths {
		if !slices.Equal(p, best[0]) {
			out = append(out, p)
		}
	}
	return out
}

// short returns the paths a ROUTED message can take: MaxHops links at most.
func short(paths [][]packet.Dir) [][]packet.Dir {
	return slices.DeleteFunc(paths, func(p []packet.Dir) bool { return len(p) > MaxHops })
}

// repath checks every tube by routes against a new graph. A tube takes
// the disjoint paths the graph has now when they differ from its own
// (setPaths); a tube with no path left fails.
func (s *Service) repath() {
	g := s.graph()
	if g == nil {
		return
	}
	for _, t := range s.tubes {
		if t.dir != viaRoutes || t.st.finished() {
			continue
		}
		paths := s.candidates(g, t.tile)
		if len(paths) == 0 {
			s.fail(t, fmt.Sprintf("no route to tile %v any more", t.tile), 0)
			continue
		}
		t.allPathsAt = time.Time{} // offered every path now
		if !samePaths(paths, t.paths) {
			s.setPaths(t, paths)
		}
	}
}

// allPaths offers a tube that gave up a path every path the graph has
// again, once pathsAgain has passed.
func (s *Service) allPaths(t *tube) {
	if t.allPathsAt.IsZero() || s.now.Before(t.allPathsAt) {
		return
	}
	t.allPathsAt = time.Time{}
	g := s.graph()
	if g == nil {
		return
	}
	if paths := s.candidates(g, t.tile); len(paths) > 0 && !samePaths(paths, t.paths) {
		s.setPaths(t, paths)
	}
}

// gaveUp drops path i of t and plans to offer it every path again.
func (s *Service) gaveUp(t *tube, i int) {
	s.setPaths(t, append(t.paths[:i:i], t.paths[i+1:]...))
	t.allPathsAt = s.now.Add(pathsAgain)
}

// setPaths gives t new paths; what was in flight on a path it no longer
// has is sent again on the others.
func (s *Service) setPaths(t *tube, paths [][]packet.Dir) {
	old := t.paths
	t.paths, t.stripe = paths, min(len(paths), s.cfg.Paths)
	t.fitSegments(paths)
	s.counters.Lost += uint64(t.snd.repath(func(i int) (int, bool) {
		if i >= len(old) {
			return 0, false
		}
		j := slices.IndexFunc(paths[:t.stripe], func(p []packet.Dir) bool { return slices.Equal(p, old[i]) })
		return j, j >= 0
	}))
	s.counters.PathChanges++
}

func samePaths(a, b [][]packet.Dir) bool {
	return slices.EqualFunc(a, b, slices.Equal[[]packet.Dir])
}

// nextPath: a tube whose retransmissions go unanswered gives up the path
// its oldest outstanding segment went by, when it has another: a tile on
// it that drops what it should forward is routed around so. The next
// new graph, or pathsAgain, offers every path again.
func (s *Service) nextPath(t *tube) {
	if t.dir != viaRoutes || t.snd.backoff < switchAfter || len(t.paths) < 2 {
		return
	}
	bad := -1
	for i := range t.snd.segs {
		if g := &t.snd.segs[i]; !g.held {
			bad = int(g.path)
			break
		}
	}
	if bad < 0 || bad >= len(t.paths) {
		return // nothing outstanding names a path
	}
	s.gaveUp(t, bad)
}

// silentAfter is how many RTOs a segment waits on one path of a striped
// tube before the path is called silent.
const silentAfter = 3

// dropSilent gives up a path of a striped tube that has answered nothing
// for silentAfter RTOs while the others carry on (a tile on it stopped
// or forwards nothing). What it held goes on the others.
func (s *Service) dropSilent(t *tube) {
	if t.dir != viaRoutes || len(t.paths) < 2 {
		return
	}
	if p, _, ok := t.snd.silentPath(s.now, silentAfter*t.snd.rto(&s.cfg)); ok && p < len(t.paths) {
		s.gaveUp(t, p)
	}
}

// silentCheck is when dropSilent next has something to look at, zero for
// never.
func (s *Service) silentCheck(t *tube) time.Time {
	if t.dir != viaRoutes || len(t.paths) < 2 {
		return time.Time{}
	}
	_, at, _ := t.snd.silentPath(s.now, silentAfter*t.snd.rto(&s.cfg))
	return at
}

// congested: the far side echoed a congestion mark on an ACK that came
// back by the reverse of back, so the path back names slows down.
func (s *Service) congested(t *tube, back []packet.Dir) {
	if i := slices.IndexFunc(t.paths, func(p []packet.Dir) bool { return slices.Equal(p, back) }); i >= 0 {
		t.snd.congestion(i, s.now)
		s.counters.CEEchoed++
	}
}

// rotatePath moves a tube by routes that is still opening to its next
// path: its OPEN may be lost on one and pass on another. The shortest
// first comes back with every path a while later (allPaths).
func (s *Service) rotatePath(t *tube) {
	if t.dir != viaRoutes || len(t.paths) < 2 {
		return
	}
	t.paths = append(t.paths[1:len(t.paths):len(t.paths)], t.paths[0])
	t.allPathsAt = s.now.Add(pathsAgain)
	s.counters.PathChanges++
}
