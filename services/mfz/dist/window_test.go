package dist

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// The request window, in the style of quic-go's received_packet_history
// tests: the pure type driven by scripts, time passed in, no loop, no
// goroutines.

// wop is one step of a window script.
type wop struct {
	op    string // ask, got, mark, marked (a mark's answer), release, timeout
	block int    // index into the script's blocks
	a, b  int    // ask: first, count; got: chunk
	want  arrival
}

// chunkStates draws a block's chunks: N needed, A asked, G got.
func chunkStates(a *asm) string {
	s := make([]byte, a.nch)
	for c := range s {
		s[c] = "NAG"[a.state[c]]
	}
	return string(s)
}

// liveEntries counts the window's outstanding entries of live blocks.
func liveEntries(w *window) int {
	k := 0
	for _, e := range w.out[w.outHead:] {
		if !e.a.dead && !e.mark {
			k++
		}
	}
	return k
}

// checkWindow checks the window's bookkeeping: inflight is the live
// entries of out and the asks per chunk; a chunk is asked iff it has
// live asks, needed only with none.
func checkWindow(t *testing.T, name string, w *window) {
	t.Helper()
	sum := 0
	for _, a := range w.asms {
		if a.dead {
			t.Fatalf("%s: a released block is still in the window", name)
		}
		got := 0
		for c := 0; c < a.nch; c++ {
			sum += int(a.oc[c])
			switch a.state[c] {
			case chNeed:
				if a.oc[c] != 0 {
					t.Fatalf("%s: chunk %d needed with %d asks live", name, c, a.oc[c])
				}
				if c < a.next {
					t.Fatalf("%s: chunk %d needed below next %d", name, c, a.next)
				}
			case chAsked:
				if a.oc[c] == 0 {
					t.Fatalf("%s: chunk %d asked with no ask live", name, c)
				}
			case chGot:
				got++
			}
		}
		if got != a.ngot {
			t.Fatalf("%s: %d chunks got, counted %d", name, got, a.ngot)
		}
	}
	if w.inflight != sum || sum != liveEntries(w) {
		t.Fatalf("%s: inflight %d, asks %d, live entries %d", name, w.inflight, sum, liveEntries(w))
	}
}

