package tubes

import (
	"slices"
	"time"

	"github.com/t2tiles/itcd/internal/rtt"
)

// sender is the sending half of a tube: what the application handed over
// and the far itcd has not acknowledged, and what of it is on its way. It
// is a pure type: the service's goroutine feeds it acknowledgements and
// the time, and asks it what to send next.
//
// Loss is found the way RACK finds it (RFC 8985), made exact by links that
// keep order: every transmission gets the next number in transmission
// order, and a segment not acknowledged while one transmitted after it is
// must have been lost. A silence past the RTO with segments outstanding
// resends the oldest; a closed window is probed at the same pace.
type sender struct {
	buf   []byte // bytes from una on: sent and unacknowledged, then unsent
	una   uint32 // sequence number of buf[0]
	nxt   uint32 // next sequence number never sent
	limit uint32 // the far receiver accepts bytes before this
	read  uint32 // the far application consumed bytes before this
	// ahead bounds limit to read+ahead: the window the far side may
	// offer is at most what this tile would offer itself. A far side that
	// acknowledges everything and reads nothing cannot make the sender
	// take in (and, for messages, keep account of) more and more.
	// Zero: no bound.
	ahead uint32
	seg   int // the most stream bytes one DATA carries
	// cwnd, for a tube by routes, bounds the bytes in flight on each
	// path (0: no bound, a neighbour's tube, paced by its link): it grows
	// by each segment acknowledged until a tile on the path first says
	// its queue is building, by a segment a round trip after, and halves,
	// at most once a round trip, at each such mark (congestion.go).
	cwnd    [maxStripe]int
	slowEnd [maxStripe]bool // the path has been congested: grow slowly
	cutAt   [maxStripe]time.Time
	fin     bool // the application finished: the stream ends after buf
	// finSent: the FIN (one sequence number after the last byte) went out.
	finSent  bool
	finAcked bool // and was acknowledged: the far itcd holds the whole stream

	segs  []segment // transmitted and not cumulatively acknowledged, by seq
	xmits uint64    // transmissions numbered so far
	// ackedXmit is, for each path, its highest transmission acknowledged
	// or held: a tube striped over several paths keeps order only on each.
	ackedXmit [maxStripe]uint64
	rtt       rtt.Estimator
	backoff   uint
	// timerAt is where the RTO runs from: the last acknowledgement that
	// acknowledged something, the first transmission after a quiet time,
	// or the last timeout.
	timerAt    time.Time
	progressAt time.Time // the last acknowledgement that acknowledged something
	// heardAt is the silence clock: the last acknowledgement of any kind
	// (the far itcd is there, even if its program reads nothing), or the
	// first transmission after a quiet time.
	heardAt time.Time
	probeAt time.Time // when a closed window was last probed

	retransmits uint64
}

// segment is one transmitted range of the stream.
type segment struct {
	seq    uint32
	n      int  // stream bytes
	fin    bool // carries the FIN after its bytes
	xmit   uint64
	sentAt time.Time
	again  bool  // sent more than once: no RTT sample from it (Karn)
	path   uint8 // of a tube by routes, the index of the path it went by
	held   bool  // the far receiver holds it beyond a hole
	lost   bool  // to be sent again
	// gone: that path is gone (repath), so its index names another
	// now, and the segment's arrival tells nothing of any path.
	gone bool
}

func (s *segment) end() uint32 {
	e := s.seq + uint32(s.n)
	if s.fin {
		e++
	}
	return e
}

func newSender(limit uint32, est rtt.Estimator) sender {
	return sender{limit: limit, rtt: est, seg: MaxSegment}
}

// queued is how many stream bytes are held, sent or not.
func (s *sender) queued() int { return len(s.buf) }

// finSeq is the FIN's sequence number once the application finished.
func (s *sender) finSeq() uint32 { return s.una + uint32(len(s.buf)) }

// done reports whether the FIN was sent and acknowledged.
func (s *sender) done() bool { return s.finAcked }

// finRead reports whether the far application consumed the whole stream.
func (s *sender) finRead() bool { return s.done() && seqLE(s.finSeq()+1, s.read) }

// write appends stream bytes from the application.
func (s *sender) write(p []byte) {
	if n := len(s.buf) + len(p); n > cap(s.buf) {
		nb := make([]byte, len(s.buf), n+4*MaxSegment)
		copy(nb, s.buf)
		s.buf = nb
	}
	s.buf = append(s.buf, p...)
}

// outstanding reports whether anything sent waits for acknowledgement.
func (s *sender) outstanding() bool {
	for i := range s.segs {
		if !s.segs[i].held {
			return true
		}
	}
	return false
}

