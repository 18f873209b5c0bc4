package dist

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// fakeID is the file id of a version no manifest exists for.
func fakeID(v int64) fileID {
	return fileID{0xFA, 0xCE, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// A neighbour announcing ever-newer fake versions of a name (16k
// announcements) used to get a GET_MANIFEST for each, and was never
// struck: each announcement replaced the fetch of the one before with a
// fresh one, so no fetch ever timed out. A newer announcement now takes
// over the pending fetch (its start, deadline and silences): the GET_MANIFESTs
// go at the pace of the silence timer, and the neighbour is struck and then
// avoided like any neighbour that does not serve what it announces.
func TestAnnouncementFloodBounded(t *testing.T) {
	x := newHarness(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	v := int64(100)
	asks := 0
	struck := time.Duration(-1)
	x.runFor(30*time.Second, func() bool {
		for i := 0; i < 10 && v < 10100; i++ { // 10 000 in the first 10 s
			v++
			x.in(packet.ET, appendAnnounce(nil, 7, flagComplete, v, 1, 1, fakeID(v), "a.mfz"))
		}
		x.turn()
		asks += len(getManifests(x.h.take(t, packet.ET)))
		if struck < 0 && (n.conduct.strikes > 0 || n.avoided(x.l.now)) {
			struck = time.Duration(v-100) * time.Millisecond
		}
		return asks <= 1000
	})
	t.Logf("10 000 announcements: %d GET_MANIFESTs, first strike after %v, avoided %v", asks, struck, n.avoided(x.l.now))
	if asks > 20 {
		t.Fatalf("%d GET_MANIFESTs for 10 000 announcements of versions never served", asks)
	}
	if struck < 0 || struck >= 10*time.Second {
		t.Errorf("not struck while it announced (first strike after %v)", struck)
	}
	if !n.avoided(x.l.now) {
		t.Errorf("not avoided after 30 s of announcing what it does not serve (%d strikes)", n.conduct.strikes)
	}
}

// The same flood with a SYNC before each announcement (which voids the
// fetch asked of it) or a NOTHAVE "gone" after each GET_MANIFEST: fresh
// fetches from one neighbour that never delivers a manifest are rate
// limited too.
func TestAnnouncementFloodWithSyncOrGoneBounded(t *testing.T) {
	for _, how := range []string{"sync", "gone"} {
		x := newHarness(t, packet.ET)
		n := x.l.nbrs[packet.ET]
		v := int64(100)
		asks := 0
		x.runFor(10*time.Second, func() bool {
			for i := 0; i < 10; i++ {
				v++
				if how == "sync" {
					x.in(packet.ET, appendSync(nil, 0))
				}
				x.in(packet.ET, appendAnnounce(nil, 7, flagComplete, v, 1, 1, fakeID(v), "a.mfz"))
				x.turn()
				ms := getManifests(x.h.take(t, packet.ET))
				asks += len(ms)
				if how == "gone" {
					for range ms {
						x.in(packet.ET, appendNotHave(nil, 7, blockGone))
					}
				}
			}
			return asks <= 1000
		})
		t.Logf("%s: 10 000 announcements: %d GET_MANIFESTs, %d strikes, avoided %v", how, asks, n.conduct.strikes, n.avoided(x.l.now))
		if limit := 8 + 5 + 1; asks > limit {
			t.Fatalf("%s: %d GET_MANIFESTs in 10 s for versions never served, limit %d", how, asks, limit)
		}
		if how == "gone" && n.conduct.strikes == 0 && !n.avoided(x.l.now) {
			t.Errorf("gone: taking back every file asked for, for 10 s, earns no strike")
		}
	}
}

// A file a neighbour announced and took back (NOTHAVE "gone") before its
// manifest came, with nothing newer of the name announced, used to strike
// the neighbour each time: an honest one whose file was removed by hand,
// or that gave the handle to another file, was struck for it. One such
// vanish is nobody's fault (the fetch tokens bound what it costs); only
// t.vanishes of them within t.vanishWindow strike.
func TestOneVanishedFileIsNoStrike(t *testing.T) {
	x := newHarness(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	vanish := func(v int64, name string) {
		t.Helper()
		x.in(packet.ET, appendAnnounce(nil, 7, flagComplete, v, 1, 1, fakeID(v), name))
		x.turn()
		if ms := getManifests(x.h.take(t, packet.ET)); len(ms) != 1 {
			t.Fatalf("%s: %d GET_MANIFESTs for its announcement", name, len(ms))
		}
		x.in(packet.ET, appendNotHave(nil, 7, blockGone))
		x.runFor(time.Second, func() bool { return true })
		if len(x.l.fetches) != 0 {
			t.Fatalf("%s: the fetch of a file taken back is kept", name)
		}
	}
	vanish(1, "a.mfz")
	if n.conduct.strikes != 0 {
		t.Fatalf("one file taken back: %d strikes", n.conduct.strikes)
	}
	x.runFor(2*time.Minute, func() bool { return true })
	vanish(2, "b.mfz")
	vanish(3, "c.mfz")
	if n.conduct.strikes != 0 {
		t.Fatalf("one file taken back 2 minutes after another, then one more: %d strikes", n.conduct.strikes)
	}
	vanish(4, "d.mfz") // the third within a minute
	if n.conduct.strikes != 1 {
		t.Fatalf("three files taken back within a minute: %d strikes, want 1", n.conduct.strikes)
	}
}

// A neighbour that serves the manifest but no blocks used to keep the
// blocks it was asked for until it was avoided (8 s for a 300 KB file),
// while another neighbour held them all. Blocks of a neighbour silent past
// its timeout now go to another that holds them and has room, at once.
func TestSilentNeighbourBlocksGoElsewhere(t *testing.T) {
	for _, silent := range []packet.Dir{packet.ET, packet.SE} {
		other := packet.SE
		if silent == packet.SE {
			other = packet.ET
		}
		x := newHarness(t, packet.ET, packet.SE)
		sf := x.pack("a.mfz", 1, 300_000, 8192)
		f := x.receiving(sf, silent, 9)
		x.announceFile(other, 5, sf)
		x.turn()
		took := x.runFor(10*time.Second, func() bool {
			x.h.take(t, silent) // asked, never answered
			x.serveAll(other, 5, sf)
			return f.nhave < f.blocks
		})
		t.Logf("silent %v: %d blocks in %v, %d from the silent one, %d reassigned", silent, f.blocks, took,
			f.sources[silent].Blocks, x.l.counters.Reassigned)
		if f.nhave < f.blocks {
			t.Fatalf("silent %v: %d of %d blocks after 10 s", silent, f.nhave, f.blocks)
		}
		if took > 1500*time.Millisecond {
			t.Errorf("silent %v: the file took %v with another neighbour holding it", silent, took)
		}
		if n := x.l.nbrs[other]; n.conduct.strikes != 0 || n.avoided(x.l.now) {
			t.Errorf("silent %v: the neighbour that served it has %d strikes", silent, n.conduct.strikes)
		}
		x.waitDone(f)
	}
}

// The conduct of one tile, step by step: strikes in a row earn an
// avoidance that doubles each time up to avoidMax, a served block clears
// the strikes but not the doubling.
func TestConductTable(t *testing.T) {
	tu := defaultTuning // strikes 3, avoidFor 30 s, avoidMax 10 min
	t0 := time.Unix(1000, 0)
	type step struct {
		at     time.Duration // after t0
		op     string        // strike, avoid, served
		avoid  bool          // strike: it earns an avoidance
		length time.Duration // avoid: its length
		// after the step
		strikes int
		avoided bool // at the step's time
		next    time.Duration
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"three strikes avoid", []step{
			{at: 0, op: "strike", strikes: 1, next: 30 * time.Second},
			{at: time.Second, op: "strike", strikes: 2, next: 30 * time.Second},
			{at: 2 * time.Second, op: "strike", avoid: true, strikes: 3, next: 30 * time.Second},
			{at: 2 * time.Second, op: "avoid", length: 30 * time.Second, strikes: 0, avoided: true, next: time.Minute},
			{at: 31 * time.Second, op: "strike", strikes: 1, avoided: true, next: time.Minute},
			{at: 32 * time.Second, op: "strike", strikes: 2, avoided: false, next: time.Minute},
		}},
		{"served clears strikes only", []step{
			{at: 0, op: "strike", strikes: 1, next: 30 * time.Second},
			{at: 0, op: "strike", strikes: 2, next: 30 * time.Second},
			{at: 0, op: "served", strikes: 0, next: 30 * time.Second},
			{at: 0, op: "strike", strikes: 1, next: 30 * time.Second},
			{at: 0, op: "avoid", length: 30 * time.Second, avoided: true, next: time.Minute},
			{at: time.Minute, op: "served", avoided: false, next: time.Minute},
		}},
		{"doubling stops at avoidMax", []step{
			{at: 0, op: "avoid", length: 30 * time.Second, avoided: true, next: time.Minute},
			{at: 0, op: "avoid", length: time.Minute, avoided: true, next: 2 * time.Minute},
			{at: 0, op: "avoid", length: 2 * time.Minute, avoided: true, next: 4 * time.Minute},
			{at: 0, op: "avoid", length: 4 * time.Minute, avoided: true, next: 8 * time.Minute},
			{at: 0, op: "avoid", length: 8 * time.Minute, avoided: true, next: 10 * time.Minute},
			{at: 0, op: "avoid", length: 10 * time.Minute, avoided: true, next: 10 * time.Minute},
			{at: 10*time.Minute - 1, op: "served", avoided: true, next: 10 * time.Minute},
			{at: 10 * time.Minute, op: "served", avoided: false, next: 10 * time.Minute},
		}},
	} {
		cd := newConduct(&tu)
		for i, s := range c.steps {
			now := t0.Add(s.at)
			switch s.op {
			case "strike":
				if got := cd.strike(now, &tu); got != s.avoid {
					t.Fatalf("%s, step %d: strike earns an avoidance %v, want %v", c.name, i, got, s.avoid)
				}
			case "avoid":
				if got := cd.avoid(now, &tu); got != s.length {
					t.Fatalf("%s, step %d: avoided for %v, want %v", c.name, i, got, s.length)
				}
			case "served":
				cd.served()
			}
			if cd.strikes != s.strikes || cd.avoided(now) != s.avoided || cd.avoidFor != s.next {
				t.Fatalf("%s, step %d (%s): strikes %d, avoided %v, next %v; want %d, %v, %v", c.name, i, s.op,
					cd.strikes, cd.avoided(now), cd.avoidFor, s.strikes, s.avoided, s.next)
			}
		}
	}
}

// Files taken back: t.vanishes (3) within t.vanishWindow (a minute) is a
// strike, and the count starts again after it.
func TestConductVanish(t *testing.T) {
	tu := defaultTuning
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		name   string
		at     []time.Duration // each vanish, after t0
		strike []bool          // whether each is a strike
	}{
		{"one", []time.Duration{0}, []bool{false}},
		{"three in a minute", []time.Duration{0, 10 * time.Second, 59 * time.Second}, []bool{false, false, true}},
		{"spread out", []time.Duration{0, 40 * time.Second, 80 * time.Second, 120 * time.Second}, []bool{false, false, false, false}},
		{"the first ages out", []time.Duration{0, 30 * time.Second, 60 * time.Second, 61 * time.Second}, []bool{false, false, false, true}},
		{"counting starts again", []time.Duration{0, 1, 2, 3, 4, 5}, []bool{false, false, true, false, false, true}},
	} {
		cd := newConduct(&tu)
		for i, at := range c.at {
			if got := cd.vanish(t0.Add(at), &tu); got != c.strike[i] {
				t.Errorf("%s: vanish %d at %v is a strike: %v, want %v", c.name, i, at, got, c.strike[i])
			}
			if len(cd.vanished) >= tu.vanishes {
				t.Fatalf("%s: %d vanishes kept, fewer than %d expected", c.name, len(cd.vanished), tu.vanishes)
			}
		}
	}
}

// The book keeps the conduct of tiles that went away: only faults, only
// until they expire, at most conductMax tiles (the expired first, then
// the one that expires first), and hands each back once.
func TestConductBook(t *testing.T) {
	tu := defaultTuning
	tu.conductMax = 3
	t0 := time.Unix(1000, 0)
	tile := func(i byte) p2p.TileID { return p2p.TileID{i} }
	struck := func(at time.Duration) conduct {
		c := newConduct(&tu)
		c.strike(t0.Add(at), &tu)
		return c
	}
	avoided := func(at time.Duration) conduct {
		c := newConduct(&tu)
		c.avoid(t0.Add(at), &tu)
		c.vanish(t0.Add(at), &tu)
		return c
	}
	for _, c := range []struct {
		name     string
		remember []conduct // tile i+1 goes away at t0+i ms with remember[i]
		recallAt time.Duration
		want     []byte // tiles recalled then, in order 1..
	}{
		{"clean tiles are not kept", []conduct{newConduct(&tu), newConduct(&tu)}, 0, nil},
		{"faults are kept", []conduct{struck(0), avoided(0)}, time.Minute, []byte{1, 2}},
		{"until they expire", []conduct{struck(0), avoided(0)}, tu.avoidMax, nil},
		{"an avoidance longer than avoidMax is kept to its end",
			[]conduct{func() conduct { c := avoided(0); c.avoidUntil = t0.Add(2 * tu.avoidMax); return c }()},
			tu.avoidMax + time.Minute, []byte{1}},
		{"full: the one that expires first goes", []conduct{struck(3), struck(1), struck(2), struck(4)}, time.Minute, []byte{1, 3, 4}},
		{"full: the expired go first", []conduct{struck(-tu.avoidMax + 2*time.Millisecond), struck(0), struck(0), struck(0)}, time.Second, []byte{2, 3, 4}},
	} {
		b := conductBook{}
		for i, cd := range c.remember {
			b.remember(tile(byte(i+1)), cd, t0.Add(time.Duration(i)*time.Millisecond), &tu)
			if len(b) > tu.conductMax {
				t.Fatalf("%s: %d tiles kept, at most %d", c.name, len(b), tu.conductMax)
			}
		}
		var got []byte
		for i := range c.remember {
			r, ok := b.recall(tile(byte(i+1)), t0.Add(c.recallAt), &tu)
			if !ok {
				continue
			}
			got = append(got, byte(i+1))
			if r.vanished != nil || r.strikes != c.remember[i].strikes || r.avoidUntil != c.remember[i].avoidUntil ||
				r.avoidFor != c.remember[i].avoidFor || r.avoidCount != c.remember[i].avoidCount {
				t.Errorf("%s: tile %d recalled as %+v, went away as %+v", c.name, i+1, r, c.remember[i])
			}
			if _, again := b.recall(tile(byte(i+1)), t0.Add(c.recallAt), &tu); again {
				t.Errorf("%s: tile %d recalled twice", c.name, i+1)
			}
		}
		if string(got) != string(c.want) {
			t.Errorf("%s: recalled tiles %v, want %v", c.name, got, c.want)
		}
	}
}
