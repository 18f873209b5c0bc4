package tubes

import (
	"reflect"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/rtt"
)

// A tube striped over several paths keeps order on each path only: the
// sender's loss detection, path changes and silence checks go by path.

// stripedSender has sent four 100-byte segments at t0, t0+1ms, ...,
// alternately on the paths given.
func stripedSender(t *testing.T, t0 time.Time, paths ...int) *sender {
	t.Helper()
	s := newSender(1<<20, rtt.New(0))
	s.seg = 100
	s.write(make([]byte, 100*len(paths)))
	for i, p := range paths {
		g, _, ok := s.next(t0.Add(time.Duration(i)*time.Millisecond), p)
		if !ok || g.seq != uint32(100*i) || int(g.path) != p {
			t.Fatalf("segment %d: %+v %v", i, g, ok)
		}
	}
	return &s
}

func lostSeqs(s *sender) []uint32 {
	var out []uint32
	for _, g := range s.segs {
		if g.lost {
			out = append(out, g.seq)
		}
	}
	return out
}

// TestSenderLossByPath: an ACK that holds a later segment of path 0
// finds the earlier path-0 segments lost, never those of path 1 (which
// may simply be slower); one that holds a later path-1 segment finds
// path 1's.
func TestSenderLossByPath(t *testing.T) {
	t0 := time.Unix(10, 0)
	s := stripedSender(t, t0, 0, 1, 0, 1) // seqs 0 100 200 300
	now := t0.Add(50 * time.Millisecond)
	r, ok := s.onAck(0, 0, 1<<20, []span{{200, 300}}, now)
	if !ok || r.lost != 1 || !reflect.DeepEqual(lostSeqs(s), []uint32{0}) {
		t.Fatalf("hold of path 0's second: ok %v, %d lost, lost %v; want only 0", ok, r.lost, lostSeqs(s))
	}
	// The same again changes nothing.
	if r, _ := s.onAck(0, 0, 1<<20, []span{{200, 300}}, now); r.lost != 0 {
		t.Fatalf("a repeat found %d more lost", r.lost)
	}
	r, ok = s.onAck(0, 0, 1<<20, []span{{200, 400}}, now)
	if !ok || r.lost != 1 || !reflect.DeepEqual(lostSeqs(s), []uint32{0, 100}) {
		t.Fatalf("hold of path 1's second: %d lost, lost %v; want 0 and 100", r.lost, lostSeqs(s))
	}
	// The resend of 0 goes on path 1; the hold of a later path-0
	// transmission does not call it lost again.
	g, _, ok := s.next(now, 1)
	if !ok || g.seq != 0 || g.path != 1 {
		t.Fatalf("resend %+v %v", g, ok)
	}
	if r, _ := s.onAck(0, 0, 1<<20, []span{{200, 400}}, now); r.lost != 0 {
		t.Fatalf("the resend on path 1 found lost by path 0's hold")
	}
}

// TestSenderRepath: after a change of paths, segments of a path that
// stays move to its new index; those of a path that is gone are lost
// unless held; ackedXmit follows the paths.
func TestSenderRepath(t *testing.T) {
	t0 := time.Unix(10, 0)
	s := stripedSender(t, t0, 0, 1, 2, 0, 1, 2) // seqs 0..500
	// Path 0's second (seq 300) is held: it went by path 0 but arrived.
	if _, ok := s.onAck(0, 0, 1<<20, []span{{300, 400}}, t0.Add(20*time.Millisecond)); !ok {
		t.Fatal("ack refused")
	}
	if !reflect.DeepEqual(lostSeqs(s), []uint32{0}) {
		t.Fatalf("lost %v before the change", lostSeqs(s))
	}
	acked0 := s.ackedXmit[0]
	// Path 0 is gone; old 1 becomes 0, old 2 becomes 1.
	n := s.repath(func(old int) (int, bool) {
		if old == 0 {
			return 0, false
		}
		return old - 1, true
	})
	if n != 0 {
		t.Fatalf("%d newly lost: path 0's only unheld segment was lost already", n)
	}
	want := map[uint32]struct {
		path       uint8
		lost, held bool
	}{
		0: {0, true, false}, 100: {0, false, false}, 200: {1, false, false},
		300: {0, false, true}, 400: {0, false, false}, 500: {1, false, false},
	}
	for _, g := range s.segs {
		w := want[g.seq]
		if g.lost != w.lost || g.held != w.held || (!w.lost && !w.held && g.path != w.path) {
			t.Errorf("seq %d: path %d lost %v held %v; want %+v", g.seq, g.path, g.lost, g.held, w)
		}
	}
	if s.ackedXmit[0] == acked0 || s.ackedXmit[1] != 0 || s.ackedXmit[2] != 0 {
		t.Errorf("ackedXmit %v: old path 0's %d must be gone", s.ackedXmit, acked0)
	}
	// A change that keeps every path moves indices and loses nothing.
	s2 := stripedSender(t, t0, 0, 1)
	if n := s2.repath(func(old int) (int, bool) { return 1 - old, old < 2 }); n != 0 || s2.segs[0].path != 1 || s2.segs[1].path != 0 {
		t.Fatalf("swap: %d lost, paths %d %d", n, s2.segs[0].path, s2.segs[1].path)
	}
	// A change that drops a path with two unheld segments loses both.
	s3 := stripedSender(t, t0, 0, 1, 0)
	if n := s3.repath(func(old int) (int, bool) { return 0, old == 1 }); n != 2 || !reflect.DeepEqual(lostSeqs(s3), []uint32{0, 200}) {
		t.Fatalf("drop path 0: %d lost, lost %v", n, lostSeqs(s3))
	}
}