// next returns the next segment to transmit on path and its bytes
// (aliasing the buffer until the next ack), or false: what was lost first
// (on whichever path it went), then new bytes the window allows, then the
// FIN.
func (s *sender) next(now time.Time, path int) (seg segment, data []byte, ok bool) {
	for i := range s.segs {
		g := &s.segs[i]
		if g.lost {
			s.cut(i)
			g = &s.segs[i]
			g.lost, g.again, g.gone = false, true, false
			g.path = uint8(path)
			s.stamp(g, now)
			s.retransmits++
			return *g, s.bytes(g), true
		}
	}
	end := s.finSeq()
	if !s.pathRoom(path) {
		return segment{}, nil, false
	}
	if seqLT(s.nxt, end) && seqLT(s.nxt, s.limit) {
		n := int(min(end-s.nxt, s.limit-s.nxt, uint32(s.seg)))
		g := segment{seq: s.nxt, n: n, path: uint8(path)}
		g.fin = s.fin && s.nxt+uint32(n) == end
		return s.add(g, now), s.bytes(&g), true
	}
	if s.fin && !s.finSent && s.nxt == end {
		return s.add(segment{seq: end, fin: true, path: uint8(path)}, now), nil, true
	}
	return segment{}, nil, false
}

// cut splits lost segment i when it holds more than a segment now may
// (a tube by routes moved to a longer path, whose header leaves less
// room): the first s.seg bytes stay at i, the rest follow it, lost too.
func (s *sender) cut(i int) {
	g := s.segs[i]
	if g.n <= s.seg {
		return
	}
	rest := g
	rest.seq, rest.n = g.seq+uint32(s.seg), g.n-s.seg
	g.n, g.fin = s.seg, false
	s.segs[i] = g
	s.segs = slices.Insert(s.segs, i+1, rest)
}

func (s *sender) add(g segment, now time.Time) segment {
	if !s.outstanding() {
		// The RTO runs from here, and so does the wait for progress: an
		// acknowledgement from before a quiet time is no measure of it.
		s.timerAt, s.progressAt, s.heardAt = now, now, now
	}
	s.stamp(&g, now)
	s.segs = append(s.segs, g)
	s.nxt = g.end()
	if g.fin {
		s.finSent = true
	}
	return g
}

func (s *sender) stamp(g *segment, now time.Time) {
	s.xmits++
	g.xmit, g.sentAt = s.xmits, now
}

func (s *sender) bytes(g *segment) []byte {
	off := int(g.seq - s.una)
	return s.buf[off : off+g.n]
}

// ackResult is what one acknowledgement changed.
type ackResult struct {
	lost     int  // segments found lost
	progress bool // something newly acknowledged or held
}

// onAck applies an ACK. An ack outside what was sent is ignored (false):
// a confused or hostile peer cannot make the sender drop unsent bytes.
func (s *sender) onAck(ack, read, limit uint32, sacks []span, now time.Time) (r ackResult, ok bool) {
	if seqLT(ack, s.una) && !seqLT(s.nxt, s.una) && seqLE(read, ack) {
		// Older than one already applied: ACKs of a tube striped over
		// several paths overtake each other. Nothing in it is news.
		s.heardAt = now
		return r, true
	}
	if seqLT(ack, s.una) || seqLT(s.nxt, ack) || seqLT(ack, read) {
		return r, false
	}
	s.heardAt = now
	s.read = seqMax(s.read, read)
	if seqLE(ack, limit) {
		s.limit = seqMax(s.limit, limit)
	}
	s.capLimit()
	// Cumulative: drop whole segments acknowledged.
	k := 0
	for k < len(s.segs) && seqLE(s.segs[k].end(), ack) {
		g := &s.segs[k]
		if !g.held {
			s.grow(g) // a held one grew its path's window when it was held
		}
		s.sawXmit(g, now)
		k++
	}
	if k > 0 {
		s.segs = append(s.segs[:0], s.segs[k:]...)
		r.progress = true
	}
	// An ACK inside a segment (the far side cut it at its window, or
	// is hostile) acknowledges its first bytes: the segment keeps only
	// the rest, which is what a resend sends. Its end is past ack, so
	// the cut leaves it at least its FIN or a byte.
	if len(s.segs) > 0 && seqLT(s.segs[0].seq, ack) {
		g := &s.segs[0]
		cut := ack - g.seq
		g.seq, g.n = ack, g.n-int(cut)
	}
	if n := min(int(ack-s.una), len(s.buf)); n > 0 {
		s.buf = append(s.buf[:0], s.buf[n:]...)
		s.una += uint32(n)
	}
	if s.fin && s.finSent && ack == s.finSeq()+1 {
		s.finAcked = true
	}
	// Held beyond a hole.
	for _, sp := range sacks {
		if !seqLT(ack, sp.end) || seqLT(s.nxt, sp.end) || !seqLT(sp.start, sp.end) {
			continue // outside what was sent: ignored
		}
		for i := range s.segs {
			g := &s.segs[i]
			if !g.held && seqLE(sp.start, g.seq) && seqLE(g.end(), sp.end) {
				g.held, g.lost = true, false
				s.grow(g)
				s.sawXmit(g, now)
				r.progress = true
			}
		}
	}
	for i := range s.segs {
		g := &s.segs[i]
		if !g.held && !g.lost && g.xmit < s.ackedXmit[g.path] {
			g.lost = true
			r.lost++
		}
	}
	if r.progress {
		s.timerAt, s.progressAt, s.probeAt, s.backoff = now, now, now, 0
	}
	return r, true
}