func TestWindowScripts(t *testing.T) {
	three := 3 * ChunkLen // a block of 3 whole chunks
	for _, c := range []struct {
		name     string
		blocks   []int // lengths
		script   []wop
		inflight int
		states   []string // per block still in the window, in order
	}{
		{"in order", []int{three}, []wop{
			{op: "ask", a: 0, b: 3},
			{op: "got", a: 0}, {op: "got", a: 1},
			{op: "got", a: 2, want: arrival{done: true}},
		}, 0, []string{"GGG"}},
		{"a gap proves the chunks before it lost", []int{three}, []wop{
			{op: "ask", a: 0, b: 3},
			{op: "got", a: 2, want: arrival{lost: 2}},
		}, 0, []string{"NNG"}},
		{"asked again after a loss", []int{three}, []wop{
			{op: "ask", a: 0, b: 3},
			{op: "got", a: 1, want: arrival{lost: 1}},
			{op: "ask", a: 0, b: 1},
			{op: "got", a: 2},
			{op: "got", a: 0, want: arrival{done: true}},
		}, 0, []string{"GGG"}},
		{"the late original of a lost chunk is taken", []int{three}, []wop{
			{op: "ask", a: 0, b: 3},
			{op: "got", a: 1, want: arrival{lost: 1}},
			{op: "got", a: 0},
		}, 1, []string{"GGA"}},
		{"a duplicate changes nothing", []int{three}, []wop{
			{op: "ask", a: 0, b: 2},
			{op: "got", a: 0},
			{op: "got", a: 0, want: arrival{dup: true}},
		}, 1, []string{"GAN"}},
		{"a probe's duplicate ask dies with its block", []int{2 * ChunkLen}, []wop{
			{op: "ask", a: 0, b: 2},
			{op: "timeout"},
			{op: "ask", a: 0, b: 1}, // the probe
			{op: "got", a: 0},
			{op: "got", a: 1, want: arrival{done: true}},
			{op: "release"},
		}, 0, nil},
		{"losses across blocks", []int{2 * ChunkLen, 2 * ChunkLen}, []wop{
			{op: "ask", block: 0, a: 0, b: 2},
			{op: "ask", block: 1, a: 0, b: 2},
			{op: "got", block: 1, a: 1, want: arrival{lost: 3}},
		}, 0, []string{"NN", "NG"}},
		{"a released block's asks are skipped", []int{three, 2 * ChunkLen}, []wop{
			{op: "ask", block: 0, a: 0, b: 3},
			{op: "ask", block: 1, a: 0, b: 2},
			{op: "release", block: 0},
			{op: "got", block: 1, a: 0},
		}, 1, []string{"GA"}},
		{"a mark's answer proves what was asked before it lost", []int{three}, []wop{
			{op: "ask", a: 0, b: 3},
			{op: "mark", a: 2},
			{op: "got", a: 0},
			{op: "marked", a: 2, want: arrival{lost: 2}},
		}, 0, []string{"GNN"}},
		{"a mark whose answer was lost is passed by later chunks", []int{three, three}, []wop{
			{op: "ask", block: 0, a: 0, b: 3},
			{op: "mark", block: 0, a: 2},
			{op: "ask", block: 1, a: 0, b: 1},
			{op: "got", block: 0, a: 0}, {op: "got", block: 0, a: 1}, {op: "got", block: 0, a: 2, want: arrival{done: true}},
			{op: "got", block: 1, a: 0},
			{op: "marked", block: 1, a: 0}, // answers no mark: nothing changes
		}, 0, []string{"GGG", "GNN"}},
		{"a short last chunk", []int{ChunkLen + 10}, []wop{
			{op: "ask", a: 0, b: 2},
			{op: "got", a: 1, want: arrival{lost: 1}},
			{op: "ask", a: 0, b: 1},
			{op: "got", a: 0, want: arrival{done: true}},
		}, 0, []string{"GG"}},
	} {
		w := newWindow(newRTT(0), time.Unix(0, 0))
		f := &file{}
		var as []*asm
		for i, length := range c.blocks {
			as = append(as, w.add(f, i, length))
		}
		now := time.Unix(100, 0)
		for i, s := range c.script {
			now = now.Add(time.Millisecond)
			a := as[s.block]
			switch s.op {
			case "ask":
				w.asked(a, s.a, s.b, now)
			case "got":
				data := bytes.Repeat([]byte{byte(s.a + 1)}, chunkSize(a.length, s.a))
				if r := w.deliver(a, s.a, data, now); r != s.want {
					t.Fatalf("%s, step %d: chunk %d of block %d: %+v, want %+v", c.name, i, s.a, s.block, r, s.want)
				}
				if !bytes.Equal(a.buf[s.a*ChunkLen:s.a*ChunkLen+len(data)], data) {
					t.Fatalf("%s, step %d: chunk %d not in its place", c.name, i, s.a)
				}
			case "mark":
				w.askedMark(a, s.a)
			case "marked":
				if r := w.deliverMark(a, s.a); r != s.want {
					t.Fatalf("%s, step %d: the answer to a mark after chunk %d of block %d: %+v, want %+v", c.name, i, s.a, s.block, r, s.want)
				}
			case "release":
				w.release(a)
				w.compact()
			case "timeout":
				w.timedOut(now)
			}
			checkWindow(t, c.name, &w)
		}
		if w.inflight != c.inflight {
			t.Errorf("%s: inflight %d, want %d", c.name, w.inflight, c.inflight)
		}
		var states []string
		for _, a := range w.asms {
			states = append(states, chunkStates(a))
		}
		if len(states) != len(c.states) {
			t.Fatalf("%s: blocks %v, want %v", c.name, states, c.states)
		}
		for i := range states {
			if states[i] != c.states[i] {
				t.Errorf("%s: blocks %v, want %v", c.name, states, c.states)
			}
		}
	}
}