// TestSenderSilentPath: the oldest segment outstanding past d names its
// path; before that, nothing is silent but the time is known; held and
// lost segments do not count.
func TestSenderSilentPath(t *testing.T) {
	t0 := time.Unix(10, 0)
	d := 100 * time.Millisecond
	s := stripedSender(t, t0, 1, 0) // seq 0 on path 1 at t0, 100 on path 0 at t0+1ms
	if p, at, ok := s.silentPath(t0.Add(50*time.Millisecond), d); ok || !at.Equal(t0.Add(d)) {
		t.Fatalf("before d: path %d at %v ok %v", p, at, ok)
	}
	if p, at, ok := s.silentPath(t0.Add(d), d); !ok || p != 1 || !at.Equal(t0.Add(d)) {
		t.Fatalf("at d: path %d at %v ok %v; want path 1", p, at, ok)
	}
	// Path 1's segment is held: path 0's is the oldest now.
	s.onAck(0, 0, 1<<20, []span{{0, 100}}, t0.Add(10*time.Millisecond))
	if p, _, ok := s.silentPath(t0.Add(d), d); ok {
		t.Fatalf("path %d silent before its segment waited %v", p, d)
	}
	if p, at, ok := s.silentPath(t0.Add(d+time.Millisecond), d); !ok || p != 0 || !at.Equal(t0.Add(d+time.Millisecond)) {
		t.Fatalf("path %d at %v ok %v; want path 0", p, at, ok)
	}
	// Nothing outstanding: never silent.
	s.onAck(200, 0, 1<<20, nil, t0.Add(20*time.Millisecond))
	if _, at, ok := s.silentPath(t0.Add(time.Hour), d); ok || !at.IsZero() {
		t.Fatalf("nothing outstanding: at %v ok %v", at, ok)
	}
}

// TestSenderStaleAck: ACKs of a striped tube overtake each other; an
// older cumulative ACK after a newer one is accepted as news of the far
// side and changes nothing else: not the window, not what is lost.
func TestSenderStaleAck(t *testing.T) {
	t0 := time.Unix(10, 0)
	s := stripedSender(t, t0, 0, 1, 0, 1)
	now := t0.Add(30 * time.Millisecond)
	if _, ok := s.onAck(200, 150, 5000, nil, now); !ok {
		t.Fatal("the newer ACK refused")
	}
	before := *s
	before.segs = append([]segment(nil), s.segs...)
	later := now.Add(time.Millisecond)
	for _, c := range []struct {
		name             string
		ack, read, limit uint32
		sacks            []span
	}{
		{"older", 100, 100, 1000, nil},
		{"older with a hold", 100, 50, 9000, []span{{300, 400}}},
		{"oldest", 0, 0, 0, nil},
	} {
		r, ok := s.onAck(c.ack, c.read, c.limit, c.sacks, later)
		if !ok || r.lost != 0 || r.progress {
			t.Fatalf("%s: ok %v %+v", c.name, ok, r)
		}
		if s.una != before.una || s.limit != before.limit || s.read != before.read || !reflect.DeepEqual(s.segs, before.segs) || s.ackedXmit != before.ackedXmit {
			t.Fatalf("%s: changed the sender: una %d limit %d read %d segs %+v", c.name, s.una, s.limit, s.read, s.segs)
		}
		if !s.heardAt.Equal(later) {
			t.Fatalf("%s: the far side was heard, heardAt %v", c.name, s.heardAt)
		}
	}
	// An ACK beyond what was sent, or reading beyond its ack, is bad.
	if _, ok := s.onAck(500, 0, 0, nil, later); ok {
		t.Fatal("an ACK past nxt accepted")
	}
	if _, ok := s.onAck(100, 150, 0, nil, later); ok {
		t.Fatal("an older ACK that read past its own ack accepted")
	}
}

