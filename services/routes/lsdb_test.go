package routes

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNewer(t *testing.T) {
	tests := []struct {
		a, b uint32
		want bool
	}{
		{2, 1, true}, {1, 2, false}, {1, 1, false},
		{1, 0xfffffff0, true}, {0xfffffff0, 1, false},
		{0, 0xffffffff, true},
		{0x80000001, 1, true}, // half way round: the larger value wins
		{1, 0x80000001, false},
		{0x7fffffff, 0, true},
	}
	for _, tc := range tests {
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer(%#x, %#x) = %v", tc.a, tc.b, got)
		}
	}
}

func TestOfferVerdicts(t *testing.T) {
	self := id(1)
	tests := []struct {
		name    string
		held    uint32 // 0: none held
		offered uint32
		want    Verdict
		keeps   uint32
	}{
		{"new origin", 0, 5, Newer, 5},
		{"newer", 5, 6, Newer, 6},
		{"same", 5, 5, Same, 5},
		{"older", 6, 5, Older, 6},
		{"wrapped round is newer", 0xfffffff0, 1, Newer, 1},
		{"before the wrap is older", 1, 0xfffffff0, Older, 1},
	}
	for _, tc := range tests {
		db := NewDB(self, 8)
		if tc.held != 0 {
			db.Offer(&LSA{Origin: id(2), Seq: tc.held}, t0, nil)
		}
		got := db.Offer(&LSA{Origin: id(2), Seq: tc.offered, N: 1, Links: [MaxLinks]Link{{packet.ET, id(9)}}}, t0.Add(time.Second), nil)
		l, _ := db.Get(id(2))
		if got != tc.want || l.Seq != tc.keeps {
			t.Errorf("%s: %v keeping %d, want %v keeping %d", tc.name, got, l.Seq, tc.want, tc.keeps)
		}
	}
	// Same seq, other content: the first one stays.
	db := NewDB(self, 8)
	db.Offer(&LSA{Origin: id(2), Seq: 3}, t0, nil)
	if v := db.Offer(&LSA{Origin: id(2), Seq: 3, N: 1, Links: [MaxLinks]Link{{packet.ET, id(9)}}}, t0, nil); v != Same {
		t.Errorf("same seq, other links: %v", v)
	}
	if l, _ := db.Get(id(2)); l.N != 0 {
		t.Errorf("same seq replaced what was held")
	}
	// Offer copies: changing the LSA offered later changes nothing held.
	in := &LSA{Origin: id(3), Seq: 1}
	db.Offer(in, t0, nil)
	in.Seq = 99
	if l, _ := db.Get(id(3)); l.Seq != 1 {
		t.Errorf("the database holds the caller's LSA, not a copy")
	}
}

// line makes the LSAs of a line of tiles 1-2-3-...-n, each ET of the one
// before.
func line(n byte) []*LSA {
	var edges []edge
	for i := byte(1); i < n; i++ {
		edges = append(edges, edge{i, packet.ET, i + 1})
	}
	return lsasOf(edges)
}

// fullDB holds the LSAs of lsas, as tile 1 sees them, with the reachable
// ones marked.
func fullDB(t *testing.T, max int, lsas []*LSA) (*DB, *Graph) {
	t.Helper()
	db := NewDB(id(1), max)
	for _, l := range lsas {
		if l.Origin == id(1) {
			db.Originate(l, t0)
			continue
		}
		if v := db.Offer(l, t0, nil); v != Newer {
			t.Fatalf("filling: %v", v)
		}
	}
	g := NewGraph(id(1), db.All())
	db.Mark(g, t0)
	return db, g
}

func TestOfferFull(t *testing.T) {
	t.Run("an unreachable tile goes first", func(t *testing.T) {
		lsas := append(line(3), &LSA{Origin: id(50), Seq: 1}) // 50 links nowhere
		db, g := fullDB(t, 4, lsas)
		if v := db.Offer(&LSA{Origin: id(60), Seq: 1}, t0, g); v != Newer {
			t.Fatalf("offer to a full table with an unreachable tile: %v", v)
		}
		if _, ok := db.Get(id(50)); ok {
			t.Errorf("the unreachable tile was kept")
		}
		for _, n := range []byte{1, 2, 3} {
			if _, ok := db.Get(id(n)); !ok {
				t.Errorf("reachable tile %d went", n)
			}
		}
	})
	t.Run("the farthest goes for a nearer tile", func(t *testing.T) {
		lsas := line(4) // 1-2-3-4: 4 is 3 hops away
		// 2 lists a new tile 9 on SE: 9 would be 2 hops away.
		lsas[1].Links[lsas[1].N] = Link{packet.SE, id(9)}
		lsas[1].N++
		db, g := fullDB(t, 4, lsas)
		near := &LSA{Origin: id(9), Seq: 1, N: 1, Links: [MaxLinks]Link{{packet.NW, id(2)}}}
		if v := db.Offer(near, t0, g); v != Newer {
			t.Fatalf("a nearer tile: %v", v)
		}
		if _, ok := db.Get(id(4)); ok {
			t.Errorf("the farthest tile was kept")
		}
	})
	t.Run("no room for a tile as far or farther", func(t *testing.T) {
		lsas := line(4)
		// 4 (hostile, say) lists tiles it invents behind it.
		lsas[3].Links[lsas[3].N] = Link{packet.ET, id(9)}
		lsas[3].N++
		db, g := fullDB(t, 4, lsas)
		offers := []*LSA{
			{Origin: id(9), Seq: 1, N: 1, Links: [MaxLinks]Link{{packet.WT, id(4)}}},  // 4 hops: behind the farthest
			{Origin: id(10), Seq: 1, N: 1, Links: [MaxLinks]Link{{packet.SE, id(2)}}}, // claims 2, which does not list it
			{Origin: id(11), Seq: 1, N: 1, Links: [MaxLinks]Link{{packet.WT, id(1)}}}, // claims this tile
			{Origin: id(12), Seq: 1}, // no links
		}
		for _, l := range offers {
			if v := db.Offer(l, t0, g); v != Full {
				t.Errorf("offer of %v: %v, want Full", l.Origin, v)
			}
		}
		for _, n := range []byte{1, 2, 3, 4} {
			if _, ok := db.Get(id(n)); !ok {
				t.Errorf("honest tile %d went", n)
			}
		}
		if db.Len() != 4 {
			t.Errorf("%d held, want 4", db.Len())
		}
	})
	t.Run("no graph yet", func(t *testing.T) {
		db, _ := fullDB(t, 3, line(3))
		if v := db.Offer(&LSA{Origin: id(9), Seq: 1}, t0, nil); v != Full {
			t.Errorf("%v", v)
		}
	})
}