// nextRun plans one REQUEST: the first run of needed chunks of the first
// block that has any, at most room long.
func TestWindowNextRun(t *testing.T) {
	w := newWindow(newRTT(0), time.Unix(0, 0))
	f := &file{}
	a := w.add(f, 0, 5*ChunkLen)
	b := w.add(f, 1, 2*ChunkLen)
	now := time.Unix(1, 0)
	for i, c := range []struct {
		room         int
		block        *asm
		first, count int
	}{
		{3, a, 0, 3},
		{3, a, 3, 2}, // the rest of a, not into b
		{9, b, 0, 2},
		{9, nil, 0, 0},
	} {
		x, first, cnt := w.nextRun(c.room)
		if x != c.block || first != c.first || cnt != c.count {
			t.Fatalf("step %d: run %v %d+%d, want %v %d+%d", i, x != nil, first, cnt, c.block != nil, c.first, c.count)
		}
		if x != nil {
			w.asked(x, first, cnt, now)
		}
	}
	// Chunk 1 of a comes first: chunk 0 was lost, and is the next run.
	w.deliver(a, 1, make([]byte, ChunkLen), now)
	if x, first, cnt := w.nextRun(9); x != a || first != 0 || cnt != 1 {
		t.Fatalf("after a loss: run %d+%d", first, cnt)
	}
}

func TestWindowRoom(t *testing.T) {
	for _, c := range []struct {
		inflight  int
		stalled   bool
		size, min int
		room      int
	}{
		{0, false, 96, 8, 96},
		{90, false, 96, 8, 0},  // 6 fit: fewer than a batch beside chunks in flight
		{88, false, 96, 8, 8},  // a batch fits
		{96, false, 96, 8, 0},  // full
		{100, false, 96, 8, 0}, // over (the window shrank)
		{0, false, 4, 8, 4},    // an empty pipe takes what fits
		{10, true, 96, 8, 0},   // stalled with chunks outstanding
		{0, true, 96, 8, 96},   // stalled and empty: a fresh pipe
	} {
		w := window{inflight: c.inflight, stalled: c.stalled}
		if got := w.room(c.size, c.min); got != c.room {
			t.Errorf("inflight %d stalled %v window %d batch %d: room %d, want %d", c.inflight, c.stalled, c.size, c.min, got, c.room)
		}
	}
}

