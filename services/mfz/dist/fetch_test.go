package dist

import (
	"slices"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// The fetch tokens: a burst of t.mfBurst, then one per t.mfRefill, and
// one back for each manifest served.
func TestTokenBucket(t *testing.T) {
	tu := defaultTuning
	tu.mfBurst, tu.mfRefill = 3, time.Second
	t0 := time.Unix(1000, 0)
	type step struct {
		at   time.Duration
		op   string // take, give
		ok   bool   // take: there was a token
		left int
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"a burst, then one per refill", []step{
			{0, "take", true, 2}, {0, "take", true, 1}, {0, "take", true, 0},
			{999 * time.Millisecond, "take", false, 0},
			{time.Second, "take", true, 0},
			{1500 * time.Millisecond, "take", false, 0},
			{2 * time.Second, "take", true, 0},
		}},
		{"refills add up to the burst, no more", []step{
			{0, "take", true, 2}, {0, "take", true, 1}, {0, "take", true, 0},
			{time.Hour, "take", true, 2},
			{time.Hour, "take", true, 1},
		}},
		{"a full bucket starts the refill clock at its first take", []step{
			{time.Minute, "take", true, 2},
			{time.Minute + 999*time.Millisecond, "take", true, 1},
			{time.Minute + time.Second, "take", true, 1}, // one came back at +1 s
		}},
		{"served manifests give tokens back, up to the burst", []step{
			{0, "take", true, 2}, {0, "take", true, 1}, {0, "take", true, 0},
			{0, "give", false, 1}, {0, "give", false, 2}, {0, "give", false, 3}, {0, "give", false, 3},
			{0, "take", true, 2},
		}},
	} {
		b := newTokenBucket(&tu)
		for i, s := range c.steps {
			switch s.op {
			case "take":
				if got := b.take(t0.Add(s.at), &tu); got != s.ok {
					t.Fatalf("%s, step %d: take at %v = %v, want %v", c.name, i, s.at, got, s.ok)
				}
			case "give":
				b.give(&tu)
			}
			if b.n != s.left {
				t.Fatalf("%s, step %d: %d tokens left, want %d", c.name, i, b.n, s.left)
			}
		}
	}
}

// Segments of a manifest fetch: in order they fill it; a gap asks again
// once; stale and inconsistent ones change nothing; the first fixes the
// deadline from the size.
func TestManifestSegments(t *testing.T) {
	tu := defaultTuning // mfFloor 10 s, mfRate 4096 B/s
	t0 := time.Unix(1000, 0)
	seg := func(off, total, n int) *manifestMsg {
		d := make([]byte, n)
		for i := range d {
			d[i] = byte(off + i)
		}
		return &manifestMsg{offset: uint32(off), total: uint32(total), data: d}
	}
	type step struct {
		m      *manifestMsg
		result segResult
		got    int
		asks   []segRange // on segGap: the asks for the segments passed
	}
	for _, c := range []struct {
		name     string
		steps    []step
		deadline time.Duration
	}{
		{"in order", []step{
			{seg(0, 500, 241), segMore, 241, nil},
			{seg(241, 500, 241), segMore, 482, nil},
			{seg(482, 500, 18), segComplete, 500, nil},
		}, 10*time.Second + 500*time.Second/4096},
		{"a gap asks once and keeps what came after it", []step{
			{seg(0, 8192, 241), segMore, 241, nil},
			{seg(482, 8192, 241), segGap, 241, []segRange{{1, 1}}},
			{seg(723, 8192, 241), segMore, 241, nil}, // the same gap, asked about already; kept
			{seg(482, 8192, 241), segIgnored, 241, nil},
			{seg(241, 8192, 241), segMore, 964, nil},                // the gap filled: 482 and 723 were kept
			{seg(1205, 8192, 241), segGap, 964, []segRange{{4, 1}}}, // a new gap
			{seg(1446, 8192, 241), segMore, 964, nil},
			{seg(964, 8192, 241), segMore, 1687, nil},
		}, 12 * time.Second},
		{"a gap asks for exactly the segments passed", []step{
			{seg(0, 8192, 241), segMore, 241, nil},
			{seg(482, 8192, 241), segGap, 241, []segRange{{1, 1}}},
			{seg(1205, 8192, 241), segGap, 241, []segRange{{3, 2}}}, // 1 asked already, 2 held
			{seg(1446, 8192, 241), segMore, 241, nil},
		}, 12 * time.Second},
		{"the last segment completes out of order", []step{
			{seg(241, 500, 241), segGap, 0, []segRange{{0, 1}}},
			{seg(482, 500, 18), segMore, 0, nil},
			{seg(0, 500, 241), segComplete, 500, nil},
		}, 10*time.Second + 500*time.Second/4096},
		{"a segment off the slots is ignored", []step{
			{seg(0, 500, 241), segMore, 241, nil},
			{seg(240, 500, 241), segIgnored, 241, nil},
			{seg(241, 500, 100), segIgnored, 241, nil},
		}, 10*time.Second + 500*time.Second/4096},
		{"an old answer is ignored", []step{
			{seg(0, 500, 241), segMore, 241, nil},
			{seg(0, 500, 241), segIgnored, 241, nil},
		}, 10*time.Second + 500*time.Second/4096},
		{"another total is malformed", []step{
			{seg(0, 500, 241), segMore, 241, nil},
			{seg(241, 501, 241), segMalformed, 241, nil},
		}, 10*time.Second + 500*time.Second/4096},
	} {
		rf := &rfile{id: fileID{1}, name: "a.mfz", version: 3, counted: true}
		mf := newFetch(rf, packet.ET, t0, &tu)
		if mf.deadline != t0.Add(tu.mfFloor) {
			t.Fatalf("%s: a fresh fetch's deadline is %v after its start", c.name, mf.deadline.Sub(t0))
		}
		mf.asking(t0)
		for i, s := range c.steps {
			now := t0.Add(time.Duration(i+1) * time.Second)
			r := s.m.offset
			res := mf.segment(s.m, now, &tu)
			if res != s.result || mf.got != s.got {
				t.Fatalf("%s, step %d (offset %d): %v with %d bytes, want %v with %d", c.name, i, r, res, mf.got, s.result, s.got)
			}
			if res == segGap && !slices.Equal(mf.asks, s.asks) {
				t.Fatalf("%s, step %d: asks %v, want %v", c.name, i, mf.asks, s.asks)
			}
			if (res == segMore || res == segComplete) && (mf.askedAt != now || mf.tries != 0) {
				t.Fatalf("%s, step %d: progress did not reset the silence timer", c.name, i)
			}
		}
		for i := 0; i < mf.got; i++ {
			if mf.buf[i] != byte(i) {
				t.Fatalf("%s: byte %d of the manifest is %d", c.name, i, mf.buf[i])
			}
		}
		if mf.deadline.Sub(t0) != c.deadline {
			t.Errorf("%s: deadline %v after the start, want %v", c.name, mf.deadline.Sub(t0), c.deadline)
		}
	}
}

