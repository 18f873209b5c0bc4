package tubes

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// stripedTube is an open tube from s to far striped over three paths
// whose first links are ET, NE and SE, with a far window of window bytes
// and 5000 bytes handed over.
func stripedTube(t *testing.T, window uint32) (*Service, *fakeHost, *tube, p2p.TileID) {
	t.Helper()
	s, h := newDriven(t, selfTile, map[packet.Dir]p2p.TileID{packet.ET: tileID(3), packet.NE: tileID(4), packet.SE: tileID(5)})
	far := tileID(70)
	tb := newTube(s.newID(), viaRoutes, far, KindStream, s.cfg.Window, 10*time.Millisecond, s.now)
	tb.opener, tb.peer, tb.st = true, 4242, stOpen
	tb.paths = [][]packet.Dir{{packet.ET, packet.ET}, {packet.NE, packet.SE}, {packet.SE, packet.NE}}
	tb.stripe, tb.hops = 3, 6
	tb.snd.seg, tb.snd.limit = segmentFor(6), window
	s.tubes[tb.id] = tb
	tb.handOver(make([]byte, 5000))
	return s, h, tb, far
}

// answer has the far tile answer each DATA s sent, the way it came, with
// an ACK of everything sent and read that was read, unless drop says the
// path is a black hole. It returns how many were answered.
func answer(t *testing.T, s *Service, h *fakeHost, far p2p.TileID, tb *tube, read uint32, drop func(packet.Dir) bool) int {
	t.Helper()
	n := 0
	for _, p := range h.take() {
		hd, in, err := parseRouted(p.payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseRoutedMsg(in, far, selfTile)
		if err != nil || m.typ != msgData || drop(p.to) {
			continue
		}
		ack := appendAck(nil, tb.id, tb.snd.nxt, read, tb.snd.limit, nil)
		deliver(s, p.to, routedTo(hd.back(), hd.n, far, selfTile, ack))
		n++
	}
	h.room = [8]int{}
	for _, d := range packet.Links {
		if h.live(d) {
			h.room[d] = 1000
		}
	}
	return n
}

// TestStripedProbesKeepPaths: the far program reads nothing and the
// window stays closed; the far itcd answers every probe. The tube keeps
// all its paths (a probe's timeout is no sign a path is bad), and the
// probes go out on each path in turn, so the tube is not stalled when
// one of them is a black hole.
func TestStripedProbesKeepPaths(t *testing.T) {
	for _, hole := range []packet.Dir{0, packet.ET, packet.NE} {
		s, h, tb, far := stripedTube(t, 1000)
		s.pump()
		answer(t, s, h, far, tb, 0, func(packet.Dir) bool { return false })
		if !tb.snd.windowClosed() || tb.snd.outstanding() {
			t.Fatalf("window closed %v, outstanding %v", tb.snd.windowClosed(), tb.snd.outstanding())
		}
		answered := 0
		for range 12 {
			d := tb.snd.deadline(&s.cfg)
			if d.IsZero() {
				t.Fatal("no probe planned with the window closed")
			}
			s.now = d
			s.timers()
			answered += answer(t, s, h, far, tb, 0, func(d packet.Dir) bool { return d == hole })
			if tb.st != stOpen {
				t.Fatalf("hole %v: the tube %v: %s", hole, tb.st, tb.reason)
			}
		}
		if len(tb.paths) != 3 {
			t.Errorf("hole %v: %d paths left after probes into a closed window", hole, len(tb.paths))
		}
		if answered < 6 {
			t.Errorf("hole %v: %d of 12 probes answered", hole, answered)
		}
		if d := tb.snd.silentFor(s.now); d > 5*s.cfg.MaxRTO.D() {
			t.Errorf("hole %v: silent for %v", hole, d)
		}
	}
}