// The silence timer: it fires after the timeout with chunks outstanding,
// doubles per timeout in a row, and an answer to something asked resets
// it and takes an RTT sample (one per fresh pipe).
func TestWindowSilence(t *testing.T) {
	tu := defaultTuning // minRTO 150 ms, maxRTO 4 s
	w := newWindow(newRTT(100*time.Millisecond), time.Unix(0, 0))
	f := &file{}
	a := w.add(f, 0, 4*ChunkLen)
	t0 := time.Unix(100, 0)
	if w.silent(t0.Add(time.Hour), &tu) {
		t.Fatal("silent with nothing asked")
	}
	w.asked(a, 0, 4, t0)
	rto := w.rto(&tu)
	if rto != 400*time.Millisecond { // 2 x 100 + 4 x 50
		t.Fatalf("rto %v, want 400ms", rto)
	}
	for i, c := range []struct {
		at       time.Duration
		op       string // check, timeout, got
		chunk    int
		silent   bool
		backoff  uint
		stalled  bool
		rtoAfter time.Duration
	}{
		{at: 399 * time.Millisecond, op: "check", rtoAfter: 400 * time.Millisecond},
		{at: 400 * time.Millisecond, op: "check", silent: true, rtoAfter: 400 * time.Millisecond},
		{at: 400 * time.Millisecond, op: "timeout", backoff: 1, stalled: true, rtoAfter: 800 * time.Millisecond},
		{at: 1199 * time.Millisecond, op: "check", backoff: 1, stalled: true, rtoAfter: 800 * time.Millisecond},
		{at: 1200 * time.Millisecond, op: "check", silent: true, backoff: 1, stalled: true, rtoAfter: 800 * time.Millisecond},
		{at: 1200 * time.Millisecond, op: "timeout", backoff: 2, stalled: true, rtoAfter: 1600 * time.Millisecond},
		{at: 1300 * time.Millisecond, op: "timeout", backoff: 3, stalled: true, rtoAfter: 3200 * time.Millisecond},
		{at: 1400 * time.Millisecond, op: "timeout", backoff: 4, stalled: true, rtoAfter: 4 * time.Second},
		{at: 1500 * time.Millisecond, op: "timeout", backoff: 5, stalled: true, rtoAfter: 4 * time.Second},
		// The timeout dropped the pending sample: this answer resets the
		// timer but is no sample (it may answer a request of long ago).
		{at: 1600 * time.Millisecond, op: "got", chunk: 0, rtoAfter: 400 * time.Millisecond},
	} {
		now := t0.Add(c.at)
		switch c.op {
		case "check":
			if got := w.silent(now, &tu); got != c.silent {
				t.Fatalf("step %d: silent %v at %v, want %v", i, got, c.at, c.silent)
			}
		case "timeout":
			if got := w.timedOut(now); got != c.backoff {
				t.Fatalf("step %d: %d timeouts in a row, want %d", i, got, c.backoff)
			}
		case "got":
			w.deliver(a, c.chunk, make([]byte, ChunkLen), now)
		}
		if w.backoff != c.backoff || w.stalled != c.stalled || w.rto(&tu) != c.rtoAfter {
			t.Fatalf("step %d (%s at %v): backoff %d stalled %v rto %v; want %d %v %v", i, c.op, c.at,
				w.backoff, w.stalled, w.rto(&tu), c.backoff, c.stalled, c.rtoAfter)
		}
	}
	if w.rtt.SRTT != 100*time.Millisecond || w.timeouts != 5 {
		t.Fatalf("srtt %v after no sample, %d timeouts", w.rtt.SRTT, w.timeouts)
	}
	// A fresh pipe: the request is timed and its first answer sampled.
	w.deliver(a, 1, make([]byte, ChunkLen), t0)
	w.deliver(a, 2, make([]byte, ChunkLen), t0)
	w.deliver(a, 3, make([]byte, ChunkLen), t0)
	b := w.add(f, 1, ChunkLen)
	t1 := t0.Add(time.Minute)
	w.asked(b, 0, 1, t1)
	w.deliver(b, 0, make([]byte, ChunkLen), t1.Add(500*time.Millisecond))
	if want := 100*time.Millisecond + 400*time.Millisecond/8; w.rtt.SRTT != want {
		t.Fatalf("srtt %v after a 500ms sample, want %v", w.rtt.SRTT, want)
	}
}

// Probes visit the oldest chunks still asked, skipping dead blocks, got
// chunks and chunks asked maxAsks times, at most k, and stop when asked.
func TestWindowProbes(t *testing.T) {
	w := newWindow(newRTT(0), time.Unix(0, 0))
	f := &file{}
	dead := w.add(f, 0, 2*ChunkLen)
	a := w.add(f, 1, 6*ChunkLen)
	now := time.Unix(1, 0)
	w.asked(dead, 0, 2, now)
	w.asked(a, 0, 6, now)
	w.release(dead)
	a.state[1], a.ngot = chGot, 1 // came by a path that left its entry
	a.oc[2] = maxAsks
	type visit struct{ block, chunk int }
	for _, c := range []struct {
		k     int
		stop  int // ask returns false at this visit (-1: never)
		visit []visit
	}{
		{4, -1, []visit{{1, 0}, {1, 3}, {1, 4}, {1, 5}}},
		{2, -1, []visit{{1, 0}, {1, 3}}},
		{9, 1, []visit{{1, 0}, {1, 3}}},
		{0, -1, nil},
	} {
		var got []visit
		w.probes(c.k, func(x *asm, ch int) bool {
			got = append(got, visit{x.block, ch})
			return len(got)-1 != c.stop
		})
		if len(got) != len(c.visit) {
			t.Fatalf("k %d stop %d: visited %v, want %v", c.k, c.stop, got, c.visit)
		}
		for i := range got {
			if got[i] != c.visit[i] {
				t.Fatalf("k %d stop %d: visited %v, want %v", c.k, c.stop, got, c.visit)
			}
		}
	}
	// A probe that asks again is not visited again in the same pass.
	n := 0
	w.probes(100, func(x *asm, ch int) bool {
		w.asked(x, ch, 1, now)
		n++
		return true
	})
	if n != 4 {
		t.Fatalf("a pass that asks visited %d chunks, want 4", n)
	}
}

