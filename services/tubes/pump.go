package tubes

import (
	"errors"
	"sort"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// pump sends what the tubes have to send while the links' queues take
// it: on each link the tubes take turns, one packet each, an ACK due
// before data, so one busy tube cannot starve the others. A link whose
// queue filled waits for Drained.
func (s *Service) pump() {
	var byDir [8][]turn
	for _, t := range s.tubes {
		if t.st == stOpening || t.st == stClosed || t.st == stFailed {
			continue
		}
		if t.dir != viaRoutes {
			byDir[t.dir] = append(byDir[t.dir], turn{t, 0})
			continue
		}
		// A tube by routes takes a turn on the first link of each path
		// it stripes over: each path runs at what its link takes.
		for i, p := range t.paths[:t.stripe] {
			byDir[p[0]] = append(byDir[p[0]], turn{t, i})
		}
	}
	for _, d := range packet.Links {
		ts := byDir[d]
		if len(ts) == 0 && s.fwd[d].len() == 0 || s.blocked[d] {
			continue
		}
		// The order of a map is random; turns go by id, from where the
		// last round stopped, so each tube gets its share.
		sort.Slice(ts, func(i, j int) bool { return ts[i].t.id < ts[j].t.id })
		for sent := true; sent && !s.blocked[d] && !s.deep(d); {
			// Packets forwarded for other tiles take one turn a round,
			// as a tube of this tile does.
			sent = s.sendForward(d)
			for _, t := range ts {
				if s.h.Room(d) == 0 {
					s.blocked[d] = true
					break
				}
				if s.deep(d) {
					break
				}
				if s.sendOne(t.t, t.path) {
					sent = true
				}
			}
		}
	}
}

// deep reports whether link d's queue holds as many of this service's
// packets as it should: more would only wait there, and a retransmission
// or an ACK queued behind them would wait with them. The pace timer looks
// again soon (paceTick).
func (s *Service) deep(d packet.Dir) bool {
	room := s.h.Room(d)
	s.roomMax[d] = max(s.roomMax[d], room)
	if s.roomMax[d]-room < queueDepth {
		return false
	}
	s.paced = true
	return true
}

// turn is a tube's turn on a link: for a tube by routes, on the path
// with that index.
type turn struct {
	t    *tube
	path int
}

// sendOne sends a tube's next packet on path, if it has one.
func (s *Service) sendOne(t *tube, path int) bool {
	if t.rcv.ackDue(s.now) {
		s.sendAck(t)
		return true
	}
	if t.st == stLinger {
		return false
	}
	seg, data, ok := t.snd.next(s.now, path)
	if !ok {
		return false
	}
	var flags byte
	if seg.fin {
		flags = flagFin
	}
	// The ACK rides on nothing: DATA carries none, so a receiver that is
	// also sending still acknowledges by its own ACKs.
	s.sendOn(t, path, appendData(make([]byte, 0, maxMsg), t.peer, seg.seq, flags, data))
	s.counters.DataOut++
	return true
}

func (s *Service) sendAck(t *tube) {
	var sacks [maxSacks]span
	ack, read, limit, sp := t.rcv.ack(sacks[:0])
	p := appendAck(make([]byte, 0, 64), t.peer, ack, read, limit, sp)
	if len(t.back) > 0 {
		// By routes, the way the far side's packets last came: it works,
		// even while a path of this tile's own choice does not.
		// An echo of a congestion mark goes back by the marked packet's
		// own path, so the sender halves that path's window.
		back, flags := t.back, byte(0)
		if t.ceBack != nil {
			back, flags, t.ceBack = t.ceBack, routedECE, nil
		}
		s.sendRouted(back, t.tile, p, flags)
	} else {
		s.sendTube(t, p)
	}
	s.counters.AcksOut++
}

// sendProbe sends an empty DATA into a closed window: the far side
// answers with an ACK that brings the window, if one was lost. A tube
// by routes probes on each of its paths in turn: one that lost its way
// (a black hole) delays the answer by a probe, and keeps the tube.
func (s *Service) sendProbe(t *tube) {
	p := appendData(nil, t.peer, t.snd.nxt, 0, nil)
	if t.dir == viaRoutes && len(t.paths) > 0 {
		s.sendOn(t, int(t.snd.backoff%uint(len(t.paths))), p)
		return
	}
	s.sendTube(t, p)
}

// send queues a payload for link d and reports whether it went; a full
// queue marks the link blocked (the packet is lost, as on the link, and
// recovered the same way).
func (s *Service) send(d packet.Dir, payload []byte) bool {
	err := s.h.Send(d, payload)
	switch {
	case err == nil:
		s.counters.PacketsOut++
	case errors.Is(err, p2p.ErrQueueFull):
		s.blocked[d] = true
		s.counters.QueueFull++
	}
	return err == nil
}
