package routes

import (
	"time"

	"github.com/t2tiles/itcd/p2p"
)

// Verdict is what the database made of an LSA offered to it.
type Verdict int

const (
	Newer Verdict = iota // stored: flood it on
	Same                 // the one already held: the sender has it
	Older                // older than the one held: send ours back
	Full                 // a new origin, and the table keeps nearer tiles
)

// entry is one origin's newest LSA.
type entry struct {
	lsa   LSA
	heard time.Time // when this version arrived (or was made, for self)
	// unreachableSince is when the tile was last found unreachable, zero
	// while it is reachable.
	unreachableSince time.Time
}

// DB holds the newest LSA of every origin, at most max of them. It is a
// pure type: the service's goroutine owns it and gives it the time.
type DB struct {
	self    p2p.TileID
	max     int
	entries map[p2p.TileID]*entry
}

// NewDB returns an empty database for tile self holding at most max LSAs.
func NewDB(self p2p.TileID, max int) *DB {
	return &DB{self: self, max: max, entries: make(map[p2p.TileID]*entry)}
}

// Len is how many LSAs the database holds.
func (db *DB) Len() int { return len(db.entries) }

// Get returns origin's LSA.
func (db *DB) Get(origin p2p.TileID) (*LSA, bool) {
	e, ok := db.entries[origin]
	if !ok {
		return nil, false
	}
	return &e.lsa, true
}

// All returns every LSA held (pointers into the database: read them
// before the next change).
func (db *DB) All() []*LSA {
	out := make([]*LSA, 0, len(db.entries))
	for _, e := range db.entries {
		out = append(out, &e.lsa)
	}
	return out
}

// Offer stores l if it is newer than what the database holds of its origin.
// g is the current graph: when the table is full, a new origin takes the
// place of a tile that cannot be reached, or else of the farthest one when
// it is nearer itself, so a hostile tile inventing tiles behind it cannot
// push out the honest tiles between it and here.
func (db *DB) Offer(l *LSA, now time.Time, g *Graph) Verdict {
	if e, ok := db.entries[l.Origin]; ok {
		switch {
		case newer(l.Seq, e.lsa.Seq):
			e.lsa, e.heard = *l, now
			return Newer
		case l.Seq == e.lsa.Seq:
			return Same
		}
		return Older
	}
	if len(db.entries) >= db.max && !db.evictFor(l, g) {
		return Full
	}
	db.entries[l.Origin] = &entry{lsa: *l, heard: now, unreachableSince: now}
	return Newer
}

// evictFor makes room for l's origin if some held tile matters less.
func (db *DB) evictFor(l *LSA, g *Graph) bool {
	var victim p2p.TileID
	var since time.Time
	for id, e := range db.entries {
		if id != db.self && !e.unreachableSince.IsZero() && (victim.IsZero() || e.unreachableSince.Before(since)) {
			victim, since = id, e.unreachableSince
		}
	}
	if victim.IsZero() && g != nil {
		// How far would l's origin be? One beyond the nearest neighbour
		// it lists that lists it back.
		near := -1
		for _, k := range l.Neighbours() {
			n, ok := db.entries[k.Tile]
			if !ok || !lists(&n.lsa, k.Dir.Opposite(), l.Origin) {
				continue
			}
			if h, ok := g.Reachable(k.Tile); ok && (near < 0 || h+1 < near) {
				near = h + 1
			}
		}
		far := 0
		for id := range db.entries {
			if h, ok := g.Reachable(id); ok && id != db.self && h > far {
				victim, far = id, h
			}
		}
		if near < 0 || near >= far {
			return false
		}
	}
	if victim.IsZero() {
		return false
	}
	delete(db.entries, victim)
	return true
}

// newer reports whether sequence number a is newer than b, in serial
// arithmetic (RFC 1982): numbers wrap, so no LSA, forged or not, can
// leave its origin without a newer number to send. Two numbers exactly
// half way round, which RFC 1982 leaves unordered, are ordered by value:
// unordered, two tiles holding the two answered each other with their
// own for ever (each "older" than the other).
func newer(a, b uint32) bool {
	d := a - b
	return d != 0 && (d < 1<<31 || d == 1<<31 && a > b)
}

// Originate stores this tile's own LSA.
func (db *DB) Originate(l *LSA, now time.Time) {
	db.entries[db.self] = &entry{lsa: *l, heard: now}
}

// Mark records which tiles g can reach, for Expire.
func (db *DB) Mark(g *Graph, now time.Time) {
	for id, e := range db.entries {
		_, ok := g.Reachable(id)
		switch {
		case ok || id == db.self:
			e.unreachableSince = time.Time{}
		case e.unreachableSince.IsZero():
			e.unreachableSince = now
		}
	}
}

// Expire removes LSAs not refreshed within maxAge and those of tiles
// unreachable for hold, and returns how many it removed and when the next
// one would go (zero if none will).
func (db *DB) Expire(now time.Time, maxAge, hold time.Duration) (removed int, next time.Time) {
	for id, e := range db.entries {
		if id == db.self {
			continue
		}
		at := e.heard.Add(maxAge)
		if !e.unreachableSince.IsZero() {
			at = minTime(at, e.unreachableSince.Add(hold))
		}
		if !now.Before(at) {
			delete(db.entries, id)
			removed++
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return removed, next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