func TestRTTEstimator(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		hello        time.Duration
		samples      []time.Duration
		srtt, rttvar time.Duration
		backoff      uint
		rto          time.Duration // with minRTO 150 ms, maxRTO 4 s
	}{
		{0, nil, 50 * ms, 25 * ms, 0, 200 * ms},
		{0, nil, 50 * ms, 25 * ms, 1, 400 * ms},
		{10 * ms, nil, 10 * ms, 5 * ms, 0, 150 * ms}, // the floor
		{10 * ms, nil, 10 * ms, 5 * ms, 2, 600 * ms}, // the floor, doubled
		{time.Second, nil, time.Second, 500 * ms, 0, 4 * time.Second},
		{100 * ms, []time.Duration{100 * ms}, 100 * ms, 37500 * time.Microsecond, 0, 350 * ms},
		{100 * ms, []time.Duration{900 * ms}, 200 * ms, 237500 * time.Microsecond, 0, 1350 * ms},
		{100 * ms, []time.Duration{0}, 87500 * time.Microsecond, 62500 * time.Microsecond, 9, 4 * time.Second},
		{50 * ms, nil, 50 * ms, 25 * ms, 4, 3200 * ms},
		{50 * ms, nil, 50 * ms, 25 * ms, 30, 3200 * ms}, // the doubling stops at 16 times
	} {
		r := newRTT(c.hello)
		for _, s := range c.samples {
			r.Sample(s)
		}
		if r.SRTT != c.srtt || r.RTTVar != c.rttvar {
			t.Errorf("hello %v samples %v: srtt %v rttvar %v, want %v %v", c.hello, c.samples, r.SRTT, r.RTTVar, c.srtt, c.rttvar)
		}
		if got := r.RTO(c.backoff, 150*ms, 4*time.Second); got != c.rto {
			t.Errorf("hello %v samples %v backoff %d: rto %v, want %v", c.hello, c.samples, c.backoff, got, c.rto)
		}
	}
}

// Random asks, arrivals (in order, lost, duplicated), releases, timeouts
// and probes keep the window's bookkeeping exact.
func TestWindowRandom(t *testing.T) {
	tu := defaultTuning
	for seed := int64(1); seed <= 50; seed++ {
		r := rand.New(rand.NewSource(seed))
		w := newWindow(newRTT(0), time.Unix(0, 0))
		f := &file{}
		now := time.Unix(100, 0)
		var sent []pend // what the link carries, in order
		for step := 0; step < 2000; step++ {
			now = now.Add(time.Duration(r.Intn(20)) * time.Millisecond)
			switch k := r.Intn(10); {
			case k < 3 || len(w.asms) == 0:
				if len(w.asms) < 4 {
					w.add(f, step, 1+r.Intn(8*ChunkLen))
				}
				if room := w.room(tu.window, tu.minBatch); room > 0 {
					if a, first, cnt := w.nextRun(room); a != nil {
						w.asked(a, first, cnt, now)
						for c := first; c < first+cnt; c++ {
							sent = append(sent, pend{a: a, c: c})
						}
						if r.Intn(3) == 0 { // a guard's mark
							w.askedMark(a, first+cnt-1)
							sent = append(sent, pend{a: a, c: first + cnt - 1, mark: true})
						}
					}
				}
			case k < 7 && len(sent) > 0:
				e := sent[0]
				sent = sent[1:]
				if r.Intn(5) == 0 || e.a.dead {
					continue // lost on the link, or its block is gone
				}
				if e.mark {
					w.deliverMark(e.a, e.c)
					continue
				}
				res := w.deliver(e.a, e.c, make([]byte, chunkSize(e.a.length, e.c)), now)
				if r.Intn(8) == 0 {
					w.deliver(e.a, e.c, make([]byte, chunkSize(e.a.length, e.c)), now) // the link duplicated it
				}
				if res.done {
					w.release(e.a)
					w.compact()
				}
			case k < 8:
				a := w.asms[r.Intn(len(w.asms))]
				w.release(a)
				w.compact()
			default:
				if w.silent(now, &tu) || r.Intn(4) == 0 {
					w.timedOut(now)
					w.probes(4, func(a *asm, c int) bool {
						w.asked(a, c, 1, now)
						sent = append(sent, pend{a: a, c: c})
						return true
					})
				}
			}
			checkWindow(t, "random", &w)
			if w.inflight < 0 || len(w.out)-w.outHead > 4*tu.window+64 {
				t.Fatalf("seed %d step %d: inflight %d, %d entries", seed, step, w.inflight, len(w.out)-w.outHead)
			}
		}
	}
}

