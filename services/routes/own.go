package routes

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// This tile's own LSA: when it is due (the links settled), and making it.

// Settling: a tile's links come up one by one (at a grid's start, over a
// second or more), and each change used to make an LSA that flooded the
// whole grid: 4.3 of them a tile at 20x20, 1.9 million LSA packets. An
// LSA now waits until the links have not changed for ownSettle, or
// ownSettleMax after the first change it reports, so a start or a
// flapping link costs one or two floods; a lost neighbour is reported
// ownSettle later, against the second its liveness takes to notice.
const (
	ownSettle    = 300 * time.Millisecond
	ownSettleMax = 2 * time.Second
)

// linksChanged notes that this tile's neighbours changed: its LSA is due.
func (s *Service) linksChanged() {
	if !s.ownDue {
		s.ownFirst = s.now
	}
	s.ownDue, s.ownLast = true, s.now
}

// ownAt is when this tile's LSA may go, once due: its links settled, and
// MinInterval after the last one.
func (s *Service) ownAt() time.Time {
	at := s.ownLast.Add(ownSettle)
	if capped := s.ownFirst.Add(ownSettleMax); capped.Before(at) {
		at = capped
	}
	if gap := s.lastOwn.Add(s.cfg.MinInterval.D()); gap.After(at) {
		at = gap
	}
	return at
}

// originate makes and floods this tile's LSA: its live neighbours now.
// Unless force (a refresh, a clash), an LSA listing the links the last
// one listed is not made: a link that flapped and came back changed
// nothing a route depends on, and each LSA floods the grid.
func (s *Service) originate(force bool) {
	l := LSA{Origin: s.self}
	for _, d := range packet.Links {
		if p := s.peers[d]; p != nil { // one per link: MaxLinks at most
			l.Links[l.N] = Link{Dir: d, Tile: p.tile}
			l.N++
		}
	}
	prev, had := s.db.Get(s.self)
	if !force && had && sameLinks(prev, &l) {
		s.ownDue = false
		return
	}
	s.mu.Lock()
	s.seq++
	l.Seq = s.seq
	s.counts.Originated++
	s.mu.Unlock()
	l.Sign(s.key)
	moved := !had || !sameLinks(prev, &l) // read before Originate overwrites it
	s.db.Originate(&l, s.now)
	s.flood(l.Origin, packet.Dir(255))
	s.ownDue, s.ownForce, s.lastOwn = false, false, s.now
	s.spfDue = s.spfDue || moved
	s.refresh = s.now.Add(s.cfg.Refresh.D())
}
