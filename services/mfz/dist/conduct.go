package dist

import (
	"time"

	"github.com/t2tiles/itcd/p2p"
)

// A neighbour's conduct: the faults it earned and how long it is avoided
// for them. A neighbour that does not serve what it announced (NOTHAVEs
// for announced blocks, silences, manifests that never come or are
// refused for what they are) earns a strike; t.strikes in a row and it is
// avoided: asked for nothing for t.avoidFor, doubling each time up to
// t.avoidMax. A block that fails its hash is an avoidance at once. A
// block served clears the strikes (not the doubling). Taking back files
// it announced is no fault once, but t.vanishes of them within
// t.vanishWindow is a strike.
//
// The conduct belongs to the tile, not to the link: when the neighbour
// goes away its conduct is kept by tile id in the loop's conductBook and
// handed back when the tile connects again, so a bad tile cannot clear it
// by flapping its link. Both types are pure: time comes in as an
// argument, and the loop applies what they decide (strike, avoid).

// conduct is one neighbour tile's record. Make it with newConduct.
type conduct struct {
	strikes    int
	avoidUntil time.Time
	avoidFor   time.Duration // the next avoidance's length
	avoidCount int
	lastBad    time.Time   // its last strike or avoidance
	vanished   []time.Time // recent fetches whose file it took back, fewer than t.vanishes
}

func newConduct(t *tuning) conduct { return conduct{avoidFor: t.avoidFor} }

// avoided reports whether nothing may be asked of the tile at now.
func (c *conduct) avoided(now time.Time) bool { return now.Before(c.avoidUntil) }

// strike notes a fault at now and reports whether it completes the
// strikes in a row that earn an avoidance: the caller then avoids it.
func (c *conduct) strike(now time.Time, t *tuning) bool {
	c.strikes++
	c.lastBad = now
	return c.strikes >= t.strikes
}

// avoid starts an avoidance at now and returns its length; the next one
// is twice as long, up to t.avoidMax.
func (c *conduct) avoid(now time.Time, t *tuning) time.Duration {
	d := c.avoidFor
	c.strikes = 0
	c.lastBad = now
	c.avoidUntil = now.Add(d)
	c.avoidFor = min(2*d, t.avoidMax)
	c.avoidCount++
	return d
}

// served notes a block it served: its strikes in a row end.
func (c *conduct) served() { c.strikes = 0 }

// vanish notes a fetch whose file it took back at now, and reports
// whether that makes t.vanishes within t.vanishWindow: a strike.
func (c *conduct) vanish(now time.Time, t *tuning) bool {
	recent := c.vanished[:0]
	for _, at := range c.vanished {
		if now.Sub(at) < t.vanishWindow {
			recent = append(recent, at)
		}
	}
	c.vanished = append(recent, now)
	if len(c.vanished) >= t.vanishes {
		c.vanished = c.vanished[:0]
		return true
	}
	return false
}

// expires is when a remembered conduct is forgotten: avoidMax after the
// tile's last strike or avoidance, and never before its avoidance ends.
func (c *conduct) expires(t *tuning) time.Time {
	e := c.lastBad.Add(t.avoidMax)
	if c.avoidUntil.After(e) {
		e = c.avoidUntil
	}
	return e
}

// conductBook keeps the conduct of tiles that went away, by tile id, at
// most t.conductMax of them. Only the loop goroutine touches it.
type conductBook map[p2p.TileID]conduct

// remember keeps c, the conduct of a tile that goes away at now, if it
// earned strikes or avoidance that have not expired. Full, it forgets the
// expired records, else the one that expires first. Vanished fetches are
// not kept: they count within a minute, and a reconnect takes longer.
func (b conductBook) remember(tile p2p.TileID, c conduct, now time.Time, t *tuning) {
	if c.strikes == 0 && c.avoidCount == 0 {
		return
	}
	if !now.Before(c.expires(t)) {
		return
	}
	c.vanished = nil
	delete(b, tile)
	for len(b) >= t.conductMax {
		var first p2p.TileID
		var at time.Time
		for k, o := range b {
			e := o.expires(t)
			if !now.Before(e) {
				delete(b, k)
				continue
			}
			if at.IsZero() || e.Before(at) {
				first, at = k, e
			}
		}
		if len(b) >= t.conductMax {
			delete(b, first)
		}
	}
	b[tile] = c
}

// recall returns what was remembered of tile, connecting at now, and
// forgets it (the live neighbour carries it now); ok is false if nothing
// was, or the record expired.
func (b conductBook) recall(tile p2p.TileID, now time.Time, t *tuning) (c conduct, ok bool) {
	c, ok = b[tile]
	if !ok {
		return c, false
	}
	delete(b, tile)
	if !now.Before(c.expires(t)) {
		return conduct{}, false
	}
	return c, true
}

// strike notes a neighbour that did not serve what it announced; enough
// in a row and it is avoided.
func (l *loop) strike(n *nbr, why string) {
	if n.conduct.strike(l.now, l.t) {
		l.avoid(n, why)
	}
}

// avoid stops asking n for anything for a while (doubling each time):
// its blocks and manifest fetches go to the others at once.
func (l *loop) avoid(n *nbr, why string) {
	d := n.conduct.avoid(l.now, l.t)
	l.log.Warn("mfz avoiding neighbour", "dir", n.dir.String(), "for", d, "reason", why)
	l.counters.Avoided++
	l.cancelAsms(n, nil)
	l.dropFetchesFrom(n.dir)
}
