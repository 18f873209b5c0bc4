package tubes

import (
	"fmt"
	"slices"

	tubeclient "github.com/t2tiles/itcd/tube"

	"github.com/t2tiles/itcd/itc/packet"
)

// clientEvent handles what a program's goroutines report.
func (s *Service) clientEvent(ev cevent) {
	c, t := ev.c, ev.c.tube
	switch ev.kind {
	case 0:
		if ev.problem != "" {
			s.refuseClient(c, ev.problem)
			return
		}
		s.request(c, ev.req)
		return
	case 'g':
		s.clientGone(c)
		return
	}
	if t == nil && ev.kind != 'w' && s.dropAccept(c) {
		// A frame before 'ok': its data would go nowhere, its abort
		// would be lost, and the accept would open a tube the program
		// already gave up on.
		reason := fmt.Sprintf("a %q frame before the tube was accepted: send frames only after ok", ev.kind)
		if ev.problem != "" {
			reason = ev.problem
		}
		s.refuseClient(c, reason)
		notify(c.credit)
		return
	}
	switch ev.kind {
	case frData:
		if t == nil || t.st.finished() || t.snd.fin {
			notify(c.credit) // nothing to hand over to: the frame is dropped
			return
		}
		t.handOver(ev.data)
		if s.hasRoom(t) {
			notify(c.credit)
		} else {
			t.creditDue = true
		}
	case frConsumed:
		if t == nil || !t.acks {
			return
		}
		if ev.n > t.given {
			s.fail(t, fmt.Sprintf("the program said it consumed %d, more than the %d it was given", ev.n, t.given), resetAborted)
			return
		}
		t.claimed = max(t.claimed, ev.n)
		t.consume(min(t.claimed, t.written), s.now, s.cfg.AckDelay.D())
		s.step(t)
	case 'w':
		if t == nil {
			return
		}
		n := ev.bytes
		if t.kind == KindMessage {
			n = ev.n
		}
		t.written += n
		t.toProgram -= int(ev.bytes)
		// Written is what opens the window; read (delivered) is what
		// the program says it consumed, or without acks what was written.
		t.free(t.written, s.now, s.cfg.AckDelay.D())
		if t.acks {
			t.consume(min(t.claimed, t.written), s.now, s.cfg.AckDelay.D())
		} else {
			t.consume(t.written, s.now, s.cfg.AckDelay.D())
		}
		s.step(t)
	case frFinish:
		if t != nil && !t.snd.fin {
			t.snd.fin = true
			s.step(t)
		}
	case frAbort:
		if t != nil {
			reason := ev.problem
			if reason == "" {
				reason = "aborted by the program"
				if ev.reason != "" {
					reason += ": " + ev.reason
				}
			}
			s.fail(t, reason, resetAborted)
		} else if ev.problem != "" {
			s.refuseClient(c, ev.problem)
		}
	}
}

// dropAccept forgets the accept the program on c waits in, and reports
// whether there was one.
func (s *Service) dropAccept(c *client) bool {
	for port, w := range s.accepts {
		if w.c == c {
			delete(s.accepts, port)
			return true
		}
	}
	return false
}

// clientGone: the program closed its connection. What it handed over is
// still sent (as after a finish); what arrives from now on cannot be
// read, and ends the tube.
func (s *Service) clientGone(c *client) {
	c.out.finish([]byte{}) // the writer stops after what waits (unless a final frame does)
	s.dropAccept(c)
	t := c.tube
	if t == nil {
		return
	}
	t.cl, c.tube = nil, nil
	t.appGone = true
	if t.st == stOpening {
		s.fail(t, "the program closed before the tube was accepted", resetAborted)
		return
	}
	if t.st.finished() {
		return
	}
	t.snd.fin = true
	if t.given > t.taken {
		s.fail(t, "the program closed the tube without reading everything", resetClosed)
		return
	}
	s.step(t)
}

// request starts what a program asked for.
func (s *Service) request(c *client, r request) {
	if r.accept {
		if w := s.accepts[r.port]; w != nil {
			s.refuseClient(c, fmt.Sprintf("port %d already has a program waiting to accept on it", r.port))
			return
		}
		w := &waitAccept{c: c, req: r}
		if r.timeout > 0 {
			w.deadline = s.now.Add(r.timeout)
		}
		s.accepts[r.port] = w
		// An OPEN that came before the accept is taken at once; kept
		// OPENs of a tile no longer live on their link are dropped.
		for d := range s.pending {
			dir := packet.Dir(d)
			if r.dir != 0 && r.dir != dir {
				continue
			}
			n, live := s.h.Neighbour(dir)
			for i := 0; i < len(s.pending[d]); {
				p := s.pending[d][i]
				if p.m.dstPort != r.port {
					i++
					continue
				}
				s.pending[d] = slices.Delete(s.pending[d], i, i+1)
				if dir == viaRoutes || live && n.Tile == p.from.tile {
					s.open(p.from, p.m)
					return
				}
			}
		}
		return
	}
	if r.to != "" {
		s.openRouted(c, r)
		return
	}
	n, live := s.h.Neighbour(r.dir)
	switch {
	case !live:
		s.refuseClient(c, fmt.Sprintf("no live neighbour on %v", r.dir))
		return
	case !n.Offers(packet.ServiceTube):
		s.refuseClient(c, fmt.Sprintf("the neighbour on %v does not offer tubes (an itcd without service 9)", r.dir))
		return
	case s.count(from{dir: r.dir}) >= s.cfg.MaxTubes:
		s.refuseClient(c, fmt.Sprintf("%d tubes to %v already, the most tube.max_tubes allows", s.count(from{dir: r.dir}), r.dir))
		return
	}
	t := newTube(s.newID(), r.dir, n.Tile, r.kind, receiveWindow(r.kind, s.cfg.Window), n.RTT, s.now)
	s.startOpen(t, c, r)
}