// sawXmit notes that segment g's last transmission reached the far end.
func (s *sender) sawXmit(g *segment, now time.Time) {
	if !g.gone && g.xmit > s.ackedXmit[g.path] {
		s.ackedXmit[g.path] = g.xmit
		if !g.again {
			s.rtt.Sample(now.Sub(g.sentAt))
		}
	}
}

// repath follows a change of the paths a tube stripes over: where(i)
// gives the new index of old path i, or false if it is gone. What went by
// a path that is gone is marked lost at once (it would otherwise wait for
// the RTO, a segment at a time) and returned as a count.
func (s *sender) repath(where func(old int) (int, bool)) int {
	n := 0
	for i := range s.segs {
		g := &s.segs[i]
		j, ok := where(int(g.path))
		switch {
		case ok:
			g.path = uint8(j)
		case !g.held && !g.lost:
			g.lost, g.gone = true, true
			n++
		default:
			g.gone = true
		}
	}
	var acked [maxStripe]uint64
	var cwnd [maxStripe]int
	var slowEnd [maxStripe]bool
	var cutAt [maxStripe]time.Time
	for i, x := range s.ackedXmit {
		if j, ok := where(i); ok {
			acked[j] = max(acked[j], x)
			cwnd[j], slowEnd[j], cutAt[j] = s.cwnd[i], s.slowEnd[i], s.cutAt[i]
		}
	}
	s.ackedXmit = acked
	if s.cwnd != [maxStripe]int{} {
		// A path kept keeps its window (never 0 under congestion
		// control); a new one starts afresh.
		s.cwnd, s.slowEnd, s.cutAt = cwnd, slowEnd, cutAt
		for j := range s.cwnd {
			if s.cwnd[j] == 0 {
				s.freshWindow(j)
			}
		}
	}
	return n
}

// silentPath returns the path of the oldest segment outstanding on any
// path for longer than d, with when that happened, or false. Striped over
// several paths, a tube makes progress on the others while one says
// nothing: the RTO, which progress restarts, would never fire for it.
func (s *sender) silentPath(now time.Time, d time.Duration) (path int, since time.Time, ok bool) {
	for i := range s.segs {
		g := &s.segs[i]
		if g.held || g.lost {
			continue
		}
		if at := g.sentAt.Add(d); !ok || at.Before(since) {
			path, since, ok = int(g.path), at, true
		}
	}
	if !ok || now.Before(since) {
		return path, since, false
	}
	return path, since, true
}

// capLimit keeps limit within ahead of what the far side read.
func (s *sender) capLimit() {
	if s.ahead > 0 && seqLT(s.read+s.ahead, s.limit) {
		s.limit = s.read + s.ahead
	}
}

// rto is the current retransmission timeout.
func (s *sender) rto(c *Config) time.Duration {
	return s.rtt.RTO(s.backoff, c.MinRTO.D(), c.MaxRTO.D())
}

// deadline is when timeout has work: the RTO of what is outstanding, or
// the probe of a closed window. Zero when nothing waits.
func (s *sender) deadline(c *Config) time.Time {
	if s.outstanding() {
		return s.timerAt.Add(s.rto(c))
	}
	if s.windowClosed() || s.unread() {
		return s.probeAt.Add(s.rto(c))
	}
	return time.Time{}
}

// unread reports whether what was sent (the FIN too) is acknowledged
// but not known to be read by the far program. The ACK that says so may
// have been lost, and nothing else would bring another: without a probe
// the tube would never learn its end was read (and never close), nor a
// message tube that its last messages were delivered.
func (s *sender) unread() bool { return seqLT(s.read, s.nxt) }

// windowClosed reports whether bytes wait that the far window does not
// allow, with nothing outstanding to bring a new window back.
func (s *sender) windowClosed() bool {
	return seqLT(s.nxt, s.finSeq()) && !seqLT(s.nxt, s.limit)
}

// timeout runs the RTO: the oldest segment outstanding is sent again, and
// the timeout doubles. It reports probe when a closed window, or bytes
// not known to be read, are to be probed instead (an empty DATA, which
// the far end answers with an ACK).
func (s *sender) timeout(now time.Time, c *Config) (fired, probe bool) {
	d := s.deadline(c)
	if d.IsZero() || now.Before(d) {
		return false, false
	}
	s.backoff++
	if s.outstanding() {
		for i := range s.segs {
			if g := &s.segs[i]; !g.held {
				g.lost = true
				break
			}
		}
		s.timerAt = now
		return true, false
	}
	s.probeAt = now
	return true, true
}

// silentFor is how long the far itcd has said nothing while something
// sent waits for its answer. A far program that does not read keeps the
// window closed, but its itcd still answers the probes: that is not
// silence.
func (s *sender) silentFor(now time.Time) time.Duration {
	if !s.outstanding() && !s.windowClosed() && !s.unread() {
		return 0
	}
	return now.Sub(s.heardAt)
}
