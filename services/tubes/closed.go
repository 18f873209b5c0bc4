package tubes

import (
	"time"

	"github.com/t2tiles/itcd/p2p"
)

// After its linger a cleanly closed tube is forgotten, but its far side
// may still be repeating its FIN: every ACK of it may have been lost.
// An "unknown tube" RESET would fail a tube whose every byte arrived and
// was read, so what the final ACK said is kept a while longer, a few
// per link (as TCP's TIME-WAIT, in a few bytes), and a repeat gets it.

// closedTube is what is kept of a tube that closed cleanly.
type closedTube struct {
	tile             p2p.TileID
	id, peer         uint16
	ack, read, limit uint32
	at               time.Time
}

// closedKeep is how many closed tubes each link remembers; the oldest
// goes first.
const closedKeep = 32

type closedRing struct {
	all  [closedKeep]closedTube
	next int
}

// rememberClosed keeps the final ACK of a tube that closed cleanly.
func (s *Service) rememberClosed(t *tube) {
	r := &s.closed[t.dir]
	r.all[r.next] = closedTube{tile: t.tile, id: t.id, peer: t.peer,
		ack: t.rcv.nxt, read: t.rcv.read, limit: t.rcv.limit(), at: s.now}
	r.next = (r.next + 1) % closedKeep
}

// finalAck returns the closed tube the far side f names by id, this
// tile's id for it, if kept and younger than give_up_after (by
// then the far side has given up on it).
func (s *Service) finalAck(f from, id uint16) (closedTube, bool) {
	for _, c := range s.closed[f.dir].all {
		if c.id == id && c.tile == f.tile && !c.at.IsZero() && s.now.Sub(c.at) < s.cfg.GiveUpAfter.D() {
			return c, true
		}
	}
	return closedTube{}, false
}