func TestWindowGuards(t *testing.T) {
	cases := []struct {
		drained, shallow, marks bool
		lossy                   float64
		want                    int
	}{
		{false, false, false, 0.3, 0}, // more is coming after it: its arrival shows a loss
		{false, false, true, 0.3, 0},
		{true, false, false, 0, 1},
		{true, false, true, 0, 1},
		{false, true, false, 0, 0},
		{false, true, true, 0, 1}, // a block into an empty pipe: a mark even with no loss seen
		{false, true, true, 0.005, 1},
		{true, true, false, 0.005, 1},
		{false, true, false, 0.01, 1},
		{false, true, true, 0.01, 2}, // marks cost next to nothing
		{true, false, false, 0.05, 1},
		{true, false, true, 0.05, 2},
		{false, true, false, 0.1, 2},
		{true, true, false, 0.4, 2},
		{true, true, true, 0.4, 2},
	}
	for _, c := range cases {
		w := window{lossy: c.lossy}
		if got := w.guards(c.drained, c.shallow, c.marks); got != c.want {
			t.Errorf("guards(drained %v, shallow %v, marks %v) at loss %.3f = %d, want %d", c.drained, c.shallow, c.marks, c.lossy, got, c.want)
		}
	}
}

// A neighbour that answers marks and never a chunk is silent: asking
// again what a mark showed lost does not restart the timer, so it times
// out as one that answers nothing does.
func TestMarksAloneAreNoProgress(t *testing.T) {
	tu := defaultTuning
	w := newWindow(newRTT(0), time.Unix(0, 0))
	a := w.add(&file{}, 0, 3*ChunkLen)
	now := time.Unix(100, 0)
	w.asked(a, 0, 3, now)
	w.askedMark(a, 2)
	start := now
	for !w.silent(now, &tu) {
		if now.Sub(start) > 10*w.rto(&tu) {
			t.Fatalf("not silent %v after the last chunk, with only marks answered", now.Sub(start))
		}
		now = now.Add(10 * time.Millisecond)
		if r := w.deliverMark(a, 2); r.lost != 3 {
			t.Fatalf("the mark's answer showed %d lost, want 3", r.lost)
		}
		first, cnt := 0, 3
		if x, f, k := w.nextRun(3); x == a {
			first, cnt = f, k
		}
		w.asked(a, first, cnt, now) // asked again
		w.askedMark(a, 2)
	}
	if got := now.Sub(start); got < w.rto(&tu) {
		t.Fatalf("silent after %v, before the timeout %v", got, w.rto(&tu))
	}
	// A chunk that comes is progress again, and a pipe emptied by it is
	// fresh.
	w.timedOut(now)
	w.deliver(a, 0, make([]byte, ChunkLen), now)
	if w.markEmptied || w.stalled {
		t.Fatal("a chunk's arrival left the window marked emptied or stalled")
	}
}