// startOpen sends the first OPEN of a tube a program asked for.
func (s *Service) startOpen(t *tube, c *client, r request) {
	t.opener, t.localPort, t.remotePort, t.acks = true, s.newPort(), r.port, r.acks
	timeout := r.timeout
	if timeout == 0 {
		timeout = s.cfg.OpenTimeout.D()
	}
	t.deadline, t.retryGap = s.now.Add(timeout), openRetry
	s.attach(t, c)
	s.tubes[t.id] = t
	s.sendOpen(t)
}

// attach joins a program's connection to its tube.
func (s *Service) attach(t *tube, c *client) {
	t.cl, c.tube = c, t
	c.out.mu.Lock()
	c.out.message = t.kind == KindMessage
	c.out.mu.Unlock()
}

// sendOpen sends (again) the OPEN of a tube this tile opens.
func (s *Service) sendOpen(t *tube) {
	s.sendTube(t, appendOpen(nil, t.id, t.localPort, t.remotePort, t.kind, t.rcv.limit()))
	t.retryAt = s.now.Add(t.retryGap)
	t.retryGap = min(2*t.retryGap, openRetryMx)
}

// open handles an OPEN from the far side f.
func (s *Service) open(f from, m msg) {
	if m.id == 0 || m.dstPort == 0 {
		s.counters.Malformed++
		return
	}
	key := peerKey{f.dir, f.tile, m.id}
	if t := s.byPeer[key]; t != nil {
		if !t.st.finished() || t.st == stLinger {
			// Our ACCEPT was lost: say it again, the way the OPEN came.
			s.reply(f, appendAccept(nil, m.id, t.id, t.rcv.limit()))
		}
		return
	}
	w := s.accepts[m.dstPort]
	if w == nil || w.req.dir != 0 && w.req.dir != f.dir {
		s.keepPending(f, m)
		return
	}
	if m.kind != w.req.kind {
		reason := fmt.Sprintf("port %d accepts %s tubes, not %s ones", m.dstPort, kindName(w.req.kind), kindName(m.kind))
		s.reply(f, appendReset(nil, m.id, resetRefused, reason))
		delete(s.accepts, m.dstPort)
		s.refuseClient(w.c, fmt.Sprintf("%v opened port %d as a %s tube, not %s", f, m.dstPort, kindName(m.kind), kindName(w.req.kind)))
		return
	}
	if s.count(f) >= s.cfg.MaxTubes {
		s.counters.Refused++
		s.reply(f, appendReset(nil, m.id, resetTooMany, fmt.Sprintf("at most %d tubes per neighbour or far tile", s.cfg.MaxTubes)))
		return
	}
	t := newTube(s.newID(), f.dir, f.tile, m.kind, receiveWindow(m.kind, s.cfg.Window), f.hint, s.now)
	if f.dir == viaRoutes && !s.routeTube(t, f.back) {
		s.counters.Refused++ // no way back: the OPEN's own path was empty
		return
	}
	delete(s.accepts, m.dstPort)
	t.peer, t.localPort, t.remotePort, t.acks = m.id, m.dstPort, m.srcPort, w.req.acks
	t.snd.limit = m.window
	t.snd.capLimit()
	t.st = next(t.st, evAccepted)
	s.tubes[t.id] = t
	s.byPeer[key] = t
	s.attach(t, w.c)
	s.reply(f, appendAccept(nil, m.id, t.id, t.rcv.limit()))
	s.replyOK(t)
	s.step(t)
}

// keepPending remembers an OPEN nobody accepts yet, a few per link (and
// as many for all tiles by routes).
func (s *Service) keepPending(f from, m msg) {
	d := f.dir
	for i := range s.pending[d] {
		if p := &s.pending[d][i]; p.m.id == m.id && p.from.tile == f.tile {
			p.m, p.from, p.seen = m, f, s.now
			return
		}
	}
	if len(s.pending[d]) >= pendingMax {
		s.counters.Refused++
		return
	}
	s.pending[d] = append(s.pending[d], pendingOpen{m: m, from: f, seen: s.now})
}

func kindName(k byte) string {
	if k == KindMessage {
		return "message"
	}
	return "stream"
}

// replyOK tells the program its tube is open.
func (s *Service) replyOK(t *tube) {
	if t.cl == nil {
		return
	}
	r := tubeclient.Reply{ID: uint64(t.id), Dir: t.dir, Tile: t.tile.String(), LocalPort: t.localPort, RemotePort: t.remotePort,
		Message: t.kind == KindMessage, Window: int(t.rcv.window)}
	if t.dir == viaRoutes {
		r.Dir = packet.NT
	}
	t.cl.out.push(r.AppendText(nil))
}

// refuseClient answers a request with an error and closes the connection.
func (s *Service) refuseClient(c *client, reason string) {
	c.out.finish([]byte("error " + reason))
}

// hasRoom reports whether a tube takes the next frame from its program:
// it holds less than a window from it (so at most a window and a frame),
// and a message tube fewer than maxUnread messages the far program has not
// read.
func (s *Service) hasRoom(t *tube) bool {
	return t.snd.queued() < s.cfg.Window && len(t.sentEnds) < maxUnread
}