// What a fetch asks first and after a silence: from the start to the end
// while the size is unknown; then exactly the missing segments, tail
// included, at most maxGapAsks asks; after two silences in a row, from
// the first missing one to the end (the form every sender serves).
func TestManifestFetchAsks(t *testing.T) {
	tu := defaultTuning
	t0 := time.Unix(1000, 0)
	mf := newFetch(&rfile{id: fileID{1}, counted: true}, packet.ET, t0, &tu)
	if got := mf.asking(t0); !slices.Equal(got, []segRange{{0, 0}}) {
		t.Fatalf("first ask %v", got)
	}
	total := 20 * manifestSeg // 20 segments
	for _, s := range []int{0, 1, 3, 4, 7} {
		mf.segment(&manifestMsg{offset: uint32(s * manifestSeg), total: uint32(total), data: make([]byte, manifestSeg)}, t0, &tu)
	}
	mf.tries = 1
	if got, want := mf.asking(t0), []segRange{{2, 1}, {5, 2}, {8, 12}}; !slices.Equal(got, want) {
		t.Fatalf("after a silence %v, want %v", got, want)
	}
	mf.tries = 2
	if got := mf.asking(t0); !slices.Equal(got, []segRange{{2, 0}}) {
		t.Fatalf("after two silences %v", got)
	}
	// Every other segment missing: eight asks, the last to the end.
	mf = newFetch(&rfile{id: fileID{1}, counted: true}, packet.ET, t0, &tu)
	mf.asking(t0)
	for s := 0; s < 20; s += 2 {
		mf.segment(&manifestMsg{offset: uint32(s * manifestSeg), total: uint32(total), data: make([]byte, manifestSeg)}, t0, &tu)
	}
	mf.tries = 1
	want := []segRange{{1, 1}, {3, 1}, {5, 1}, {7, 1}, {9, 1}, {11, 1}, {13, 1}, {15, 0}}
	if got := mf.asking(t0); !slices.Equal(got, want) {
		t.Fatalf("many holes: %v, want %v", got, want)
	}
	// A sender that does not serve counted asks (no flagCounted: a tile
	// before them) is asked from the first missing segment to the end,
	// on a gap (once) and after every silence.
	mf = newFetch(&rfile{id: fileID{1}}, packet.ET, t0, &tu)
	mf.asking(t0)
	for _, s := range []int{0, 1, 3} {
		res := mf.segment(&manifestMsg{offset: uint32(s * manifestSeg), total: uint32(total), data: make([]byte, manifestSeg)}, t0, &tu)
		if s == 3 && (res != segGap || !slices.Equal(mf.asks, []segRange{{2, 0}})) {
			t.Fatalf("gap at an old sender: %v %v", res, mf.asks)
		}
	}
	if res := mf.segment(&manifestMsg{offset: uint32(4 * manifestSeg), total: uint32(total), data: make([]byte, manifestSeg)}, t0, &tu); res != segMore {
		t.Fatalf("the same gap asked again at an old sender: %v %v", res, mf.asks)
	}
	mf.tries = 1
	if got := mf.asking(t0); !slices.Equal(got, []segRange{{2, 0}}) {
		t.Fatalf("after a silence at an old sender: %v", got)
	}
}

