package hostile_test

import (
	"sync/atomic"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tile"
)

// Helpers of the tube attacks: the tube section of a status, and an
// attacker that offers service 9 and logs what it hears. A program on
// tube.sock is a tubetest.Raw.

// tubeServices is what a tile with the tube service offers in its hellos.
const tubeServices = 1<<packet.ServiceLiveness | 1<<packet.ServiceCounter | 1<<packet.ServiceMFZ | 1<<packet.ServiceTube

// tubeAttacker is an attacker on tile A's WT that speaks service 9: every
// service 9 message from A goes into log, and to answer when set.
type tubeAttacker struct {
	log    *hostile.TubeLog
	answer atomic.Pointer[func(n *hostile.Neighbour, m *tubes.WireMessage)]
}

func newTubeAttacker() (*tubeAttacker, attacker) {
	ta := &tubeAttacker{log: hostile.NewTubeLog()}
	cfg := hostile.Config{Services: tubeServices, Handler: func(n *hostile.Neighbour, r *hostile.Received) {
		ta.log.Handle(n, r)
		if f := ta.answer.Load(); f != nil && r.IsService(packet.ServiceTube) {
			if m, err := tubes.ParseWire(r.Packet.Payload); err == nil {
				(*f)(n, &m)
			}
		}
	}}
	return ta, attacker{at: tileA, dir: packet.WT, cfg: cfg}
}

// tubeArena is a 2x1 arena with a tube attacker on A's WT, the tiles'
// tube settings changed by tweak (if not nil).
func tubeArena(t *testing.T, tweak func(*tubes.Config)) (*arena, *tubeAttacker) {
	ta, atk := newTubeAttacker()
	a := newArenaWith(t, 2, 1, devProfile(), func(_ tilegrid.Coord, c *tile.Config) {
		if tweak != nil {
			tweak(&c.Tube)
		}
	}, atk)
	return a, ta
}

func tubeOf(st control.Status) tubes.Status {
	var s tubes.Status
	section(st, "tube", &s)
	return s
}

// tubeOn returns the tube on link d with local port p, if any.
func tubeOn(s tubes.Status, d packet.Dir, port uint16) (tubes.TubeStatus, bool) {
	for _, ts := range s.Tubes {
		if ts.Dir == d && ts.LocalPort == port {
			return ts, true
		}
	}
	return tubes.TubeStatus{}, false
}