// TestSenderRepathGoneTellsNothing: a segment that went by a path that is
// gone keeps no path index, so its late arrival tells nothing of the
// path that took that index: no segment of it is called lost, and its
// window does not grow.
func TestSenderRepathGoneTellsNothing(t *testing.T) {
	t0 := time.Unix(10, 0)
	s := stripedSender(t, t0, 1, 0) // seq 0 on path 1, then seq 100 on path 0
	s.congestionControl()
	// Path 0 is gone; old 1 becomes 0.
	if n := s.repath(func(old int) (int, bool) { return 0, old == 1 }); n != 1 {
		t.Fatalf("%d lost by the change, want 1", n)
	}
	cwnd := s.cwnd
	// What went by the gone path arrived after all.
	r, ok := s.onAck(0, 0, 1<<20, []span{{100, 200}}, t0.Add(20*time.Millisecond))
	if !ok || r.lost != 0 || len(lostSeqs(s)) != 0 {
		t.Fatalf("the gone path's late segment: %d lost, lost %v; want none (seq 0 went earlier by another path)", r.lost, lostSeqs(s))
	}
	if s.cwnd != cwnd {
		t.Fatalf("windows %v, want %v: no path carried it", s.cwnd, cwnd)
	}
}

// TestSenderCutsWhatNoLongerFits: a tube moved to a longer path carries
// less in a segment; a segment sent before, and lost, goes again in
// pieces of the new size, the FIN on the last, and the far side's
// acknowledgement of them all ends the stream.
func TestSenderCutsWhatNoLongerFits(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSender(1<<20, rtt.New(0))
	s.seg = 200
	s.write(make([]byte, 450))
	s.fin = true
	var sent []segment
	for {
		g, _, ok := s.next(now, 0)
		if !ok {
			break
		}
		sent = append(sent, g)
	}
	if len(sent) != 3 || sent[2].n != 50 || !sent[2].fin {
		t.Fatalf("sent %+v", sent)
	}
	// All lost; the path now carries 120 bytes a segment.
	for i := range s.segs {
		s.segs[i].lost = true
	}
	s.seg = 120
	var again []segment
	for {
		g, data, ok := s.next(now, 1)
		if !ok {
			break
		}
		if g.n > 120 || len(data) != g.n {
			t.Fatalf("resent %d bytes (%d of data), more than a segment now holds", g.n, len(data))
		}
		again = append(again, g)
	}
	covered := uint32(0)
	for i, g := range again {
		if g.seq != covered {
			t.Fatalf("resent %+v: a gap or an overlap at %d", again, covered)
		}
		covered += uint32(g.n)
		if g.fin != (i == len(again)-1) {
			t.Errorf("segment %d fin %v", i, g.fin)
		}
	}
	if covered != 450 || len(again) != 5 {
		t.Fatalf("resent %d bytes in %d segments: %+v", covered, len(again), again)
	}
	if _, ok := s.onAck(451, 0, 451+1000, nil, now); !ok || !s.finAcked {
		t.Fatalf("the whole stream and its FIN acknowledged: finAcked %v", s.finAcked)
	}
}

// TestSenderRepathKeepsWindows: a path kept through a change of paths
// keeps its congestion window under its new index; a new path starts
// with the initial window.
func TestSenderRepathKeepsWindows(t *testing.T) {
	s := newSender(1<<20, rtt.New(0))
	s.seg = 100
	s.congestionControl()
	s.cwnd[0], s.cwnd[1] = 500, 7000
	s.slowEnd[0] = true
	// Old path 0 is now index 1; old path 1 is gone.
	s.repath(func(i int) (int, bool) {
		if i == 0 {
			return 1, true
		}
		return 0, false
	})
	if s.cwnd[1] != 500 || !s.slowEnd[1] {
		t.Errorf("kept path: window %d slowEnd %v, want 500 true", s.cwnd[1], s.slowEnd[1])
	}
	for _, j := range []int{0, 2} {
		if s.cwnd[j] != initialCwnd*s.seg || s.slowEnd[j] {
			t.Errorf("new path %d: window %d slowEnd %v, want the initial", j, s.cwnd[j], s.slowEnd[j])
		}
	}
}
