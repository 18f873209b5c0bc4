package tubes

import (
	"fmt"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The RESETs one link gets for packets of tubes this tile does not know
// are bounded (Service.resets): a neighbour sending garbage ids cannot
// make the tile answer each one.
const (
	resetsPerSecond = 10
	resetBurst      = 20
)

// packet handles one service 9 packet from a neighbour.
func (s *Service) packet(pm *p2p.Message) {
	p := pm.Payload()
	if len(p) > 0 && p[0] == msgRouted {
		s.routed(pm, p)
		return
	}
	m, err := parseMsg(p)
	if err != nil {
		s.unreadable(pm.From, err)
		return
	}
	n, live := s.sender(pm)
	if !live {
		return
	}
	s.dispatch(from{dir: pm.From, tile: pm.Tile, hint: n.RTT}, m)
}

// sender is the live neighbour that sent pm, false (counted) if the tile
// that sent it is no longer live on that link.
func (s *Service) sender(pm *p2p.Message) (p2p.Neighbour, bool) {
	n, live := s.h.Neighbour(pm.From)
	if !live || n.Tile != pm.Tile {
		s.counters.NotLive++
		return n, false
	}
	return n, true
}

// unreadable counts a message that did not parse.
func (s *Service) unreadable(d packet.Dir, err error) {
	if err == errCRC {
		s.counters.CRCErrors++
		return
	}
	s.counters.Malformed++
	s.log.Debug("unreadable tube packet", "dir", d.String(), "err", err)
}

// dispatch handles one tube message from f: a neighbour, or a tile by
// routes.
func (s *Service) dispatch(f from, m msg) {
	switch m.typ {
	case msgOpen:
		s.open(f, m)
		return
	case msgCancel:
		s.cancelled(f, m.id)
		return
	}
	t := s.tubes[m.id]
	if t != nil && (t.dir != f.dir || t.tile != f.tile) {
		t = nil
	}
	if t != nil && len(f.back) > 0 {
		t.back = f.back // ACKs go back the way the latest packet came
		if f.ce {
			t.ceBack = f.back
		}
		if f.ece {
			s.congested(t, f.back)
		}
	}
	if t != nil && t.st == stOpening && (m.typ == msgData || m.typ == msgAck) {
		// Its ACCEPT was lost or is behind: the far side repeats this.
		return
	}
	switch m.typ {
	case msgAccept:
		if t == nil || !t.opener {
			return // an ACCEPT for nothing: ignored, never answered
		}
		if t.st == stFailed {
			// Accepted after this side gave up: end it there too.
			s.sendTube(t, appendReset(nil, m.from, resetAborted, t.reason))
			return
		}
		s.accepted(t, m)
	case msgData:
		if t == nil {
			s.unknown(f, m)
			return
		}
		s.data(t, &m)
	case msgAck:
		if t == nil {
			s.unknown(f, m)
			return
		}
		s.ack(t, &m)
	case msgReset:
		if m.code == resetUnknown {
			t = s.byPeerID(f, m.id)
		}
		if t != nil && !t.st.finished() {
			s.fail(t, "the far side: "+resetText(m.code, m.reason), 0)
		}
	}
}

// byPeerID returns the tube with the far side f whose id there is id. A
// RESET that says "unknown tube" names the tube so: it answers a packet
// for a tube its sender no longer holds, and carries the id that packet
// carried, the sender's own. A tube still opening has no peer id yet.
func (s *Service) byPeerID(f from, id uint16) *tube {
	for _, t := range s.tubes {
		if t.dir == f.dir && t.tile == f.tile && t.peer == id && t.st != stOpening {
			return t
		}
	}
	return nil
}

// cancelled: the far side f gave up opening its tube id, so neither a
// kept OPEN nor a tube accepted meanwhile may wait for it.
func (s *Service) cancelled(f from, id uint16) {
	for i, p := range s.pending[f.dir] {
		if p.m.id == id && p.from.tile == f.tile {
			s.pending[f.dir] = append(s.pending[f.dir][:i], s.pending[f.dir][i+1:]...)
			break
		}
	}
	if t := s.byPeer[peerKey{f.dir, f.tile, id}]; t != nil && !t.st.finished() {
		s.fail(t, "the far side gave up opening the tube", 0)
	}
}

// resetText says why a RESET ended a tube.
func resetText(code byte, reason string) string {
	var s string
	switch code {
	case resetRefused:
		s = "refused"
	case resetAborted:
		s = "aborted"
	case resetTooMany:
		s = "too many tubes"
	case resetUnknown:
		s = "the tube is unknown there (its itcd restarted?)"
	case resetClosed:
		s = "the program closed the tube"
	case resetTimedOut:
		s = "timed out"
	case resetProtocol:
		s = "protocol error"
	default:
		s = fmt.Sprintf("reset %d", code)
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// unknown answers a DATA or ACK for a tube this tile does not hold,
// within the link's budget: with the final ACK of a tube that closed
// cleanly (closed.go), else with a RESET.
func (s *Service) unknown(f from, m msg) {
	c, closed := s.finalAck(f, m.id)
	if closed {
		s.counters.FinalAcks++
	} else {
		s.counters.Unknown++
	}
	if !s.resets[f.dir].Take(s.now, resetsPerSecond, resetBurst) {
		return
	}
	if closed {
		s.reply(f, appendAck(make([]byte, 0, 64), c.peer, c.ack, c.read, c.limit, nil))
		return
	}
	s.reply(f, appendReset(nil, m.id, resetUnknown, ""))
}

// accepted: the far side accepted a tube this tile opened.
func (s *Service) accepted(t *tube, m msg) {
	if t.st != stOpening {
		return // a repeat
	}
	if m.from == 0 {
		s.fail(t, "the far side accepted with tube id 0", resetProtocol)
		return
	}
	t.peer, t.snd.limit, t.retryAt, t.deadline = m.from, m.window, time.Time{}, time.Time{}
	t.snd.capLimit()
	t.st = next(t.st, evAccepted)
	s.replyOK(t)
	s.step(t)
}

// data takes a DATA segment.
func (s *Service) data(t *tube, m *msg) {
	if t.st.finished() && t.st != stLinger {
		return
	}
	ok := true
	dups, beyond, crowded := t.rcv.dups, t.rcv.beyond, t.rcv.crowded
	defer func() {
		s.counters.DupData += t.rcv.dups - dups
		s.counters.BeyondWindow += t.rcv.beyond - beyond
		s.counters.HeldFull += t.rcv.crowded - crowded
	}()
	t.rcv.onData(m.seq, m.flags&flagFin != 0, m.data, s.now, s.cfg.AckDelay.D(), func(b []byte) {
		if ok && !t.take(b, func(p []byte) { s.give(t, p) }) {
			ok = false
		}
	})
	if !ok {
		s.fail(t, fmt.Sprintf("the far side sent a message over %d bytes", MaxMessage), resetProtocol)
		return
	}
	if t.appGone && t.given > t.taken && !t.st.finished() {
		s.fail(t, "the program closed the tube and reads no more", resetClosed)
		return
	}
	if t.rcv.ended && !t.endSent && t.cl != nil {
		t.endSent = true
		t.cl.out.push([]byte{frEnd})
	}
	if t.appGone {
		t.free(t.given, s.now, s.cfg.AckDelay.D()) // nobody reads: what arrived counts as read
		t.consume(t.given, s.now, s.cfg.AckDelay.D())
	}
	t.finConsumed()
	s.step(t)
}

// give passes one data frame's worth to the program.
func (s *Service) give(t *tube, p []byte) {
	if t.cl == nil {
		return
	}
	t.toProgram += len(p)
	f := make([]byte, 1+len(p))
	f[0] = frData
	copy(f[1:], p)
	t.cl.out.push(f)
}

// ack takes an ACK.
func (s *Service) ack(t *tube, m *msg) {
	if t.st.finished() {
		return
	}
	r, ok := t.snd.onAck(m.ack, m.read, m.limit, m.sacks, s.now)
	if !ok {
		s.counters.BadAcks++
		return
	}
	s.counters.Lost += uint64(r.lost)
	if t.creditDue && s.hasRoom(t) {
		t.creditDue = false
		notify(t.cl.credit)
	}
	if t.confirmations() && t.cl != nil {
		t.cl.out.setConfirm(t.received, t.delivered)
	}
	s.step(t)
}

// step advances the tube's state and does what entering each state asks.
func (s *Service) step(t *tube) {
	for _, st := range t.advance() {
		switch st {
		case stLinger:
			t.deadline = s.now.Add(s.cfg.Linger.D())
			if t.cl != nil {
				t.cl.out.finish([]byte{frClosed})
			}
			s.counters.Closed++
		}
	}
}

// fail ends a tube with reason: the program is told, and the neighbour
// too when code is not 0.
func (s *Service) fail(t *tube, reason string, code byte) {
	if t.st.finished() {
		return
	}
	switch {
	case t.st == stOpening:
		// Not accepted yet: the far side knows the tube by our id only.
		s.sendTube(t, appendCancel(nil, t.id))
	case code != 0:
		s.sendTube(t, appendReset(nil, t.peer, code, reason))
	}
	t.st, t.reason = next(t.st, evFail), reason
	t.deadline = s.now.Add(s.cfg.Linger.D())
	t.retryAt = time.Time{}
	s.counters.Failed++
	if t.cl != nil {
		t.cl.out.finish(append([]byte{frAbort}, reason...))
		if t.creditDue {
			t.creditDue = false
			notify(t.cl.credit)
		}
	}
	s.log.Info("tube failed", "tube", t.id, "to", t.where(), "port", t.localPort, "reason", reason)
}
