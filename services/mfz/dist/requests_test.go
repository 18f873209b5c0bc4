package dist

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// entriesOf lists a REQUESTS message's requests, newest first as sent.
func entriesOf(m *requestsMsg) (out []requestMsg) {
	m.entries(func(_ uint16, r requestMsg) { out = append(out, r) })
	slices.Reverse(out)
	return out
}

// The asker numbers its requests one by one and repeats the last three
// sent within maxAge, newest first; none when told none, and none sent
// before a timeout.
func TestRequestLogRepeats(t *testing.T) {
	r := func(b uint16) requestMsg { return requestMsg{handle: 1, block: b, chunk: 0, count: 17} }
	at := time.Unix(1000, 0)
	ms := time.Millisecond
	var g requestLog
	for _, c := range []struct {
		block   uint16
		repeats int
		after   time.Duration
		want    []uint16 // blocks carried, newest first
		seq     uint16
	}{
		{1, 3, 0, []uint16{1}, 1},
		{2, 3, 10 * ms, []uint16{2, 1}, 2},
		{3, 0, 10 * ms, []uint16{3}, 3}, // a lossless link: no repeats
		{4, 3, 10 * ms, []uint16{4, 3, 2, 1}, 4},
		{5, 3, 10 * ms, []uint16{5, 4, 3, 2}, 5},
		{6, 1, 10 * ms, []uint16{6, 5}, 6},
		{7, 3, 250 * ms, []uint16{7}, 7}, // the rest too old
		{8, 3, 150 * ms, []uint16{8, 7}, 8},
		{0, 0, 0, nil, 0}, // a timeout: forget
		{9, 3, 10 * ms, []uint16{9}, 9},
		{10, 3, 10 * ms, []uint16{10, 9}, 10},
	} {
		if c.block == 0 {
			g.forget()
			continue
		}
		at = at.Add(c.after)
		b := g.next(nil, r(c.block), c.repeats, 200*ms, at)
		m, err := parseMessage(b)
		if err != nil || m.typ != msgRequests {
			t.Fatalf("block %d: parse %v, type %d", c.block, err, m.typ)
		}
		var got []uint16
		for _, e := range entriesOf(&m.requests) {
			got = append(got, e.block)
		}
		if m.requests.seq != c.seq || !slices.Equal(got, c.want) {
			t.Errorf("block %d: seq %d carrying %v, want seq %d carrying %v", c.block, m.requests.seq, got, c.seq, c.want)
		}
	}
}

// Each neighbour's numbers start at a random one (the loop's seeded
// generator here), so a tile that restarts with its SYNC lost does not
// begin among the numbers its neighbour took last.
func TestRequestNumbersStartAtRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	seen := map[uint16]bool{}
	for range 8 {
		g := newRequestLog(rng)
		seen[g.seq] = true
	}
	if len(seen) < 7 {
		t.Fatalf("eight logs started at %d distinct numbers: %v", len(seen), seen)
	}
}

// The server takes each number once: newer than the last taken, in the
// half of the number space ahead of it, across the wrap.
func TestRequestSeenTakesEachOnce(t *testing.T) {
	var s requestSeen
	for _, c := range []struct {
		seq  uint16
		want bool
	}{
		{7, true}, {7, false}, {6, false}, {8, true}, {10, true}, {9, false},
		{10 + 32767, true}, {10, false}, // just under half the space on: newer, and 10 now behind
		{65535, true}, {32768, false}, {11, true}, // across the wrap

	} {
		if got := s.take(c.seq); got != c.want {
			t.Fatalf("take(%d) after %d = %v, want %v", c.seq, s.last, got, c.want)
		}
	}
	s = requestSeen{last: 65534, ok: true}
	if !s.take(65535) || !s.take(0) || !s.take(1) || s.take(65535) {
		t.Fatalf("the wrap: %+v", s)
	}
}