// A fetch's timers: silences wait the neighbour's timeout doubled per
// silence in a row, five are too many, and the deadline ends it.
func TestManifestFetchDue(t *testing.T) {
	tu := defaultTuning // maxRTO 4 s, mfFloor 10 s
	t0 := time.Unix(1000, 0)
	rto := 200 * time.Millisecond
	mf := newFetch(&rfile{id: fileID{2}}, packet.SE, t0, &tu)
	mf.asking(t0)
	for i, c := range []struct {
		at    time.Duration
		due   fetchDue
		ask   bool // the loop asks again
		tries int
	}{
		{199 * time.Millisecond, dueNothing, false, 0},
		{200 * time.Millisecond, dueAskAgain, true, 1},
		{599 * time.Millisecond, dueNothing, false, 1}, // 400 ms now
		{600 * time.Millisecond, dueAskAgain, true, 2},
		{1400 * time.Millisecond, dueAskAgain, true, 3},   // 800 ms
		{3000 * time.Millisecond, dueAskAgain, true, 4},   // 1.6 s
		{6199 * time.Millisecond, dueNothing, false, 4},   // 3.2 s
		{6200 * time.Millisecond, dueNotServed, false, 5}, // the fifth silence
	} {
		now := t0.Add(c.at)
		if got := mf.due(now, rto, &tu); got != c.due || mf.tries != c.tries {
			t.Fatalf("step %d at %v: %v with %d silences, want %v with %d", i, c.at, got, mf.tries, c.due, c.tries)
		}
		if c.ask {
			mf.asking(now)
		}
	}
	// The deadline comes first, whatever the silence timer says.
	mf = newFetch(&rfile{id: fileID{3}}, packet.SE, t0, &tu)
	mf.asking(t0.Add(tu.mfFloor - time.Millisecond))
	if got := mf.due(t0.Add(tu.mfFloor), rto, &tu); got != dueTooSlow {
		t.Fatalf("at the deadline: %v", got)
	}
	// A large timeout is capped at maxRTO.
	mf = newFetch(&rfile{id: fileID{4}}, packet.SE, t0, &tu)
	mf.asking(t0)
	mf.tries = 3
	if got := mf.due(t0.Add(tu.maxRTO), time.Second, &tu); got != dueAskAgain {
		t.Fatalf("8 s of silence capped at %v: %v", tu.maxRTO, got)
	}
}

// A retargeted fetch keeps its start, deadline and silences, and starts
// its bytes afresh under the new id.
func TestFetchRetarget(t *testing.T) {
	tu := defaultTuning
	t0 := time.Unix(1000, 0)
	ft := fetchTable{}
	mf := newFetch(&rfile{id: fileID{1}, name: "a.mfz", version: 1}, packet.NE, t0, &tu)
	ft[mf.id] = mf
	mf.asking(t0)
	mf.segment(&manifestMsg{offset: 0, total: 400, data: make([]byte, 100)}, t0, &tu)
	mf.tries = 2
	deadline := mf.deadline
	ft.retarget(mf, fileID{2}, 2)
	if ft[fileID{1}] != nil || ft[fileID{2}] != mf || len(ft) != 1 {
		t.Fatalf("table after retarget: %v", ft)
	}
	if mf.version != 2 || mf.got != 0 || mf.buf != nil || mf.total != 0 || mf.held != nil || mf.reasked != nil ||
		mf.started != t0 || mf.deadline != deadline || mf.tries != 2 {
		t.Fatalf("retargeted fetch %+v", mf)
	}
	ft[fileID{3}] = newFetch(&rfile{id: fileID{3}}, packet.SW, t0, &tu)
	ft.dropFrom(packet.NE)
	if len(ft) != 1 || ft[fileID{3}] == nil {
		t.Fatalf("dropFrom NE left %v", ft)
	}
}