func TestExpire(t *testing.T) {
	const maxAge, hold = 30 * time.Minute, time.Minute
	db, _ := fullDB(t, 8, line(3)) // 1-2-3, all reachable, heard at t0
	db.Offer(&LSA{Origin: id(7), Seq: 1}, t0.Add(10*time.Second), nil)
	// 7 is new and not yet marked reachable: it counts as unreachable
	// since it came.
	n, next := db.Expire(t0.Add(20*time.Second), maxAge, hold)
	if n != 0 || !next.Equal(t0.Add(10*time.Second+hold)) {
		t.Fatalf("early: removed %d, next %v", n, next)
	}
	n, next = db.Expire(t0.Add(10*time.Second+hold), maxAge, hold)
	if _, ok := db.Get(id(7)); n != 1 || ok || !next.Equal(t0.Add(maxAge)) {
		t.Fatalf("at hold: removed %d, next %v", n, next)
	}
	// 3 becomes unreachable at t0+5m: held a minute more.
	db.Mark(NewGraph(id(1), line(2)), t0.Add(5*time.Minute))
	db.Mark(NewGraph(id(1), line(2)), t0.Add(5*time.Minute+30*time.Second)) // still unreachable: since stays
	if n, next = db.Expire(t0.Add(5*time.Minute+hold-1), maxAge, hold); n != 0 || !next.Equal(t0.Add(5*time.Minute+hold)) {
		t.Fatalf("before hold: removed %d, next %v", n, next)
	}
	if n, _ = db.Expire(t0.Add(5*time.Minute+hold), maxAge, hold); n != 1 {
		t.Fatalf("at hold: removed %d", n)
	}
	// 2 refreshed at t0+10m lives to t0+10m+maxAge; self never goes.
	db.Offer(&LSA{Origin: id(2), Seq: 2, N: 1, Links: [MaxLinks]Link{{packet.WT, id(1)}}}, t0.Add(10*time.Minute), nil)
	if n, next = db.Expire(t0.Add(maxAge), maxAge, hold); n != 0 || !next.Equal(t0.Add(10*time.Minute+maxAge)) {
		t.Fatalf("refreshed: removed %d, next %v", n, next)
	}
	if n, next = db.Expire(t0.Add(1000*time.Hour), maxAge, hold); n != 1 || !next.IsZero() || db.Len() != 1 {
		t.Fatalf("much later: removed %d, next %v, %d left", n, next, db.Len())
	}
	if _, ok := db.Get(id(1)); !ok {
		t.Fatalf("self expired")
	}
}

// A hostile neighbour inventing tiles behind it, more than the table
// holds, cannot push out an honest tile nearer than them.
func TestFullKeepsHonestTiles(t *testing.T) {
	grid := newTestGrid(t, 4, 4)
	self := tileAt(xy{0, 0})
	db := NewDB(self, 20)
	for _, l := range grid.lsas {
		if l.Origin == self {
			db.Originate(l, t0)
		} else {
			db.Offer(l, t0, nil)
		}
	}
	g := NewGraph(self, db.All())
	db.Mark(g, t0)
	// The far corner (3,3) is hostile: it invents a chain of tiles that
	// list each other back; each one is offered after the graph is
	// recomputed, as the service does.
	hostile := *grid.at[xy{3, 3}]
	now := t0
	prev := &hostile
	for i := range 50 {
		f := &LSA{Origin: p2p.TileID{0xfa, byte(i), 0, 0, 0, 0, 0, 1}, Seq: 1}
		f.Links[0] = Link{packet.WT, prev.Origin}
		f.N = 1
		nl := *prev
		nl.Seq++
		nl.Links[nl.N] = Link{packet.ET, f.Origin}
		nl.N++
		now = now.Add(time.Second)
		db.Offer(&nl, now, g)
		db.Offer(f, now, g)
		g = NewGraph(self, db.All())
		db.Mark(g, now)
		prev = f
	}
	for _, l := range grid.lsas {
		if _, ok := g.Reachable(l.Origin); !ok {
			t.Errorf("honest tile %v (%d known) no longer reachable", l.Origin, db.Len())
		}
	}
}