// held installs sf as a held file (not pushed here, so not super-seeded).
func (x *harness) held(sf *signedFile) *file {
	x.t.Helper()
	x.install(sf)
	x.l.resync()
	f := x.l.files.byID[sf.id]
	if f == nil || f.receiving() {
		x.t.Fatalf("%s not held: %+v", sf.m.Name, f)
	}
	return f
}

// dataSent lists the (block, chunk) of the DATA in ms.
func dataSent(ms []msg) (out [][2]int) {
	for _, m := range ms {
		if m.typ == msgData {
			out = append(out, [2]int{int(m.data.block), int(m.data.chunk)})
		}
	}
	return out
}

// A REQUESTS whose packet is lost is served from the repeat in the next
// one, in the order asked; what was taken already is not served again;
// the asker's SYNC starts its numbers afresh.
func TestNumberedRequestsServedOnce(t *testing.T) {
	x := newHarness(t, packet.ET)
	f := x.held(x.pack("a.mfz", 1, 8*1024, 1024))
	x.h.take(t, packet.ET)
	req := func(block, chunk, count int) requestMsg {
		return requestMsg{handle: f.handle, block: uint16(block), chunk: uint16(chunk), count: uint16(count)}
	}
	send := func(seq uint16, rs ...requestMsg) {
		var list []byte
		for _, r := range rs {
			list = appendRequestEntry(list, r)
		}
		m := requestsMsg{seq: seq, list: list}
		x.in(packet.ET, m.append(nil))
		x.turn()
	}
	// 1 is lost; 2 carries it.
	send(2, req(1, 0, 2), req(0, 3, 1))
	if got, want := dataSent(x.h.take(t, packet.ET)), [][2]int{{0, 3}, {1, 0}, {1, 1}}; !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
	send(3, req(2, 0, 1), req(1, 0, 2), req(0, 3, 1))
	if got, want := dataSent(x.h.take(t, packet.ET)), [][2]int{{2, 0}}; !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v: the repeats of what was taken served again", got, want)
	}
	if c := x.l.counters; c.RequestRepeats != 2 || c.RequestsIn != 3 {
		t.Fatalf("repeats %d, requests in %d; want 2, 3", c.RequestRepeats, c.RequestsIn)
	}
	send(3, req(2, 0, 1), req(1, 0, 2)) // the link or the asker sent it twice
	if got := dataSent(x.h.take(t, packet.ET)); len(got) != 0 {
		t.Fatalf("a copy of a packet served again: %v", got)
	}
	x.in(packet.ET, appendSync(nil, 0))
	x.h.take(t, packet.ET)
	send(1, req(3, 1, 1))
	if got, want := dataSent(x.h.take(t, packet.ET)), [][2]int{{3, 1}}; !slices.Equal(got, want) {
		t.Fatalf("after its SYNC: served %v, want %v", got, want)
	}
	// Its numbers went on to 5; then it restarts, its SYNC is lost and
	// so is its packet 1: its packets 2 and 3 are served all the same.
	send(5, req(4, 0, 1))
	send(2, req(5, 0, 1), req(4, 1, 1))
	send(3, req(5, 1, 1), req(5, 0, 1), req(4, 1, 1))
	if got, want := dataSent(x.h.take(t, packet.ET)), [][2]int{{4, 0}, {4, 1}, {5, 0}, {5, 1}}; !slices.Equal(got, want) {
		t.Fatalf("after a restart whose SYNC was lost: served %v, want %v", got, want)
	}
}

