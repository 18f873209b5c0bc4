package tubes

import "time"

// Congestion control for tubes by routes. A tube's own link paces it, but
// a link further on may be shared with other tiles' traffic: without a
// bound the sender would fill the forwarder's queue and lose what did not
// fit. Forwarders mark packets CE when their queue for the next link
// builds (via.go); the destination echoes the mark on an ACK back by the
// same path, and the sender halves that path's window.

// initialCwnd is each path's window at the start, in segments: more than
// a path across a 6x6 grid holds in flight at 64 KB/s, so an uncongested
// path runs at its link's pace from the first round trip.
const initialCwnd = 32

// congestionControl starts a window for every path.
func (s *sender) congestionControl() {
	for i := range s.cwnd {
		s.freshWindow(i)
	}
}

// freshWindow gives path the window of a path never congested.
func (s *sender) freshWindow(path int) {
	s.cwnd[path], s.slowEnd[path], s.cutAt[path] = initialCwnd*s.seg, false, time.Time{}
}

// pathRoom reports whether path may take a new segment.
func (s *sender) pathRoom(path int) bool {
	if s.cwnd[path] == 0 {
		return true
	}
	return s.inFlight(path)+s.seg <= s.cwnd[path]
}

// inFlight is the bytes sent on path and neither acknowledged nor lost.
func (s *sender) inFlight(path int) int {
	n := 0
	for i := range s.segs {
		if g := &s.segs[i]; !g.held && !g.lost && int(g.path) == path {
			n += g.n
		}
	}
	return n
}

// grow opens g's path's window for g arriving: by its bytes until the
// path was first congested, then by a segment a window's worth.
func (s *sender) grow(g *segment) {
	p := g.path
	if s.cwnd[p] == 0 || g.gone {
		return
	}
	if !s.slowEnd[p] {
		s.cwnd[p] += g.n
	} else {
		s.cwnd[p] += max(1, s.seg*g.n/s.cwnd[p])
	}
	s.cwnd[p] = min(s.cwnd[p], maxWindow)
}

// congestion halves path's window, at most once a round trip: one
// building queue marks many packets.
func (s *sender) congestion(path int, now time.Time) {
	if s.cwnd[path] == 0 || now.Sub(s.cutAt[path]) < s.rtt.SRTT {
		return
	}
	s.cwnd[path] = max(s.cwnd[path]/2, 2*s.seg)
	s.slowEnd[path], s.cutAt[path] = true, now
}