// To a neighbour that announces flagRequests the asks are numbered, and
// on a lossy link the guards after a block carry its request again: the
// block's REQUEST lost, a guard brings it. After its SYNC nothing asked
// before is repeated. To one that does not announce the flag, they are
// plain REQUESTs.
func TestLossyLinkRequestsRepeated(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 4096-512, 4096) // 1 block of 15 chunks
	n := x.l.nbrs[packet.ET]
	n.win.lossy = 0.2
	n.win.rtt.SRTT = 10 * time.Millisecond
	x.receiving(sf, packet.ET, 9)
	x.in(packet.ET, appendAnnounce(nil, 9, flagComplete|flagsServed, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	var got [][]requestMsg
	for _, m := range x.h.take(t, packet.ET) {
		switch m.typ {
		case msgRequest:
			t.Fatalf("a plain REQUEST to a neighbour that takes numbered ones")
		case msgRequests:
			got = append(got, entriesOf(&m.requests))
		}
	}
	block := requestMsg{handle: 9, block: 0, chunk: 0, count: 15, short: true}
	guard := requestMsg{handle: 9, block: 0, chunk: 14} // a mark
	want := [][]requestMsg{{block}, {guard, block}, {guard, guard, block}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("sent %+v, want %+v", got, want)
	}

	// Its SYNC drops what we asked of it: the first request after
	// repeats none of that.
	x.in(packet.ET, appendSync(nil, 0))
	x.in(packet.ET, appendAnnounce(nil, 9, flagComplete|flagsServed, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	var after [][]requestMsg
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ == msgRequests {
			after = append(after, entriesOf(&m.requests))
		}
	}
	if !slices.EqualFunc(after, want, slices.Equal) {
		t.Fatalf("after its SYNC: sent %+v, want %+v", after, want)
	}

	y := newHarness(t, packet.ET)
	y.l.nbrs[packet.ET].win.lossy = 0.2
	y.receiving(sf, packet.ET, 9) // announced without flagRequests
	y.turn()
	for _, m := range y.h.take(t, packet.ET) {
		if m.typ == msgRequests {
			t.Fatalf("a REQUESTS to a neighbour that did not say it takes them")
		}
	}
}

// A manifest fetch from a neighbour that takes numbered requests asks in
// a REQUESTS entry of block manifestAsk, and sends the packet twice; the
// sender serves the segments once.
func TestManifestAskNumberedAndSentTwice(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 40000, 1024)
	if segCount(len(sf.signed)) < 3 {
		t.Fatalf("a manifest of %d segments, want 3 or more", segCount(len(sf.signed)))
	}
	x.in(packet.ET, appendAnnounce(nil, 4, flagComplete|flagsServed, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	var asks []msg
	for _, m := range x.h.take(t, packet.ET) {
		switch m.typ {
		case msgGetManifest:
			t.Fatalf("a GET_MANIFEST to a neighbour that takes numbered asks")
		case msgRequests:
			asks = append(asks, m)
		}
	}
	want := []requestMsg{{handle: 4, block: manifestAsk, chunk: 0, count: maxManifestSegs}}
	if len(asks) != 2 || !slices.Equal(entriesOf(&asks[0].requests), want) || asks[1].requests.seq != asks[0].requests.seq ||
		!slices.Equal(asks[1].requests.list, asks[0].requests.list) {
		t.Fatalf("asks %+v, want two copies of %+v", asks, want)
	}

	// The serving side.
	y := newHarness(t, packet.ET)
	f := y.held(sf)
	y.h.take(t, packet.ET)
	ask := requestsMsg{seq: 1, list: appendRequestEntry(nil, requestMsg{handle: f.handle, block: manifestAsk, chunk: 1, count: 2})}
	b := ask.append(nil)
	y.in(packet.ET, b)
	y.turn()
	y.in(packet.ET, b) // the copy, after the segments went
	y.turn()
	if got, want := segmentsSent(y.h.take(t, packet.ET)), []int{1, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("segments sent %v, want %v (the last one twice)", got, want)
	}
}

// FuzzRequests: every REQUESTS body parseRequests takes is written back
// byte for byte, holds 1..maxRequestEntries entries each within its
// bounds, and numbers them seq, seq-1, ... newest first (entries yields
// them oldest first).
func FuzzRequests(f *testing.F) {
	f.Add([]byte{0xFF, 0xFF, 3, 0, 12, 0, 16, 0, 1, 3, 0, 12, 0, 0, 0, 17})
	f.Add([]byte{0, 0, 9, 0xFF, 0xFF, 0x02, 0x20, 0x02, 0x21})
	f.Add([]byte{0, 1, 3, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := parseRequests(p)
		if err != nil {
			return
		}
		if out := m.append(nil); !bytes.Equal(out, seal(append([]byte{msgRequests}, p...))) {
			t.Fatalf("append(parseRequests(% x)) = % x", p, out)
		}
		for e := m.list; len(e) > 0; e = e[requestEntryLen:] {
			if out := appendRequestEntry(nil, entryAt(e)); !bytes.Equal(out, e[:requestEntryLen]) {
				t.Fatalf("appendRequestEntry(entryAt(% x)) = % x", e[:requestEntryLen], out)
			}
		}
		var seqs []uint16
		m.entries(func(seq uint16, r requestMsg) {
			seqs = append(seqs, seq)
			manifest := r.block == manifestAsk && int(r.chunk) < maxManifestSegs && r.count > 0 && int(r.count) <= maxManifestSegs
			// count 0: a mark after chunk r.chunk.
			chunks := r.block < 4096 && int(r.chunk)+max(int(r.count), 1) <= maxChunks
			if r.handle > maxHandle || !manifest && !chunks {
				t.Fatalf("entry %+v out of bounds", r)
			}
		})
		if len(seqs) == 0 || len(seqs) > maxRequestEntries || seqs[len(seqs)-1] != m.seq {
			t.Fatalf("numbers %v of a REQUESTS numbered %d", seqs, m.seq)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("numbers %v not consecutive", seqs)
			}
		}
	})
}

// A mark is answered with an empty DATA in its turn, after what was
// asked before it, whether or not the block is held; a mark past the
// chunks of its block is malformed.
func TestMarkAnsweredInTurn(t *testing.T) {
	x := newHarness(t, packet.ET)
	f := x.held(x.pack("a.mfz", 1, 8*1024, 1024))
	x.h.take(t, packet.ET)
	send := func(seq uint16, r requestMsg) {
		m := requestsMsg{seq: seq, list: appendRequestEntry(nil, r)}
		x.in(packet.ET, m.append(nil))
	}
	send(1, requestMsg{handle: f.handle, block: 1, chunk: 0, count: 2})
	send(2, requestMsg{handle: f.handle, block: 1, chunk: 1}) // the mark
	x.turn()
	var got []string
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ == msgData {
			got = append(got, fmt.Sprintf("%d/%d:%d", m.data.block, m.data.chunk, len(m.data.data)))
		}
	}
	if want := []string{"1/0:245", "1/1:245", "1/1:0"}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	send(3, requestMsg{handle: f.handle, block: 1, chunk: 5}) // block 1 has 5 chunks
	x.turn()
	if got := dataSent(x.h.take(t, packet.ET)); len(got) != 0 || x.l.counters.Malformed != 1 {
		t.Fatalf("a mark past its block's chunks: sent %v, %d malformed", got, x.l.counters.Malformed)
	}
}

// Guards go as marks to a neighbour that answers them, as chunks to one
// that does not say so; a mark's answer shows lost what came not before
// it, and is asked again.
func TestGuardsAsMarks(t *testing.T) {
	sf := newHarness(t, packet.ET).pack("a.mfz", 1, 4096-512, 4096) // 1 block of 15 chunks
	for _, c := range []struct {
		flags byte
		count uint16 // of the guard
		short bool   // the block's entry
	}{{flagsServed, 0, true}, {flagCounted | flagRequests, 1, false}} {
		x := newHarness(t, packet.ET)
		x.receiving(sf, packet.ET, 9)
		x.in(packet.ET, appendAnnounce(nil, 9, flagComplete|c.flags, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
		x.turn()
		var got []requestMsg
		for _, m := range x.h.take(t, packet.ET) {
			if m.typ == msgRequests {
				got = append(got, entriesOf(&m.requests)[0])
			}
		}
		want := []requestMsg{{handle: 9, count: 15, short: c.short}, {handle: 9, chunk: 14, count: c.count}}
		if !slices.Equal(got, want) {
			t.Fatalf("flags %#x: asked %+v, want %+v", c.flags, got, want)
		}
		if c.count != 0 {
			continue
		}
		// Chunks 0..12 come, 13 and 14 are lost, the mark's answer comes.
		for ch := range 13 {
			x.in(packet.ET, appendData(nil, 9, 0, ch, sf.chunk(0, ch)))
		}
		x.in(packet.ET, appendData(nil, 9, 0, 14, nil))
		x.turn()
		got = got[:0]
		for _, m := range x.h.take(t, packet.ET) {
			if m.typ == msgRequests {
				got = append(got, entriesOf(&m.requests)[0])
			}
		}
		if len(got) == 0 || got[0] != (requestMsg{handle: 9, chunk: 13, count: 2, short: true}) || x.l.counters.Lost != 2 {
			t.Fatalf("after the mark's answer: asked %+v, %d lost; want chunks 13+2 asked again", got, x.l.counters.Lost)
		}
	}
}

// TestMarkAnswerAfterItsBlock: on a clean link a mark's answer comes after
// the chunks asked before it, so its block is whole and gone from the
// window when it comes. It is nothing unasked for: counted so, it was 6%
// of the chunks of a 6x6 push of a 96 KiB file in 1 KiB blocks.
func TestMarkAnswerAfterItsBlock(t *testing.T) {
	sf := newHarness(t, packet.ET).pack("a.mfz", 1, 3*1024-100, 1024) // 3 blocks of 5 chunks
	x := newHarness(t, packet.ET)
	x.receiving(sf, packet.ET, 9)
	x.in(packet.ET, appendAnnounce(nil, 9, flagComplete|flagsServed, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	marks := 0
	// Answered in turn, as a sender does: the chunks, or a mark's empty
	// DATA.
	x.answerRequests(t, sf, 9, func(e requestMsg) {
		marks++
		x.in(packet.ET, appendData(nil, 9, int(e.block), int(e.chunk), nil))
	})
	x.turn()
	if marks == 0 {
		t.Fatal("no mark asked")
	}
	if c := x.l.counters; c.Unexpected != 0 || c.Lost != 0 || c.ChunksIn == 0 {
		t.Fatalf("%d marks answered after their blocks: %d unexpected, %d lost, %d chunks in; want 0 and 0", marks, c.Unexpected, c.Lost, c.ChunksIn)
	}
}

// A mark's answer may come after its file is complete: the chunks asked
// before it completed the file, and the answer comes after them. It is
// not "unexpected" either.
func TestMarkAnswerAfterItsFile(t *testing.T) {
	sf := newHarness(t, packet.ET).pack("a.mfz", 1, 3*1024-100, 1024) // 3 blocks of 5 chunks
	x := newHarness(t, packet.ET)
	f := x.receiving(sf, packet.ET, 9)
	x.in(packet.ET, appendAnnounce(nil, 9, flagComplete|flagsServed, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	var marks []requestMsg
	x.answerRequests(t, sf, 9, func(e requestMsg) { marks = append(marks, e) })
	if len(marks) == 0 {
		t.Fatal("no mark asked")
	}
	x.waitDone(f)
	for _, e := range marks {
		x.in(packet.ET, appendData(nil, 9, int(e.block), int(e.chunk), nil))
	}
	if c := x.l.counters; c.Unexpected != 0 {
		t.Fatalf("%d marks answered after their file completed: %d unexpected; want 0", len(marks), c.Unexpected)
	}
}

// answerRequests answers, in turn as a sender does, every chunk asked of
// the neighbour on ET (serving sf under handle hd), and calls mark for
// each mark at its turn.
func (x *harness) answerRequests(t *testing.T, sf *signedFile, hd uint8, mark func(requestMsg)) {
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ != msgRequests {
			continue
		}
		for _, e := range entriesOf(&m.requests) {
			if e.count == 0 {
				mark(e)
				continue
			}
			for ch := int(e.chunk); ch < int(e.chunk+e.count); ch++ {
				x.in(packet.ET, appendData(nil, hd, int(e.block), ch, sf.chunk(int(e.block), ch)))
			}
		}
	}
}
